-- Cluster-wide lines (src/admission.rs). `{s}` is the quoted schema, `{name}` the bare one.
--
-- A line is a flow's limit (`flow:NAME`), `limit_all` (`all`) or a resource (`resource:NAME`).
-- Every operation on a line first locks its row in `lines`, so that the operations of every
-- instance on one line happen one after the other: two instances taking the last permit at
-- once are served in turn, and the second finds it taken. The row also counts the line's
-- entries (`held`, `waiting`), kept by every function that adds, grants or deletes one, so
-- that entering a line costs the same however many wait in it.
--
-- An entry belongs to its instance's presence: `holder` is the key of a session-level
-- advisory lock (class 1953328238, 'tmln') that the instance's admission connection holds
-- for as long as it lives. PostgreSQL releases it when that connection ends, the
-- instance's process killed included; from then on the entry is dead, and the next re-check
-- of its line (`line_recheck`, run by every instance that waits in it, periodically) deletes
-- it (`line_reap`), so its permit goes to the next waiter. A line found full is reaped
-- first too, so dead waiters never refuse a newcomer.

CREATE TABLE {s}.lines (
    name     text PRIMARY KEY,
    permits  bigint NOT NULL CHECK (permits > 0),
    capacity bigint NOT NULL CHECK (capacity > 0),
    -- Entries holding a permit, and entries waiting, in `line_entries`.
    held     bigint NOT NULL DEFAULT 0 CHECK (held >= 0),
    waiting  bigint NOT NULL DEFAULT 0 CHECK (waiting >= 0)
);

CREATE TABLE {s}.line_entries (
    line     text NOT NULL REFERENCES {s}.lines (name),
    task     uuid NOT NULL,
    holder   integer NOT NULL,
    priority integer NOT NULL,
    -- Arrival order across the cluster.
    seq      bigint NOT NULL,
    granted  boolean NOT NULL DEFAULT false,
    PRIMARY KEY (line, task)
);

CREATE SEQUENCE {s}.line_arrivals;
CREATE INDEX line_entries_waiting ON {s}.line_entries (line, priority DESC, seq) WHERE NOT granted;
CREATE INDEX line_entries_by_holder ON {s}.line_entries (holder);

-- The NOTIFY channel of an instance's grants, by its presence key.
CREATE FUNCTION {s}.line_channel(holder integer) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT 'tm_line_' || md5('{name}/' || holder) $$;

-- Whether task `p_task`'s ending is decided in the store (a cancel won its record, or it
-- finished): a waiter of such a task will leave its line and never run, so it is never
-- handed a permit, nor does it take a place when the line is full, from the moment the
-- cancel is decided rather than once its instance has made it leave.
CREATE FUNCTION {s}.line_decided(p_task uuid) RETURNS boolean
    LANGUAGE sql STABLE
    AS $$
    SELECT EXISTS (SELECT 1 FROM {s}.tasks t
                    WHERE t.id = p_task AND t.state IN ('cancelling', 'finished'))
$$;

-- Deletes the entries of line `p_line` whose instance's presence lock is gone. The caller
-- holds the line's row lock.
CREATE FUNCTION {s}.line_reap(p_line text) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_held    bigint;
    v_waiting bigint;
BEGIN
    WITH gone AS (
        DELETE FROM {s}.line_entries e
         WHERE e.line = p_line
           AND NOT EXISTS (
               SELECT 1 FROM pg_catalog.pg_locks l
                WHERE l.locktype = 'advisory' AND l.granted
                  AND l.database = (SELECT oid FROM pg_catalog.pg_database
                                     WHERE datname = pg_catalog.current_database())
                  AND l.classid = 1953328238::oid
                  AND l.objid = e.holder::oid
                  AND l.objsubid = 2)
        RETURNING granted)
    SELECT count(*) FILTER (WHERE granted), count(*) FILTER (WHERE NOT granted)
      INTO v_held, v_waiting FROM gone;
    IF v_held + v_waiting > 0 THEN
        UPDATE {s}.lines SET held = held - v_held, waiting = waiting - v_waiting
         WHERE name = p_line;
    END IF;
END
$$;

-- Hands the free permits of line `p_line` to its first waiters (priority, then arrival)
-- whose ending is not decided, and notifies each one's instance. The caller holds the
-- line's row lock.
CREATE FUNCTION {s}.line_grant(p_line text) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_free    bigint;
    v_waiter  record;
    v_count   bigint := 0;
