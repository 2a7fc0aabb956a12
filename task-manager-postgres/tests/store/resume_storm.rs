//! The crash storm for `#[flow(on_owner_lost = resume)]`: three instances as OS processes run
//! `TM_CRASH_TASKS` tasks (3,000 by default: 3 x 1,000) of `tm-cluster-node`'s `tallied` flow
//! (steps `t0`, `t1`, `t2`, each writing `began` into the schema's `tallies` table as its first
//! statement and `returned` as its last; each cleanup writes `cleanup` with its reason; every
//! row names the instance that wrote it), submitted round-robin. At seeded moments
//! (`TM_CRASH_SEED`) a random instance, surely mid-step in a few gated tasks (each at a seeded
//! step) besides what it runs then, is killed with `SIGKILL`, its lease expired (what its time
//! would do), a survivor told to claim, and a replacement started under a new name. The
//! claimant runs the gated tasks' cleanups and holds them, resumed, in their step again, and
//! is the next victim: they are lost twice (checked: claimed twice, resumed twice); the last
//! kill's claimant lets every gated task finish. Then, per task:
//!
//! * it ends once: its record is finished; it ends `Completed`, named after the instance that
//!   finished it (which said so, unless it was killed right after the seal that recorded the
//!   ending: then its last step returned there), claimed as many times as instances it was
//!   lost with. A task
//!   lost after it had sealed its ending `completed` and before it recorded it also ends
//!   `Completed` (checked: all three steps had returned, no cleanup ran for that loss, no
//!   cancel; its record names the instance that claimed it, which said so, and one claim
//!   more than its cleanups). A task lost before its first boundary was written (waiting to
//!   begin) is resumed from its first step: its submission recorded its state. The one
//!   exception, checked: a task whose instance was killed during its submission, before
//!   `submit_in_cluster` returned (no `submitted ID ok`, so its state was not recorded yet),
//!   ends `cancelled` with no step in progress (no step began);
//! * per step: each cleanup ran with `OwnerLost` naming a killed instance, on an instance that
//!   claimed the task (never on the lost one), at most once per lost instance; each instance
//!   began the step at most once; and the step began exactly `1 + cleanups` times: every
//!   attempt but the last was interrupted and cleaned up once, the last one returned and was
//!   not cleaned up. One attempt is invisible to the tables: an instance killed after the
//!   step's boundary was written (the store then names the step) and before the step's first
//!   statement reached the server has its cleanup run with no `began` row of its own; such an
//!   attempt is counted as begun (`unseen`, printed) only if that instance had returned the
//!   step before (or step 0, or it had resumed the task there), and is never one of the
//!   gated tasks, which were seen to begin. A kill after a step's last statement and before the next
//!   boundary was written makes the step begin again (the store never learned it returned):
//!   it is counted (`returned twice`, printed) and is one of the interrupted attempts;
//! * a completed task's output, read back typed on a live instance (`tallied_outcome`), is
//!   what its last step computed (its id and `12`), wherever it finished;
//! * a step that completed before a loss never began again: every step before the first
//!   interrupted one (the lowest step any cleanup of the task names) began exactly once, on
//!   the task's first instance, and was never cleaned up.

use std::collections::{HashMap, HashSet};

use task_manager_core::TaskId;

use crate::nodes::Node;
use crate::support::{admin, fresh_schema, setting, Rng};

const LEASE_MS: u64 = 60_000;
const RENEW_MS: u64 = 20_000;

/// Claims on `node` and waits for its answer.
fn claim(node: &mut Node) {
    let before = node.count(|line| line.starts_with("claims "));
    node.send("claim");
    node.wait_count(|line| line.starts_with("claims "), before + 1);
}

