//! The crash storm: three instances as OS processes run `TM_CRASH_TASKS` tasks (3,000 by
//! default: 3 x 1,000, about 5 s here) of the `durable` flow (`on_owner_lost = cancel`),
//! submitted round-robin; at seeded moments (`TM_CRASH_SEED`) a random instance, surely
//! mid-step in a few gated tasks
//! (each at a seeded step) besides what it runs then, is killed with `SIGKILL`, its lease
//! expired (what its time would do), a survivor told to claim, and a replacement started
//! under a new name. Then: no record is left unfinished; every task its instance confirmed has
//! a record; a task finished by its own instance completed and ran no cleanup; a task claimed
//! from a killed instance was claimed once, and its interrupted step's cleanup ran exactly
//! once, on the claimant, for the step its record ends at (counted by the cleanup itself),
//! or not at all when it had not begun a step (or had sealed its own ending `completed`: the
//! claim then ends it `completed`, as its seal said).

use std::collections::HashMap;

use task_manager_core::TaskId;

use crate::nodes::Node;
use crate::support::{admin, fresh_schema, setting, Rng};

const LEASE_MS: u64 = 60_000;
const RENEW_MS: u64 = 20_000;

#[test]
fn instances_killed_at_random_moments_have_each_interrupted_step_cleaned_up_once() {
    let tasks = setting("TM_CRASH_TASKS", 3_000) as usize;
    let seed = setting("TM_CRASH_SEED", 16);
    let mut rng = Rng(seed.max(1));
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the test's queries");
    let schema = runtime.block_on(fresh_schema("crash_storm"));
    let mut nodes: Vec<Node> = ["a", "b", "c"]
        .iter()
        .map(|name| Node::start_with_lease(&schema, name, LEASE_MS, RENEW_MS))
        .collect();
    // Two kills, at seeded moments of the submissions.
    let mut kills: Vec<usize> = (0..2).map(|_| rng.below(tasks as u64) as usize).collect();
    kills.sort_unstable();
    let mut killed = Vec::new();
    // Each task's instance, by name, and its id.
    let mut owner: HashMap<TaskId, String> = HashMap::new();
    let mut order = Vec::with_capacity(tasks);
    let mut replacements = 0;
    // The gated tasks a victim was in the middle of when it was killed, and their step.
    let mut mid_step: HashMap<TaskId, i32> = HashMap::new();
    for n in 0..tasks {
        while kills.first() == Some(&n) {
            kills.remove(0);
            let victim = rng.below(nodes.len() as u64) as usize;
            // Besides whatever it runs at that moment, the victim is surely mid-step in a
            // few tasks: gated ones, each let through a seeded number of steps.
            let mut gated = Vec::new();
            for _ in 0..1 + rng.below(4) {
                let id = TaskId::new();
                let step = rng.below(3);
                let node = &mut nodes[victim];
                node.send(&format!("durable {id} 1 0"));
                for gate in 0..step {
                    node.wait_line(|line| line == format!("began {id} {gate}"));
                    node.open(id, gate as u32);
                }
                node.wait_line(|line| line == format!("began {id} {step}"));
                owner.insert(id, node.name.clone());
                mid_step.insert(id, step as i32);
                gated.push((id, step as u32));
                order.push(id);
            }
            nodes[victim].flush();
            let mut dead = nodes.remove(victim);
            dead.kill();
            runtime.block_on(expire(&schema, &dead.name));
            let survivor = rng.below(nodes.len() as u64) as usize;
            let before = nodes[survivor].count(|line| line.starts_with("claims "));
            nodes[survivor].send("claim");
            nodes[survivor].wait_count(|line| line.starts_with("claims "), before + 1);
            // The gated tasks' cleanups wait at their gate on whichever instance claimed them.
            for node in &mut nodes {
                for (id, step) in &gated {
                    node.open(*id, 100 + step);
                }
            }
            replacements += 1;
            nodes.push(Node::start_with_lease(
                &schema,
                &format!("r{replacements}"),
                LEASE_MS,
                RENEW_MS,
            ));
            killed.push(dead);
        }
        let id = TaskId::new();
        let node = n % nodes.len();
        let work_us = rng.below(1_500);
        nodes[node].send(&format!("durable {id} 0 {work_us}"));
        owner.insert(id, nodes[node].name.clone());
        order.push(id);
    }
    // The live instances' own tasks end by themselves; then every write is flushed.
    for node in &nodes {
        for id in order.iter().filter(|id| owner[id] == node.name) {
            node.wait_line(|line| line.starts_with(&format!("ended {id} ")));
        }
    }
    // A last claim on a live instance, for the moments a kill met a task not yet recorded.
    let before = nodes[0].count(|line| line.starts_with("claims "));
    nodes[0].send("claim");
    nodes[0].wait_count(|line| line.starts_with("claims "), before + 1);
    for node in &mut nodes {
        node.flush();
    }

    let confirmed = |id: &TaskId| {
        killed
            .iter()
            .chain(nodes.iter())
            .any(|node| node.count(|line| line == format!("submitted {id} ok")) > 0)
    };
    let killed_names: Vec<String> = killed.iter().map(|node| node.name.clone()).collect();
    let records = runtime.block_on(records(&schema));
    let cleanups = runtime.block_on(cleanups(&schema));
    let mut recovered = 0;
    for id in &order {
        let Some(record) = records.get(id) else {
            assert!(
                killed_names.contains(&owner[id]) && !confirmed(id),
                "task {id} on {} has no record",
                owner[id]
            );
            continue;
        };
        assert_eq!(record.state, "finished", "task {id}: {record:?}");
        let ran = cleanups.get(id).cloned().unwrap_or_default();
        if !killed_names.contains(&owner[id]) {
            assert_eq!(
                (record.ending.as_str(), record.fence, ran.len()),
                ("completed", 0, 0),
                "task {id} of live {}",
                owner[id]
            );
            continue;
        }
        match record.ending.as_str() {
            // Finished by its instance before the kill.
            "completed" if record.fence == 0 => assert!(ran.is_empty(), "task {id}"),
            // Sealed `completed` by its instance, killed before it recorded its ending: the
            // claim ended it completed, as the seal said, with no cleanup.
            "completed" => {
                assert_eq!(record.fence, 1, "task {id} claimed once");
                assert_eq!(record.lost.as_deref(), Some(owner[id].as_str()));
                assert_eq!(
                    (record.cleanup.as_deref(), ran.len()),
                    (None, 0),
                    "task {id}"
                );
            }
            "cancelled" => {
                assert_eq!(record.fence, 1, "task {id} claimed once");
                assert_eq!(record.lost.as_deref(), Some(owner[id].as_str()));
                match record.cleanup.as_deref() {
                    Some("completed") => {
                        recovered += 1;
                        let step = record.cleanup_step.clone().expect("its step");
                        if let Some(expected) = mid_step.get(id) {
                            assert_eq!(step_number(&step), *expected, "task {id}");
                        }
                        assert_eq!(
                            ran,
                            [(
                                step_number(&step),
                                format!("its instance `{}` was lost", owner[id])
                            )],
                            "task {id}: the cleanup of {step}, once"
                        );
                    }
                    Some("no_step_in_progress") => assert!(ran.is_empty(), "task {id}"),
                    other => panic!("task {id}: cleanup {other:?}"),
                }
            }
            other => panic!("task {id}: ending {other}"),
        }
    }
    for (id, step) in &mid_step {
        assert_eq!(
            cleanups.get(id).map(Vec::len),
            Some(1),
            "task {id}, killed mid-step d{step}: its cleanup ran once"
        );
    }
    eprintln!(
        "crash storm: {tasks} tasks, {} killed, {recovered} interrupted steps cleaned up on a claimant",
        killed_names.join(",")
    );
    drop(nodes);
    drop(killed);
}