BEGIN
    SELECT permits - held INTO v_free FROM {s}.lines WHERE name = p_line;
    IF NOT FOUND OR v_free <= 0 THEN
        RETURN;
    END IF;
    -- The waiters in line order, read through the index a few at a time (a cursor): a
    -- grant costs the permits it hands out, not the length of the line.
    FOR v_waiter IN
        SELECT task, holder FROM {s}.line_entries
         WHERE line = p_line AND NOT granted
         ORDER BY priority DESC, seq
    LOOP
        EXIT WHEN v_count >= v_free;
        CONTINUE WHEN {s}.line_decided(v_waiter.task);
        UPDATE {s}.line_entries SET granted = true WHERE line = p_line AND task = v_waiter.task;
        PERFORM pg_notify({s}.line_channel(v_waiter.holder), v_waiter.task::text || ' ' || p_line);
        v_count := v_count + 1;
    END LOOP;
    IF v_count > 0 THEN
        UPDATE {s}.lines SET held = held + v_count, waiting = waiting - v_count
         WHERE name = p_line;
    END IF;
END
$$;

-- The backstop, run by an instance for each line it waits in: the dead go, and their
-- permits to the next waiters.
CREATE FUNCTION {s}.line_recheck(p_line text) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM 1 FROM {s}.lines WHERE name = p_line FOR UPDATE;
    IF FOUND THEN
        PERFORM {s}.line_reap(p_line);
        PERFORM {s}.line_grant(p_line);
    END IF;
END
$$;

-- Task `p_task` of the instance whose presence key is `p_holder` enters line `p_line` (of
-- `p_permits` permits and `p_capacity` places, as that instance declares it: the last
-- instance to enter with other figures sets them). Answers 'admitted', 'queued' or 'full'.
-- An entry already there (a retried call) is answered as it stands.
CREATE FUNCTION {s}.line_enter(p_line text, p_permits bigint, p_capacity bigint,
                               p_task uuid, p_holder integer, p_priority integer) RETURNS text
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_held    bigint;
    v_waiting bigint;
    v_granted boolean;
BEGIN
    INSERT INTO {s}.lines AS l (name, permits, capacity) VALUES (p_line, p_permits, p_capacity)
        ON CONFLICT (name) DO UPDATE SET permits = excluded.permits, capacity = excluded.capacity
        WHERE l.permits <> excluded.permits OR l.capacity <> excluded.capacity;
    SELECT held, waiting INTO v_held, v_waiting FROM {s}.lines WHERE name = p_line FOR UPDATE;
    SELECT granted INTO v_granted FROM {s}.line_entries WHERE line = p_line AND task = p_task;
    IF FOUND THEN
        RETURN CASE WHEN v_granted THEN 'admitted' ELSE 'queued' END;
    END IF;
    IF v_waiting >= p_capacity THEN
        -- Full by the count: the dead go, and the waiters whose ending is decided do not count.
        PERFORM {s}.line_reap(p_line);
        PERFORM {s}.line_grant(p_line);
        SELECT held INTO v_held FROM {s}.lines WHERE name = p_line;
        IF (SELECT count(*) FROM {s}.line_entries e
             WHERE line = p_line AND NOT granted AND NOT {s}.line_decided(e.task)) >= p_capacity THEN
            RETURN 'full';
        END IF;
    ELSIF v_waiting = 0 AND v_held < p_permits THEN
        -- A free permit and nobody waiting: it is this task's.
        INSERT INTO {s}.line_entries (line, task, holder, priority, seq, granted)
            VALUES (p_line, p_task, p_holder, p_priority, nextval('{s}.line_arrivals'), true);
        UPDATE {s}.lines SET held = held + 1 WHERE name = p_line;
        RETURN 'admitted';
    END IF;
    INSERT INTO {s}.line_entries (line, task, holder, priority, seq)
        VALUES (p_line, p_task, p_holder, p_priority, nextval('{s}.line_arrivals'));
    UPDATE {s}.lines SET waiting = waiting + 1 WHERE name = p_line;
    IF v_held < p_permits THEN
        -- Free permits beside waiters whose ending is decided: the first live one takes it.
        PERFORM {s}.line_grant(p_line);
        SELECT granted INTO v_granted FROM {s}.line_entries WHERE line = p_line AND task = p_task;
        IF v_granted THEN
            RETURN 'admitted';
        END IF;
    END IF;
    RETURN 'queued';
END
$$;

-- Task `p_task` leaves line `p_line`: it gives its permit back (then the next waiter gets
-- it) or its place in the line.
CREATE FUNCTION {s}.line_exit(p_line text, p_task uuid) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_granted boolean;
BEGIN
    PERFORM 1 FROM {s}.lines WHERE name = p_line FOR UPDATE;
    DELETE FROM {s}.line_entries WHERE line = p_line AND task = p_task
        RETURNING granted INTO v_granted;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF v_granted THEN
        UPDATE {s}.lines SET held = held - 1 WHERE name = p_line;
        PERFORM {s}.line_grant(p_line);
    ELSE
        UPDATE {s}.lines SET waiting = waiting - 1 WHERE name = p_line;
    END IF;
END
$$;
