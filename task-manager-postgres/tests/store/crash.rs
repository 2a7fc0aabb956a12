//! A crash is the loss of a lease: instances as OS processes (`tm-cluster-node`), one killed
//! with `SIGKILL` or paused with `SIGSTOP` mid-step, another claiming its task. Leases are
//! long (a minute) so that nothing expires by itself during a test; the test expires the
//! lost instance's lease explicitly and tells the survivor to claim, then waits only for the
//! lines the instances print.

use task_manager_core::{CancelReason, CancelSource, TaskId};
use task_manager_postgres::{CleanupRecord, Ended, PgCluster, TaskState};

use crate::nodes::Node;
use crate::support::{admin, fresh_schema, join};

/// A minute: no lease expires by itself while a test runs; renewals every 20 s.
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

/// How many cleanups of task `id` ran, on any instance (each inserts its row itself).
async fn cleanups_of(schema: &str, id: TaskId) -> i64 {
    admin()
        .await
        .query_one(
            &format!("SELECT count(*) FROM \"{schema}\".cleanups WHERE id = $1::text::uuid"),
            &[&id.to_string()],
        )
        .await
        .expect("counting cleanups")
        .get(0)
}

async fn fence_of(schema: &str, id: TaskId) -> (i32, Option<String>) {
    let row = admin()
        .await
        .query_one(
            &format!(
                "SELECT fence, lost_instance FROM \"{schema}\".tasks WHERE id = $1::text::uuid"
            ),
            &[&id.to_string()],
        )
        .await
        .expect("reading the fence");
    (row.get(0), row.get(1))
}

/// Claims on `node` until its answer comes; returns the ids it claimed.
fn claim(node: &mut Node) -> Vec<String> {
    let before = node.count(|line| line.starts_with("claims "));
    node.send("claim");
    node.wait_count(|line| line.starts_with("claims "), before + 1);
    node.lines()
        .into_iter()
        .filter_map(|line| line.strip_prefix("claimed ").map(str::to_owned))
        .collect()
}

