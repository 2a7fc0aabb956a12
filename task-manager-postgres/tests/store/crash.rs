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
