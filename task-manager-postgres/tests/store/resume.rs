//! `#[flow(on_owner_lost = resume)]` against a real server, instances as OS processes
//! (`tm-cluster-node`'s `resumable` flow: steps `r0`, `r1`, `r2`, each counting itself in the
//! schema's `completions` table as it returns, cleanups counted in `cleanups`, `r0`'s
//! compensation in `undos`). An owner killed with `SIGKILL` mid-step: the claimant runs the
//! lost step's cleanup, then that step again, and finishes the task; its tasks waiting in
//! their flow's line, not begun, are run from their first step. Leases are long and
//! expired explicitly, as in `crash.rs`; the test waits only for the lines the instances
//! print.

use task_manager_core::{CancelReason, CancelSource, RecordedCompensation, TaskId};
use task_manager_postgres::{CleanupRecord, Ended, TaskState};

use crate::nodes::Node;
use crate::support::{admin, fresh_schema, join};

const LEASE_MS: u64 = 60_000;
const RENEW_MS: u64 = 20_000;

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

/// Claims on `node`; returns how many tasks it claimed.
fn claim(node: &mut Node) -> usize {
    let before = node.count(|line| line.starts_with("claims "));
    node.send("claim");
    node.wait_count(|line| line.starts_with("claims "), before + 1);
    let answer = node.answer("claims");
    answer[answer.len() - 1].parse().expect("a count")
}

