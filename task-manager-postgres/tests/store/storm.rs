//! The storm: three instances as OS processes, each running `TM_STORM_TASKS` tasks (2,000 by
//! default) of a flow limited to two at a time on each instance, with a one-permit resource
//! in its middle step, while seeded random cancels (`TM_STORM_SEED`) go to random instances,
//! some twice, some before the task exists. Then: every task ended exactly once, on its owner; a task
//! ended cancelled iff exactly one cancel was answered `Requested`, with that cancel's
//! reason; every cleanup that ran was counted once, by itself, and exactly for the tasks
//! stopped mid-step; no record is left unfinished, and each record says what the outcome
//! says.

use std::collections::HashMap;

use task_manager_core::TaskId;

use crate::nodes::{hex, Node};
use crate::support::{admin, fresh_schema, setting, Rng};

/// What one node said of a task.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ended {
    node: usize,
    cancelled: bool,
    step: String,
    reason: String,
}

/// The flow's limit and the resource per instance, as the storm was written for: its cancels
/// must find tasks in every state, and under a cluster-wide limit the line grows faster than
/// it drains, so most would find their task queued (`limits.rs` tests the cluster's lines).
const STORM_LIMITS: &str = "local";

#[test]
fn three_instances_and_random_cancels() {
    let tasks = setting("TM_STORM_TASKS", 2_000) as usize;
    let seed = setting("TM_STORM_SEED", 15);
    let mut rng = Rng(seed.max(1));
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the test's queries");
    let schema = runtime.block_on(fresh_schema("storm"));
    let mut nodes: Vec<Node> = ["a", "b", "c"]
        .iter()
        .map(|name| Node::start_with(&schema, name, STORM_LIMITS))
        .collect();

    // The plan: task k goes to node k % 3; after each submission, maybe a cancel of a task
    // submitted a little earlier (or of this one, or of one submitted next: not yet there).
    let ids: Vec<TaskId> = (0..tasks * 3).map(|_| TaskId::new()).collect();
    let owner = |k: usize| k % 3;
    // (node, id) -> the reasons sent there, in order.
    let mut sent: HashMap<(usize, TaskId), Vec<String>> = HashMap::new();
    let mut cancels = 0usize;
    let mut cancel = |nodes: &mut Vec<Node>, rng: &mut Rng, id: TaskId| {
        let node = rng.below(3) as usize;
        let reason = format!("c{cancels} 'quoted' ünïcode");
        cancels += 1;
        nodes[node].cancel(id, &reason);
        sent.entry((node, id)).or_default().push(reason);
    };
    for (k, &id) in ids.iter().enumerate() {
        let work_us = rng.below(3_000);
        nodes[owner(k)].submit(id, false, work_us);
        if rng.below(10) < 3 {
            let back = rng.below(20) as usize;
            let target = ids[k.saturating_sub(back).min(ids.len() - 1)];
            cancel(&mut nodes, &mut rng, target);
            if rng.below(20) == 0 {
                cancel(&mut nodes, &mut rng, target);
            }
        }
        if rng.below(100) == 0 {
            cancel(&mut nodes, &mut rng, ids[(k + 1).min(ids.len() - 1)]);
        }
    }

    // Every task is submitted (a refusal would leave the wait for its ending to the guard:
    // say it at once); every task ends; every cancel is answered and its cancellation
    // resolves.
    for (i, node) in nodes.iter().enumerate() {
        node.wait_count(|l| l.starts_with("submitted "), tasks);
        let refused: Vec<String> = node
            .lines()
            .into_iter()
            .filter(|l| l.starts_with("submitted ") && !l.ends_with(" ok"))
            .collect();
        assert!(refused.is_empty(), "node {i} refused: {refused:?}");
    }
    for (i, node) in nodes.iter().enumerate() {
        node.wait_count(|l| l.starts_with("ended "), tasks);
        let cancels_here: usize = sent
            .iter()
            .filter(|((n, _), _)| *n == i)
            .map(|(_, reasons)| reasons.len())
            .sum();
        node.wait_count(|l| l.starts_with("cancelled "), cancels_here);
    }

    // Exactly one ending per task, on its owner.
    let mut ended: HashMap<TaskId, Vec<Ended>> = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        for line in node.lines() {
            let words: Vec<&str> = line.split(' ').collect();
            if let ["ended", id, kind, step, reason] = words.as_slice() {
                ended.entry(id.parse().unwrap()).or_default().push(Ended {
                    node: i,
                    cancelled: *kind == "cancelled",
                    step: (*step).to_owned(),
                    reason: (*reason).to_owned(),
                });
            }
            assert!(!line.starts_with("error"), "node {i}: {line}");
            assert!(!line.contains("other:"), "node {i}: {line}");
        }
    }
    for (k, id) in ids.iter().enumerate() {
        let endings = ended.get(id).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(endings.len(), 1, "task {id}: {endings:?}");
        assert_eq!(endings[0].node, owner(k), "task {id} ended off its owner");
    }

    // The answers: `Requested` at most once per task, and iff it ended cancelled, with the
    // reason of that request.
    let mut requested: HashMap<TaskId, Vec<String>> = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        let mut answers: HashMap<TaskId, Vec<String>> = HashMap::new();
        for line in node.lines() {
            let words: Vec<&str> = line.split(' ').collect();
            if let ["cancel", id, status] = words.as_slice() {
                assert!(!status.starts_with("error"), "node {i}: {line}");
                answers
                    .entry(id.parse().unwrap())
                    .or_default()
                    .push((*status).to_owned());
            }
        }
        for ((n, id), reasons) in &sent {
            if *n != i {
                continue;
            }
            let statuses = &answers[id];
            assert_eq!(statuses.len(), reasons.len(), "task {id} on node {i}");
            for (status, reason) in statuses.iter().zip(reasons) {
                if status == "Requested" {
                    requested.entry(*id).or_default().push(reason.clone());
                }
            }
        }
    }
    let mut stopped_mid_step = 0;
    for id in &ids {
        let ending = &ended[id][0];
        match requested.get(id).map(Vec::as_slice) {
            None => assert!(
                !ending.cancelled,
                "task {id} ended cancelled, no request won"
            ),
            Some([reason]) => {
                assert!(
                    ending.cancelled,
                    "task {id}: `Requested`, but it {ending:?}"
                );
                assert_eq!(ending.reason, hex(reason), "task {id}: the winning reason");
            }
            Some(many) => panic!("task {id}: {} requests answered `Requested`", many.len()),
        }
        if ending.cancelled && ending.step != "-" {
            stopped_mid_step += 1;
        }
    }

    // Cleanups, counted by themselves: one per task stopped mid-step, none for the others.
    for node in &mut nodes {
        node.flush();
    }
    let (cleanups, unfinished, records) = runtime.block_on(async {
        let client = admin().await;
        let cleanups = client
            .query(
                &format!("SELECT id::text, count(*) FROM \"{schema}\".cleanups GROUP BY id"),
                &[],
            )
            .await
            .expect("counting cleanups");
        let unfinished: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM \"{schema}\".tasks WHERE state <> 'finished'"),
                &[],
            )
            .await
            .expect("counting unfinished records")
            .get(0);
        let records = client
            .query(
                &format!("SELECT id::text, ending, cancel_message FROM \"{schema}\".tasks"),
                &[],
            )
            .await
            .expect("reading the records");
        (cleanups, unfinished, records)
    });
    let mut counted = 0;
    for row in cleanups {
        let id: TaskId = row.get::<_, String>(0).parse().unwrap();
        let count: i64 = row.get(1);
        assert_eq!(count, 1, "task {id}: its cleanup ran {count} times");
        let ending = &ended[&id][0];
        assert!(
            ending.cancelled && ending.step != "-",
            "task {id}: a cleanup ran, yet it {ending:?}"
        );
        counted += 1;
    }
    assert_eq!(
        counted, stopped_mid_step,
        "cleanups counted vs tasks stopped mid-step"
    );
    assert_eq!(unfinished, 0, "records left unfinished");
    assert_eq!(records.len(), ids.len(), "one record per task");
    for row in records {
        let id: TaskId = row.get::<_, String>(0).parse().unwrap();
        let ending_kind: String = row.get(1);
        let message: Option<Vec<u8>> = row.get(2);
        let ending = &ended[&id][0];
        assert_eq!(
            ending_kind == "cancelled",
            ending.cancelled,
            "task {id}'s record"
        );
        if ending.cancelled {
            let message = String::from_utf8(message.unwrap_or_default()).unwrap();
            assert_eq!(hex(&message), ending.reason, "task {id}'s recorded reason");
        }
    }
    // Not a vacuous storm: it cancelled tasks in each state.
    let cancelled = ids.iter().filter(|id| ended[id][0].cancelled).count();
    assert!(cancelled > 0 && stopped_mid_step > 0 && cancelled > stopped_mid_step);
    assert!(cancelled < ids.len());
}