fn step_number(step: &str) -> i32 {
    step.trim_start_matches('d')
        .parse()
        .expect("a durable step")
}

async fn expire(schema: &str, instance: &str) {
    admin()
        .await
        .execute(
            &format!(
                "UPDATE \"{schema}\".leases SET expires_at = now() - interval '1 second' \
                 WHERE instance = $1"
            ),
            &[&instance],
        )
        .await
        .expect("expiring a lease");
}

#[derive(Debug)]
struct Row {
    state: String,
    ending: String,
    fence: i32,
    lost: Option<String>,
    cleanup: Option<String>,
    cleanup_step: Option<String>,
}

async fn records(schema: &str) -> HashMap<TaskId, Row> {
    admin()
        .await
        .query(
            &format!(
                "SELECT id::text, state, coalesce(ending, ''), fence, lost_instance, cleanup, \
                 cleanup_step FROM \"{schema}\".tasks"
            ),
            &[],
        )
        .await
        .expect("reading the records")
        .iter()
        .map(|row| {
            let id: String = row.get(0);
            (
                id.parse().expect("an id"),
                Row {
                    state: row.get(1),
                    ending: row.get(2),
                    fence: row.get(3),
                    lost: row.get(4),
                    cleanup: row.get(5),
                    cleanup_step: row.get(6),
                },
            )
        })
        .collect()
}

async fn cleanups(schema: &str) -> HashMap<TaskId, Vec<(i32, String)>> {
    let mut by_task: HashMap<TaskId, Vec<(i32, String)>> = HashMap::new();
    for row in admin()
        .await
        .query(
            &format!(
                "SELECT id::text, step, convert_from(reason, 'UTF8') FROM \"{schema}\".cleanups"
            ),
            &[],
        )
        .await
        .expect("reading the cleanups")
    {
        let id: String = row.get(0);
        by_task
            .entry(id.parse().expect("an id"))
            .or_default()
            .push((row.get(1), row.get(2)));
    }
    by_task
}