/// The rows of `table` (`completions` or `cleanups`) for task `id`: the steps, in order.
async fn steps_in(schema: &str, table: &str, id: TaskId) -> Vec<i32> {
    admin()
        .await
        .query(
            &format!(
                "SELECT step FROM \"{schema}\".{table} WHERE id = $1::text::uuid ORDER BY step"
            ),
            &[&id.to_string()],
        )
        .await
        .expect("reading the counts")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

async fn undos(schema: &str, id: TaskId) -> Vec<String> {
    admin()
        .await
        .query(
            &format!("SELECT what FROM \"{schema}\".undos WHERE id = $1::text::uuid ORDER BY seq"),
            &[&id.to_string()],
        )
        .await
        .expect("reading the undos")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// The rest of the first `count` lines of `node` that start with `prefix`, once it printed
/// them.
fn lines_of(node: &mut Node, prefix: &str, count: usize) -> Vec<String> {
    node.wait_count(|line| line.starts_with(prefix), count);
    node.lines()
        .iter()
        .filter_map(|line| line.strip_prefix(prefix).map(str::to_owned))
        .take(count)
        .collect()
}

/// Task `id`'s outcome as `node` reads it back from the store (`outcome TAG ID HOW`): the
/// answer's words.
fn outcome(node: &mut Node, tag: &str, id: TaskId, how: &str) -> Vec<String> {
    node.send(&format!("outcome {tag} {id} {how}"));
    node.answer(&format!("outcome {tag}"))
}

/// Submits a gated resumable task on `node` and lets it run into step `step`.
fn run_into(node: &mut Node, id: TaskId, step: u32) {
    node.send(&format!("resumable {id} 1 0"));
    for gate in 0..step {
        node.open(id, gate);
    }
    node.wait_line(|line| line == format!("began {id} {step}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_killed_while_its_resumable_tasks_wait_unbegun_has_them_resumed_from_their_first_step(
) {
    let schema = fresh_schema("resume_unbegun").await;
    // The `resumable` flow limited to one task at once across the cluster: the first task
    // holds the permit in `r0`, the others wait in the line, not begun.
    let settings =
        format!("lease_ms={LEASE_MS},renew_ms={RENEW_MS},resumable_limit=1,recheck_ms=20");
    let mut a = Node::start_with(&schema, "a", &settings);
    let mut b = Node::start_with(&schema, "b", &settings);
    let first = TaskId::new();
    run_into(&mut a, first, 0);
    let waiting: Vec<TaskId> = (0..3).map(|_| TaskId::new()).collect();
    for id in &waiting {
        a.send(&format!("resumable {id} 0 0"));
        a.wait_line(|line| line == format!("submitted {id} ok"));
    }
    a.flush();
    let store = join(&schema, "observer").await;
    for id in &waiting {
        let record = store.status(*id).await.unwrap().expect("a record");
        assert_eq!(
            (record.state, record.step),
            (TaskState::Queued, None),
            "task {id} waits unbegun"
        );
    }
    a.kill();
    expire(&schema, "a").await;
    assert_eq!(claim(&mut b), 1 + waiting.len());
    // The first task's lost step is cleaned up and run again; the waiting ones run from
    // their first step, each taking its place in the line again.
    b.open(first, 100);
    for gate in 0..3 {
        b.open(first, gate);
    }
    for id in waiting.iter().chain([&first]) {
        let finished = b.wait_line(|line| line.starts_with(&format!("finished {id} ")));
        assert_eq!(finished, format!("finished {id} completed"));
    }
    b.flush();
    assert_eq!(steps_in(&schema, "cleanups", first).await, [0]);
    for id in &waiting {
        // Every step once, on b; no cleanup (no step had begun).
        assert_eq!(steps_in(&schema, "completions", *id).await, [0, 1, 2]);
        assert!(steps_in(&schema, "cleanups", *id).await.is_empty());
        assert!(!b.lines().contains(&format!("cleanup {id} 0")));
        let record = store.status(*id).await.unwrap().expect("a record");
        assert_eq!(record.state, TaskState::Finished);
        assert_eq!(record.instance, "b");
        assert_eq!(record.steps_completed, 3);
        assert!(record.cancel.is_none(), "the claim's cancel was cleared");
        assert_eq!(record.ending.expect("an ending").ended, Ended::Completed);
    }
    assert!(
        !b.lines().iter().any(|line| line.starts_with("error ")),
        "{:?}",
        b.lines()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_killed_mid_step_has_each_resumable_task_finished_by_the_claimant() {
    let schema = fresh_schema("resume_kill").await;
    let mut a = Node::start_with_lease(&schema, "a", LEASE_MS, RENEW_MS);
    let mut b = Node::start_with_lease(&schema, "b", LEASE_MS, RENEW_MS);
    let mut c = Node::start_with_lease(&schema, "c", LEASE_MS, RENEW_MS);
    // Two tasks lost in each step.
    let tasks: Vec<(TaskId, u32)> = (0..6).map(|i| (TaskId::new(), i % 3)).collect();
    for &(id, step) in &tasks {
        run_into(&mut a, id, step);
    }
    a.flush();
    a.kill();
    expire(&schema, "a").await;
    // A third instance asks for the outcome of a task that is not finished: it does not
    // wait for it (`try_`), and says so.
    assert_eq!(
        outcome(&mut c, "early", tasks[0].0, "try_resumable"),
        ["running"]
    );
    assert_eq!(claim(&mut b), tasks.len());
    for &(id, step) in &tasks {
        // The lost step's cleanup, then that step and the later ones, on b.
        b.open(id, 100 + step);
        for gate in step..3 {
            b.open(id, gate);
        }
    }
    for &(id, _) in &tasks {
        b.wait_line(|line| line == format!("finished {id} completed"));
    }
    b.flush();
    // Each task's output, which its handle (on a, killed) can no longer hand to anyone,
    // read back typed on c, a third instance: the value b's last step computed.
    for (n, &(id, _)) in tasks.iter().enumerate() {
        assert_eq!(
            outcome(&mut c, &format!("t{n}"), id, "resumable"),
            ["completed".to_owned(), format!("{id}:12")],
            "task {id}"
        );
    }
    let store = join(&schema, "observer").await;
    for &(id, step) in &tasks {
        // Each step completed once, across both instances: those completed on a never ran
        // again; the lost one began twice and completed once, on b.
        assert_eq!(steps_in(&schema, "completions", id).await, [0, 1, 2]);
        // The lost attempt's cleanup ran once, on b (a was killed before any).
        assert_eq!(steps_in(&schema, "cleanups", id).await, [step as i32]);
        assert!(b.lines().contains(&format!("cleanup {id} {step}")));
        assert!(undos(&schema, id).await.is_empty(), "nothing compensated");
        let record = store.status(id).await.unwrap().expect("a record");
        assert_eq!(record.state, TaskState::Finished);
        assert_eq!(record.instance, "b");
        assert_eq!(record.steps_completed, 3);
        assert!(record.cancel.is_none(), "the claim's cancel was cleared");
        assert_eq!(record.ending.expect("an ending").ended, Ended::Completed);
    }
    assert!(
        !b.lines().iter().any(|line| line.starts_with("error ")),
        "{:?}",
        b.lines()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_task_lost_again_is_resumed_again_and_each_lost_attempt_cleaned_up_once() {
    let schema = fresh_schema("resume_twice").await;
    let mut a = Node::start_with_lease(&schema, "a", LEASE_MS, RENEW_MS);
    let mut b = Node::start_with_lease(&schema, "b", LEASE_MS, RENEW_MS);
    let mut c = Node::start_with_lease(&schema, "c", LEASE_MS, RENEW_MS);
    let id = TaskId::new();
    run_into(&mut a, id, 1);
    a.kill();
    expire(&schema, "a").await;
    assert_eq!(claim(&mut b), 1);
    // b cleans up a's attempt and begins step 1 again, where it is killed in turn.
    b.open(id, 101);
    b.wait_line(|line| line == format!("began {id} 1"));
    b.kill();
    expire(&schema, "b").await;
    assert_eq!(claim(&mut c), 1);
    c.open(id, 101);
    c.open(id, 1);
    c.open(id, 2);
    c.wait_line(|line| line == format!("finished {id} completed"));
    c.flush();
    assert_eq!(steps_in(&schema, "completions", id).await, [0, 1, 2]);
    // One cleanup per interrupted attempt of step 1: a's (run by b), b's (run by c).
    assert_eq!(steps_in(&schema, "cleanups", id).await, [1, 1]);
    let record = join(&schema, "observer")
        .await
        .status(id)
        .await
        .unwrap()
        .expect("a record");
    assert_eq!(record.instance, "c");
    assert_eq!(record.ending.expect("an ending").ended, Ended::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_task_is_cancelled_from_another_instance_and_compensated() {
    let schema = fresh_schema("resume_cancel").await;
    let mut a = Node::start_with_lease(&schema, "a", LEASE_MS, RENEW_MS);
    let mut b = Node::start_with_lease(&schema, "b", LEASE_MS, RENEW_MS);
    let mut c = Node::start_with_lease(&schema, "c", LEASE_MS, RENEW_MS);
    let id = TaskId::new();
    run_into(&mut a, id, 1);
    a.kill();
    expire(&schema, "a").await;
    assert_eq!(claim(&mut b), 1);
    b.open(id, 101);
    b.wait_line(|line| line == format!("began {id} 1"));
    // c cancels the task that b resumed: decided in the store, delivered to b.
    c.cancel(id, "user left");
    assert_eq!(c.answer(&format!("cancel {id}")), ["Requested"]);
    b.open(id, 101);
    b.wait_line(|line| line == format!("finished {id} cancelled"));
    assert_eq!(c.answer(&format!("cancelled {id}")), ["completed:r1"]);
    // Read back typed from c, the task ended cancelled at r1 with b's cleanup of it.
    assert_eq!(
        outcome(&mut c, "cancelled", id, "resumable"),
        ["cancelled", "r1", "completed:r1"]
    );
    // Step 1's cleanup for a's attempt and for b's; r0 (completed on a) compensated on b.
    assert_eq!(steps_in(&schema, "cleanups", id).await, [1, 1]);
    assert_eq!(steps_in(&schema, "completions", id).await, [0]);
    assert_eq!(undos(&schema, id).await, ["compensate r0 10"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_during_the_claimants_cleanup_wins_and_the_task_does_not_run_again() {
    let schema = fresh_schema("resume_cancel_cleanup").await;
    let mut a = Node::start_with_lease(&schema, "a", LEASE_MS, RENEW_MS);
    let mut b = Node::start_with_lease(&schema, "b", LEASE_MS, RENEW_MS);
    let mut c = Node::start_with_lease(&schema, "c", LEASE_MS, RENEW_MS);
    let id = TaskId::new();
    run_into(&mut a, id, 1);
    a.kill();
    expire(&schema, "a").await;
    assert_eq!(claim(&mut b), 1);
    // b's cleanup of a's attempt has begun, and waits on its gate: the record is
    // `cancelling` with the claim's `OwnerLost`.
    b.wait_line(|line| line == format!("cleanup {id} 1"));
    // c's cancel is a new decision: the task would otherwise run again.
    c.cancel(id, "user left");
    assert_eq!(c.answer(&format!("cancel {id}")), ["Requested"]);
    c.cancel(id, "again");
    assert_eq!(
        lines_of(&mut c, &format!("cancel {id} "), 2),
        ["Requested", "AlreadyRequested"]
    );
    let store = join(&schema, "observer").await;
    let record = store.status(id).await.unwrap().expect("a record");
    assert_eq!(record.state, TaskState::Cancelling);
    let cancel = record.cancel.expect("the user's cancel");
    assert_eq!(cancel.reason, CancelReason::from("user left"));
    assert_eq!(cancel.source, CancelSource::Request);
    assert_eq!(cancel.requested_by, "c");
    // The cleanup ends; b compensates r0 (completed on a) and records the ending.
    b.open(id, 101);
    b.flush();
    // Both callers' `Cancellation`s yield the recorded cleanup.
    assert_eq!(
        lines_of(&mut c, &format!("cancelled {id} "), 2),
        ["completed:r1", "completed:r1"]
    );
    // r1 never began again on b, and its cleanup ran once (a's attempt's, on b).
    assert!(
        !b.lines().contains(&format!("began {id} 1")),
        "{:?}",
        b.lines()
    );
    assert_eq!(steps_in(&schema, "cleanups", id).await, [1]);
    assert_eq!(steps_in(&schema, "completions", id).await, [0]);
    assert_eq!(undos(&schema, id).await, ["compensate r0 10"]);
    let record = store.status(id).await.unwrap().expect("a record");
    assert_eq!(record.state, TaskState::Finished);
    assert_eq!(record.instance, "b");
    let cancel = record.cancel.expect("the user's cancel");
    assert_eq!(cancel.reason, CancelReason::from("user left"));
    assert_eq!(cancel.source, CancelSource::Request);
    let ending = record.ending.expect("an ending");
    assert_eq!(
        ending.ended,
        Ended::Cancelled {
            step: Some("r1".to_owned())
        }
    );
    assert_eq!(ending.steps_completed, 1);
    assert!(
        matches!(&ending.cleanup, Some(CleanupRecord::Completed { step, .. }) if step == "r1"),
        "{:?}",
        ending.cleanup
    );
    assert!(
        matches!(&ending.compensations[..], [RecordedCompensation::Completed { step, .. }] if step == "r0"),
        "{:?}",
        ending.compensations
    );
}

/// The same window for a flow with `on_owner_lost = cancel` (`durable`): the cancel wins
/// too, and its reason becomes the ending's; the cleanup runs once, as it would have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_during_the_claimants_cleanup_of_a_cancelled_flow_wins_with_its_reason() {
    let schema = fresh_schema("cancel_cleanup_window").await;
    let mut a = Node::start_with_lease(&schema, "a", LEASE_MS, RENEW_MS);
    let mut b = Node::start_with_lease(&schema, "b", LEASE_MS, RENEW_MS);
    let mut c = Node::start_with_lease(&schema, "c", LEASE_MS, RENEW_MS);
    let id = TaskId::new();
    a.send(&format!("durable {id} 1 0"));
    a.open(id, 0);
    a.wait_line(|line| line == format!("began {id} 1"));
    a.flush();
    a.kill();
    expire(&schema, "a").await;
    assert_eq!(claim(&mut b), 1);
    b.wait_line(|line| line == format!("cleanup {id} 1"));
    c.cancel(id, "user left");
    assert_eq!(c.answer(&format!("cancel {id}")), ["Requested"]);
    b.open(id, 101);
    b.flush();
    assert_eq!(c.answer(&format!("cancelled {id}")), ["completed:d1"]);
    assert_eq!(steps_in(&schema, "cleanups", id).await, [1]);
    let record = join(&schema, "observer")
        .await
        .status(id)
        .await
        .unwrap()
        .expect("a record");
    assert_eq!(record.state, TaskState::Finished);
    let cancel = record.cancel.expect("the user's cancel");
    assert_eq!(cancel.reason, CancelReason::from("user left"));
    assert_eq!(cancel.source, CancelSource::Request);
    assert_eq!(
        record.ending.expect("an ending").ended,
        Ended::Cancelled {
            step: Some("d1".to_owned())
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_that_cannot_be_read_back_says_why_naming_the_task() {
    let schema = fresh_schema("resume_outcome_errors").await;
    let mut a = Node::start_with_lease(&schema, "a", LEASE_MS, RENEW_MS);
    let mut b = Node::start_with_lease(&schema, "b", LEASE_MS, RENEW_MS);
    let (kept, not_kept) = (TaskId::new(), TaskId::new());
    a.send(&format!("resumable {kept} 0 0"));
    a.send(&format!("durable {not_kept} 0 0"));
    for id in [kept, not_kept] {
        a.wait_line(|line| line == format!("ended {id} completed - -"));
    }
    // Read on b, typed: the kept output as its own type and through the generic call.
    assert_eq!(
        outcome(&mut b, "kept", kept, "resumable"),
        ["completed".to_owned(), format!("{kept}:12")]
    );
    assert_eq!(
        outcome(&mut b, "generic", kept, "string"),
        ["completed".to_owned(), format!("{kept}:12")]
    );
    let error = |words: &[String]| -> (String, String) {
        assert_eq!(words[0], "error", "{words:?}");
        let bytes: Vec<u8> = (0..words[2].len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&words[2][i..i + 2], 16).expect("hex"))
            .collect();
        (words[1].clone(), String::from_utf8(bytes).expect("utf-8"))
    };
    // The same output asked as another type.
    let (kind, text) = error(&outcome(&mut b, "wrong", kept, "u64"));
    assert_eq!(kind, "WrongType");
    assert_eq!(
        text,
        format!("task {kept}: its output, kept by flow `resumable`, does not read back as `u64`")
    );
    // A flow with `on_owner_lost = cancel` keeps no output.
    let (kind, text) = error(&outcome(&mut b, "not_kept", not_kept, "string"));
    assert_eq!(kind, "NotKept");
    assert!(
        text.starts_with(&format!("task {not_kept}: it completed, but its record keeps no output: flow `durable` keeps none")),
        "{text}"
    );
    // A flow's own call, for a task of another flow.
    let (kind, text) = error(&outcome(&mut b, "other", not_kept, "resumable"));
    assert_eq!(kind, "OtherFlow");
    assert_eq!(
        text,
        format!("task {not_kept}: it is a task of flow `durable`, not of `resumable`")
    );
    // No record at all.
    let unknown = TaskId::new();
    let (kind, text) = error(&outcome(&mut b, "unknown", unknown, "resumable"));
    assert_eq!(kind, "NotFound");
    assert!(text.starts_with(&format!("task {unknown}: no instance has a record of it")));
}