/// The record of a task whose owner `lost` was lost mid-step `step` and that `claimant`
/// claimed: final, cancelled with `OwnerLost`, the step's cleanup reported lost.
async fn assert_claimed(store: &PgCluster, schema: &str, id: TaskId, lost: &str, claimant: &str) {
    let record = store.status(id).await.unwrap().expect("a record");
    assert_eq!(record.state, TaskState::Finished);
    assert_eq!(record.instance, claimant);
    let cancel = record.cancel.expect("the claim's cancel");
    assert_eq!(
        (cancel.reason, cancel.source),
        (CancelReason::owner_lost(lost), CancelSource::OwnerLost)
    );
    let ending = record.ending.expect("an ending");
    assert_eq!(
        ending.ended,
        Ended::Cancelled {
            step: Some("s0".into())
        }
    );
    assert_eq!(
        ending.cleanup,
        Some(CleanupRecord::Lost { step: "s0".into() })
    );
    assert_eq!(fence_of(schema, id).await, (1, Some(lost.to_owned())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_mid_step_is_claimed_by_another_and_its_record_ends_final() {
    let schema = fresh_schema("crash_kill").await;
    let mut a = Node::start_with_lease(&schema, "a", LEASE_MS, RENEW_MS);
    let mut b = Node::start_with_lease(&schema, "b", LEASE_MS, RENEW_MS);
    let id = TaskId::new();
    a.submit(id, true, 0);
    a.wait_line(|line| line == format!("began {id} 0"));
    a.flush();
    a.kill();
    // What a minute of silence would do to a's lease.
    expire(&schema, "a").await;
    let claimed = claim(&mut b);
    assert_eq!(claimed, [id.to_string()]);
    let store = join(&schema, "observer").await;
    assert_claimed(&store, &schema, id, "a", "b").await;
    // The killed instance ran no cleanup, and the claimant runs none (not built yet: the
    // record says `lost`).
    assert_eq!(cleanups_of(&schema, id).await, 0);
    // Anyone learns the ending from the record: a cancel on b finds it decided, and awaiting
    // it gives the recorded cleanup.
    b.cancel(id, "user left");
    assert_eq!(b.answer(&format!("cancel {id}")), ["AlreadyRequested"]);
    assert_eq!(b.answer(&format!("cancelled {id}")), ["lost:s0"]);
    // Claiming again finds nothing: one claim per task.
    b.send("claim");
    b.wait_count(|line| line == "claims 0", 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_owner_past_its_lease_writes_nothing_more_runs_no_cleanup_and_abandons_its_task() {
    let schema = fresh_schema("crash_pause").await;
    let mut a = Node::start_with_lease(&schema, "a", LEASE_MS, RENEW_MS);
    let mut b = Node::start_with_lease(&schema, "b", LEASE_MS, RENEW_MS);
    let id = TaskId::new();
    a.submit(id, true, 0);
    a.wait_line(|line| line == format!("began {id} 0"));
    a.flush();
    a.signal("STOP");
    expire(&schema, "a").await;
    assert_eq!(claim(&mut b), [id.to_string()]);
    let store = join(&schema, "observer").await;
    let claimed = store.status(id).await.unwrap().expect("a record");
    a.signal("CONT");
    // The paused owner wakes, not knowing yet, and its task goes on: its step ends and the
    // next begins, whose boundary it writes with its old lease: refused.
    a.open(id, 0);
    a.wait_line(|line| line == format!("began {id} 1"));
    a.flush();
    assert_eq!(store.status(id).await.unwrap().unwrap(), claimed);
    a.send("dropped");
    // Step s1 waits for resource `r` first: its boundary is told then, and again when it
    // begins. Both refused.
    assert_eq!(
        a.answer("dropped"),
        ["2"],
        "the step boundaries, refused as fenced"
    );
    // It learns that its lease is gone: its task is abandoned where it stands.
    a.send("renew");
    let renewal = a.answer("lease");
    assert!(
        renewal[0] == "lost" || renewal[0] == "renewed",
        "a renewal: {renewal:?} (`renewed` if its own renewal found the loss first)"
    );
    a.wait_line(|line| line == format!("ended {id} abandoned s1 -"));
    a.flush();
    assert_eq!(store.status(id).await.unwrap().unwrap(), claimed);
    assert_claimed(&store, &schema, id, "a", "b").await;
    // No cleanup ran anywhere: the owner abandoned its task, the claimant ran none.
    assert_eq!(cleanups_of(&schema, id).await, 0);
    assert_eq!(a.count(|line| line.starts_with("cleanup ")), 0);
    // The woken instance goes on with a new lease: it takes and finishes new tasks.
    let next = TaskId::new();
    a.submit(next, false, 0);
    a.wait_line(|line| line == format!("ended {next} completed - -"));
    a.flush();
    let record = store.status(next).await.unwrap().unwrap();
    assert_eq!(
        (record.state, record.instance.as_str()),
        (TaskState::Finished, "a")
    );
}

/// The cleanups of task `id` that ran, on any instance: (step, reason) each.
async fn cleanups_run(schema: &str, id: TaskId) -> Vec<(i32, String)> {
    admin()
        .await
        .query(
            &format!(
                "SELECT step, convert_from(reason, 'UTF8') FROM \"{schema}\".cleanups \
                 WHERE id = $1::text::uuid ORDER BY step"
            ),
            &[&id.to_string()],
        )
        .await
        .expect("reading cleanups")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

/// Starts a `durable` task on `owner` and lets its first step complete: its second step
/// (`d1`) is in progress, and the record says so.
fn durable_in_second_step(owner: &mut Node) -> TaskId {
    let id = TaskId::new();
    owner.send(&format!("durable {id} 1 0"));
    owner.wait_line(|line| line == format!("began {id} 0"));
    owner.open(id, 0);
    owner.wait_line(|line| line == format!("began {id} 1"));
    owner.flush();
    id
}

/// The record of a `durable` task whose step `d1` was cleaned up by `claimant`.
async fn assert_recovered(store: &PgCluster, schema: &str, id: TaskId, lost: &str, claimant: &str) {
    let record = store.status(id).await.unwrap().expect("a record");
    assert_eq!(
        (record.state, record.instance.as_str()),
        (TaskState::Finished, claimant)
    );
    let cancel = record.cancel.expect("the claim's cancel");
    assert_eq!(cancel.reason, CancelReason::owner_lost(lost));
    let ending = record.ending.expect("an ending");
    assert_eq!(
        ending.ended,
        Ended::Cancelled {
            step: Some("d1".into())
        }
    );
    assert!(
        matches!(&ending.cleanup, Some(CleanupRecord::Completed { step, .. }) if step == "d1"),
        "{:?}",
        ending.cleanup
    );
    assert_eq!(ending.steps_completed, 1);
    assert_eq!(fence_of(schema, id).await, (1, Some(lost.to_owned())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_mid_step_has_that_steps_cleanup_run_once_by_the_instance_that_claims_it(
) {
    let schema = fresh_schema("crash_recover").await;
    let mut a = Node::start_with_lease(&schema, "a", LEASE_MS, RENEW_MS);
    let mut b = Node::start_with_lease(&schema, "b", LEASE_MS, RENEW_MS);
    let id = durable_in_second_step(&mut a);
    a.kill();
    expire(&schema, "a").await;
    assert_eq!(claim(&mut b), [id.to_string()]);
    // b runs the interrupted step's cleanup (and only that step's), with the loss as reason.
    b.wait_line(|line| line == format!("cleanup {id} 1"));
    b.open(id, 101);
    b.flush();
    assert_eq!(
        cleanups_run(&schema, id).await,
        [(1, "its instance `a` was lost".to_owned())]
    );
    let store = join(&schema, "observer").await;
    assert_recovered(&store, &schema, id, "a", "b").await;
    // Anyone learns how it ended, from the record.
    b.cancel(id, "user left");
    assert_eq!(b.answer(&format!("cancel {id}")), ["AlreadyRequested"]);
    assert_eq!(b.answer(&format!("cancelled {id}")), ["completed:d1"]);
    // Claimed once: claiming again finds nothing, and the cleanup ran once.
    b.send("claim");
    b.wait_count(|line| line == "claims 0", 1);
    b.flush();
    assert_eq!(cleanups_run(&schema, id).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_owner_whose_task_was_claimed_and_cleaned_up_elsewhere_runs_no_second_cleanup() {
    let schema = fresh_schema("crash_recover_pause").await;
    let mut a = Node::start_with_lease(&schema, "a", LEASE_MS, RENEW_MS);
    let mut b = Node::start_with_lease(&schema, "b", LEASE_MS, RENEW_MS);
    let id = durable_in_second_step(&mut a);
    a.signal("STOP");
    expire(&schema, "a").await;
    assert_eq!(claim(&mut b), [id.to_string()]);
    b.wait_line(|line| line == format!("cleanup {id} 1"));
    b.open(id, 101);
    b.flush();
    let store = join(&schema, "observer").await;
    assert_recovered(&store, &schema, id, "a", "b").await;
    let recorded = store.status(id).await.unwrap();
    a.signal("CONT");
    // The owner wakes, its step ends and the next boundary is refused; then it learns that
    // its lease is gone and abandons the task: its cleanup does not run there.
    a.open(id, 1);
    a.wait_line(|line| line == format!("began {id} 2"));
    a.flush();
    a.send("renew");
    a.answer("lease");
    a.wait_line(|line| line == format!("ended {id} abandoned d2 -"));
    a.flush();
    assert_eq!(store.status(id).await.unwrap(), recorded);
    assert_eq!(a.count(|line| line.starts_with("cleanup ")), 0);
    assert_eq!(
        cleanups_run(&schema, id).await.len(),
        1,
        "one cleanup, by b"
    );
}

/// What the cleanup and compensations of task `id` did, in the order they ran (each inserts
/// its row itself).
async fn undos_of(schema: &str, id: TaskId) -> Vec<String> {
    admin()
        .await
        .query(
            &format!("SELECT what FROM \"{schema}\".undos WHERE id = $1::text::uuid ORDER BY seq"),
            &[&id.to_string()],
        )
        .await
        .expect("reading undos")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_mid_step_has_the_cleanup_then_the_compensations_of_its_completed_steps_run_by_the_claimant(
) {
    let schema = fresh_schema("crash_compensate").await;
    let mut a = Node::start_with_lease(&schema, "a", LEASE_MS, RENEW_MS);
    let mut b = Node::start_with_lease(&schema, "b", LEASE_MS, RENEW_MS);
    // Steps `u0` and `u1` complete (outputs 10 and 11); `u2` waits for its gate.
    let id = TaskId::new();
    a.send(&format!("undoable {id} 1 0"));
    a.wait_line(|line| line == format!("began {id} 2"));
    a.flush();
    a.kill();
    expire(&schema, "a").await;
    assert_eq!(claim(&mut b), [id.to_string()]);
    b.wait_line(|line| line == format!("undo {id} compensate u0 10"));
    b.flush();
    // The cleanup of `u2`, then the compensations of `u1` and `u0` from their persisted
    // outputs, each once, all on b.
    assert_eq!(
        undos_of(&schema, id).await,
        ["cleanup u2", "compensate u1 11", "compensate u0 10"]
    );
    let store = join(&schema, "observer").await;
    let ending = store
        .status(id)
        .await
        .unwrap()
        .expect("a record")
        .ending
        .expect("an ending");
    assert_eq!(
        ending.ended,
        Ended::Cancelled {
            step: Some("u2".into())
        }
    );
    assert!(
        matches!(&ending.cleanup, Some(CleanupRecord::Completed { step, .. }) if step == "u2"),
        "{:?}",
        ending.cleanup
    );
    // Claimed once: claiming again finds nothing, and nothing ran twice.
    b.send("claim");
    b.wait_count(|line| line == "claims 0", 1);
    b.flush();
    assert_eq!(undos_of(&schema, id).await.len(), 3);
}