#[test]
fn instances_killed_at_random_moments_have_every_resumable_task_completed() {
    let tasks = setting("TM_CRASH_TASKS", 3_000) as usize;
    let seed = setting("TM_CRASH_SEED", 16);
    let mut rng = Rng(seed.max(1));
    let started = std::time::Instant::now();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the test's queries");
    let schema = runtime.block_on(fresh_schema("resume_storm"));
    let mut nodes: Vec<Node> = ["a", "b", "c"]
        .iter()
        .map(|name| Node::start_with_lease(&schema, name, LEASE_MS, RENEW_MS))
        .collect();
    // Two kills, at seeded moments of the submissions.
    let mut kills: Vec<usize> = (0..2).map(|_| rng.below(tasks as u64) as usize).collect();
    kills.sort_unstable();
    let mut killed = Vec::new();
    // Each task's first instance, by name.
    let mut owner: HashMap<TaskId, String> = HashMap::new();
    let mut order = Vec::with_capacity(tasks);
    let mut replacements = 0;
    // The gated tasks a victim was in the middle of when it was killed, and their step.
    let mut mid_step: HashMap<TaskId, u32> = HashMap::new();
    let mut gated_all: Vec<(TaskId, u32)> = Vec::new();
    // The instance that claimed the last victim's tasks and holds its gated ones, resumed,
    // mid-step: the next victim, so that they are lost twice.
    let mut holder: Option<String> = None;
    let mut lost_twice = Vec::new();
    for n in 0..tasks {
        while kills.first() == Some(&n) {
            kills.remove(0);
            let victim = match &holder {
                Some(name) => nodes
                    .iter()
                    .position(|node| &node.name == name)
                    .expect("the holder is live"),
                None => rng.below(nodes.len() as u64) as usize,
            };
            if holder.is_some() {
                lost_twice.extend(gated_all.iter().map(|(id, _)| *id));
            }
            let mut gated = Vec::new();
            for _ in 0..1 + rng.below(4) {
                let id = TaskId::new();
                let step = rng.below(3) as u32;
                let node = &mut nodes[victim];
                node.send(&format!("tallied {id} 1 0"));
                for gate in 0..step {
                    node.wait_line(|line| line == format!("began {id} {gate}"));
                    node.open(id, gate);
                }
                // Said after its `began` row was written.
                node.wait_line(|line| line == format!("began {id} {step}"));
                owner.insert(id, node.name.clone());
                mid_step.insert(id, step);
                gated.push((id, step));
                order.push(id);
            }
            let mut dead = nodes.remove(victim);
            dead.kill();
            runtime.block_on(expire(&schema, &dead.name));
            let survivor = rng.below(nodes.len() as u64) as usize;
            claim(&mut nodes[survivor]);
            replacements += 1;
            nodes.push(Node::start_with_lease(
                &schema,
                &format!("r{replacements}"),
                LEASE_MS,
                RENEW_MS,
            ));
            killed.push(dead);
            gated_all.extend(gated);
            if !kills.is_empty() {
                // Not the last kill: the claimant runs the gated tasks' cleanups, then holds
                // them, resumed, in their step again (its `began` row written) until it is
                // killed next.
                let survivor = &mut nodes[survivor];
                for (id, step) in &gated_all {
                    survivor.open(*id, 100 + step);
                }
                // Once its claims are handled, each is running here again, not ended.
                survivor.flush();
                let unfinished = runtime.block_on(unfinished(&schema));
                for (id, step) in &gated_all {
                    assert!(
                        unfinished.contains(&(*id, survivor.name.clone())),
                        "task {id}, lost in step {step}, is not running on {} again",
                        survivor.name
                    );
                    survivor.wait_line(|line| line == format!("began {id} {step}"));
                }
                holder = Some(survivor.name.clone());
                continue;
            }
            // The last kill: the gated tasks' cleanups, then their steps again, wait at
            // their gates on whichever instance runs them: every gate is opened once on every
            // live instance (a task runs a gate at most once on an instance).
            for node in &mut nodes {
                for (id, _) in &gated_all {
                    for gate in [0, 1, 2, 100, 101, 102] {
                        node.open(*id, gate);
                    }
                }
            }
        }
        let id = TaskId::new();
        let node = n % nodes.len();
        let work_us = rng.below(1_500);
        nodes[node].send(&format!("tallied {id} 0 {work_us}"));
        owner.insert(id, nodes[node].name.clone());
        order.push(id);
    }
    // The live instances' own tasks end by themselves.
    for node in &nodes {
        for id in order.iter().filter(|id| owner[id] == node.name) {
            node.wait_line(|line| line.starts_with(&format!("ended {id} ")));
        }
    }
    // A last claim on a live instance, for the moments a kill met a task not yet recorded;
    // then the tasks resumed on live instances end there.
    claim(&mut nodes[0]);
    for node in &mut nodes {
        node.flush();
    }
    for (id, instance) in runtime.block_on(unfinished(&schema)) {
        let node = nodes
            .iter()
            .find(|node| node.name == instance)
            .unwrap_or_else(|| panic!("task {id} left on {instance}, not a live instance"));
        node.wait_line(|line| line.starts_with(&format!("finished {id} ")));
    }
    for node in &mut nodes {
        node.flush();
    }

    let confirmed = |id: &TaskId| {
        killed
            .iter()
            .chain(nodes.iter())
            .any(|node| node.count(|line| line == format!("submitted {id} ok")) > 0)
    };
    let killed_names: HashSet<String> = killed.iter().map(|node| node.name.clone()).collect();
    let all: Vec<&Node> = killed.iter().chain(nodes.iter()).collect();
    let said = |instance: &str, line: &str| {
        all.iter()
            .find(|node| node.name == instance)
            .is_some_and(|node| node.count(|said| said == line) > 0)
    };
    let records = runtime.block_on(records(&schema));
    let tallies = runtime.block_on(tallies(&schema));
    let none = Vec::new();
    let (mut resumed, mut interrupted, mut unseen, mut twice, mut sealed, mut unstarted) =
        (0, 0, 0, 0, 0, 0);
    let mut unbegun = 0;
    let mut killed_after_seal = 0;
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
        let rows = tallies.get(id).unwrap_or(&none);
        let of = |step: i32, what: &str| -> Vec<&Tally> {
            rows.iter()
                .filter(|row| row.step == step && row.what == what)
                .collect()
        };
        // Every cleanup: `OwnerLost` of a killed instance, on an instance that claimed the
        // task, at most once per lost instance and step.
        let mut lost_at: HashSet<(i32, &str)> = HashSet::new();
        for row in rows.iter().filter(|row| row.what == "cleanup") {
            let reason = row.reason.as_deref().unwrap_or_default();
            let lost = reason
                .strip_prefix("its instance `")
                .and_then(|rest| rest.strip_suffix("` was lost"))
                .unwrap_or_else(|| panic!("task {id}: a cleanup with reason {reason:?}"));
            assert!(
                killed_names.contains(lost),
                "task {id}: {lost} was not killed"
            );
            assert_ne!(
                row.instance, lost,
                "task {id}: cleanup on the lost instance"
            );
            assert!(
                said(&row.instance, &format!("claimed {id}")),
                "task {id}: cleanup on {}, which did not claim it",
                row.instance
            );
            assert!(
                lost_at.insert((row.step, lost)),
                "task {id}: step {} of {lost} cleaned up twice",
                row.step
            );
        }
        match record.ending.as_str() {
            // Sealed `completed` by its instance, lost before it recorded its ending: the
            // claim ended it completed, as the seal said.
            "completed"
                if record.fence as usize == lost_at.len() + 1
                    && !said(&record.instance, &format!("finished {id} completed")) =>
            {
                sealed += 1;
                assert!(
                    said(&record.instance, &format!("claimed {id}")),
                    "task {id}: its record names {}, which did not claim it",
                    record.instance
                );
                assert!(record.lost.is_some(), "task {id}: {record:?}");
                assert_eq!(
                    (record.cleanup.as_deref(), record.cancel.as_deref()),
                    (None, None),
                    "task {id}: {record:?}"
                );
                for step in 0..3 {
                    let returned = of(step, "returned")
                        .into_iter()
                        .filter(|row| !lost_at.contains(&(step, row.instance.as_str())))
                        .count();
                    assert_eq!(returned, 1, "task {id} step {step}: {rows:?}");
                }
                assert!(!mid_step.contains_key(id), "task {id}");
            }
            "completed" => {
                // Its seal recorded its ending (nothing runs after it): an instance killed
                // right after that seal did not say it finished the task, which is finished
                // all the same, its last step returned there.
                if !said(&record.instance, &format!("finished {id} completed")) {
                    assert!(
                        killed_names.contains(&record.instance),
                        "task {id}: its record names {}, which did not finish it",
                        record.instance
                    );
                    assert!(
                        of(2, "returned")
                            .iter()
                            .any(|row| row.instance == record.instance),
                        "task {id}: sealed on {} with no return of its last step: {rows:?}",
                        record.instance
                    );
                    killed_after_seal += 1;
                }
                if record.fence > 0 {
                    resumed += 1;
                    assert!(record.lost.is_some(), "task {id}: {record:?}");
                } else {
                    assert_eq!(record.instance, owner[id], "task {id}");
                }
                assert_eq!(record.cancel, None, "task {id}: {record:?}");
                // One claim per instance lost with it, each a cleanup, but a loss before its
                // first boundary: claimed, resumed from its first step, no cleanup.
                let unbegun_losses = (record.fence as usize)
                    .checked_sub(lost_at.len())
                    .unwrap_or_else(|| panic!("task {id}: fewer claims than cleanups: {rows:?}"));
                assert!(unbegun_losses <= 1, "task {id}: {record:?} {rows:?}");
                if unbegun_losses == 1 {
                    unbegun += 1;
                    assert!(!mid_step.contains_key(id), "task {id}");
                    assert!(
                        of(0, "began").iter().all(|row| row.instance != owner[id]),
                        "task {id} began on {}, and was claimed without a cleanup: {rows:?}",
                        owner[id]
                    );
                }
                let first_lost = lost_at.iter().map(|(step, _)| *step).min().unwrap_or(3);
                for step in 0..3 {
                    let began = of(step, "began");
                    let cleanups = of(step, "cleanup").len();
                    let mut instances: Vec<&str> =
                        began.iter().map(|row| row.instance.as_str()).collect();
                    instances.sort_unstable();
                    instances.dedup();
                    assert_eq!(
                        instances.len(),
                        began.len(),
                        "task {id} step {step}: {rows:?}"
                    );
                    // Interrupted attempts whose `began` never reached the server.
                    let invisible = lost_at
                        .iter()
                        .filter(|(at, lost)| *at == step && !instances.contains(lost))
                        .count();
                    if mid_step.contains_key(id) {
                        assert_eq!(invisible, 0, "task {id} was seen to begin: {rows:?}");
                    }
                    // Such an attempt was between its boundary and its first statement: its
                    // instance had returned the step before, or had just resumed the task.
                    for (_, lost) in lost_at
                        .iter()
                        .filter(|(at, lost)| *at == step && !instances.contains(lost))
                    {
                        assert!(
                            step == 0
                                || of(step - 1, "returned")
                                    .iter()
                                    .any(|row| row.instance == *lost)
                                || said(lost, &format!("claimed {id}")),
                            "task {id}: {lost}'s cleanup of step {step}, which it never began: \
                             {rows:?}"
                        );
                    }
                    unseen += invisible;
                    assert_eq!(
                        began.len() + invisible,
                        1 + cleanups,
                        "task {id} step {step}: each attempt but the last cleaned up once: {rows:?}"
                    );
                    // The last attempt returned, on an instance whose attempt was not cleaned
                    // up; an attempt cleaned up returned only if lost before the next boundary.
                    let returned = of(step, "returned");
                    let last: Vec<&&Tally> = returned
                        .iter()
                        .filter(|row| !lost_at.contains(&(step, row.instance.as_str())))
                        .collect();
                    assert_eq!(last.len(), 1, "task {id} step {step}: {rows:?}");
                    twice += returned.len() - 1;
                    interrupted += cleanups;
                    if step < first_lost {
                        assert_eq!(
                            (began.len(), cleanups),
                            (1, 0),
                            "task {id}: step {step} completed before the loss began again"
                        );
                        // On its first instance, unless it was lost before it began.
                        if unbegun_losses == 0 {
                            assert_eq!(began[0].instance, owner[id], "task {id} step {step}");
                        }
                    }
                }
                if let Some(step) = mid_step.get(id) {
                    assert_eq!(first_lost, *step as i32, "task {id}: {rows:?}");
                }
            }
            // Its instance killed during its submission, after the reservation and before
            // the submission recorded its state: `submit_in_cluster` never returned (no
            // `submitted ID ok`), and the claim ends it cancelled, no step begun. Every task
            // whose submission returned completes, those lost before their first boundary
            // included.
            "cancelled" => {
                unstarted += 1;
                assert!(
                    killed_names.contains(&owner[id]) && !confirmed(id),
                    "task {id}, whose submission returned, ended cancelled: {record:?}"
                );
                assert_eq!(record.fence, 1, "task {id}");
                assert_eq!(
                    record.cleanup.as_deref(),
                    Some("no_step_in_progress"),
                    "task {id} ended cancelled after a cleanup, not resumed: {record:?}"
                );
                assert!(rows.is_empty(), "task {id}: {rows:?}");
                assert!(!mid_step.contains_key(id), "task {id}");
            }
            other => panic!("task {id}: ending {other}: {record:?}"),
        }
    }
    for id in mid_step.keys() {
        assert_eq!(records[id].ending, "completed", "task {id}");
    }
    // Every completed task's output, read back typed on a live instance (most of them ran
    // elsewhere; a resumed one's handle went with its instance): what its last step
    // computed, its id and `11 + 1`.
    let completed: Vec<&TaskId> = order
        .iter()
        .filter(|id| {
            records
                .get(id)
                .is_some_and(|record| record.ending == "completed")
        })
        .collect();
    let reading = std::time::Instant::now();
    for id in &completed {
        nodes[0].send(&format!("outcome {id} {id} tallied"));
    }
    for id in &completed {
        assert_eq!(
            nodes[0].answer(&format!("outcome {id}")),
            ["completed".to_owned(), format!("{id}:12")],
            "task {id}"
        );
    }
    let reading = reading.elapsed();
    for id in &lost_twice {
        assert_eq!(records[id].fence, 2, "task {id}: lost twice, resumed twice");
    }
    let mut killed_list: Vec<&String> = killed_names.iter().collect();
    killed_list.sort_unstable();
    eprintln!(
        "resume storm: {tasks} tasks in {:.1} s, {killed_list:?} killed; {resumed} resumed and \
         completed ({} lost twice), {interrupted} interrupted attempts cleaned up ({unseen} unseen, {twice} \
         returned twice, {unbegun} lost before their first boundary); {sealed} sealed before the loss \
         ended completed by the claim, {unstarted} lost during their submission ended cancelled; \
         {killed_after_seal} completed by a seal that carried the ending just before their instance \
         was killed; {} outputs read back in {:.1} s",
        started.elapsed().as_secs_f64(),
        lost_twice.len(),
        completed.len(),
        reading.as_secs_f64()
    );
    drop(nodes);
    drop(killed);
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

