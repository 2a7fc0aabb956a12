\set id random(1, 1000)
UPDATE pgbench_reference SET v = v + 1 WHERE id = :id;