/// The records not yet finished, and their instance.
async fn unfinished(schema: &str) -> Vec<(TaskId, String)> {
    admin()
        .await
        .query(
            &format!("SELECT id::text, instance FROM \"{schema}\".tasks WHERE state <> 'finished'"),
            &[],
        )
        .await
        .expect("reading the records")
        .iter()
        .map(|row| {
            let id: String = row.get(0);
            (id.parse().expect("an id"), row.get(1))
        })
        .collect()
}

#[derive(Debug)]
struct Row {
    state: String,
    ending: String,
    instance: String,
    fence: i32,
    lost: Option<String>,
    cleanup: Option<String>,
    cancel: Option<String>,
}

async fn records(schema: &str) -> HashMap<TaskId, Row> {
    admin()
        .await
        .query(
            &format!(
                "SELECT id::text, state, coalesce(ending, ''), instance, fence, lost_instance, \
                 cleanup, cancel_kind FROM \"{schema}\".tasks"
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
                    instance: row.get(3),
                    fence: row.get(4),
                    lost: row.get(5),
                    cleanup: row.get(6),
                    cancel: row.get(7),
                },
            )
        })
        .collect()
}

#[derive(Debug)]
#[allow(dead_code)] // `seq` is read by `Debug` in failure messages.
struct Tally {
    seq: i64,
    step: i32,
    what: String,
    instance: String,
    reason: Option<String>,
}

async fn tallies(schema: &str) -> HashMap<TaskId, Vec<Tally>> {
    let mut by_task: HashMap<TaskId, Vec<Tally>> = HashMap::new();
    for row in admin()
        .await
        .query(
            &format!(
                "SELECT id::text, seq, step, what, instance, reason FROM \"{schema}\".tallies \
                 ORDER BY seq"
            ),
            &[],
        )
        .await
        .expect("reading the tallies")
    {
        let id: String = row.get(0);
        by_task
            .entry(id.parse().expect("an id"))
            .or_default()
            .push(Tally {
                seq: row.get(1),
                step: row.get(2),
                what: row.get(3),
                instance: row.get(4),
                reason: row.get(5),
            });
    }
    by_task
}
