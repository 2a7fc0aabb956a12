//! Claims of tasks a flow cleans up (`on_owner_lost = cancel`, `src/recover.rs`) that race:
//! two instances claiming the same lost tasks at the same moment, and a claim cut by a
//! restart of the server (before it committed, and after, while the claimant's cleanups
//! run and their endings are written). Instances are managers in this process, each on a
//! `PgCluster` of its own with a long lease (no renewal, and so no claim of their own,
//! during the test); the owner's lease is expired by the test. The moment of the race is
//! made explicit: the test holds the lost records' row locks in a transaction of its own,
//! waits until the claims are blocked on them at the server (`pg_stat_activity`), then lets
//! them go (or stops the server).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use task_manager_core::{flow, CancelReason, HasTaskManager, Passport, Task, TaskId, TaskManager};
use task_manager_postgres::{CleanupRecord, Ended, PgCluster, TaskState};
use tokio::sync::{Notify, Semaphore};
use tokio_postgres::Client;

use crate::restart::OwnServer;
use crate::support::{connect_to, fresh_schema, url};

/// How many tasks the lost owner leaves.
const TASKS: usize = 12;
/// The permits of the cleanups' gate: all of them held closes it.
const CLEANUP_PERMITS: u32 = 1_000;

/// One instance's service: its step waits for ever, its cleanup waits for `cleanups` (open
/// unless a test closes it) and is journaled.
#[derive(HasTaskManager)]
struct Held {
    tasks: TaskManager,
    instance: &'static str,
    began: Arc<(Mutex<usize>, Notify)>,
    cleanups: Arc<Semaphore>,
    journal: Arc<Mutex<Vec<(String, TaskId)>>>,
}

#[flow(name = held, on_owner_lost = cancel)]
impl Held {
    #[step(cancel = release)]
    async fn hold(&self, _task: &mut Task<u32>) -> Result<(), Infallible> {
        *self.began.0.lock().unwrap() += 1;
        self.began.1.notify_waiters();
        std::future::pending::<()>().await;
        Ok(())
    }

    async fn release(&self, task: &mut Task<u32>, reason: CancelReason) {
        let _permit = self.cleanups.acquire().await.expect("never closed");
        self.journal
            .lock()
            .unwrap()
            .push((format!("{}: {reason}", self.instance), task.id()));
    }
}

/// An instance of `schema` on the server at `url`, with a lease no renewal comes back to
/// within the test, and the `held` flow registered.
async fn instance(
    url: &str,
    schema: &str,
    name: &'static str,
    journal: &Arc<Mutex<Vec<(String, TaskId)>>>,
) -> (PgCluster, Arc<Held>) {
    let cluster = PgCluster::connect(url)
        .instance(name)
        .schema(schema)
        .lease(Duration::from_secs(600), Duration::from_secs(300))
        .await
        .unwrap_or_else(|e| panic!("joining as `{name}`: {e}"));
    let tasks = TaskManager::builder()
        .cluster(cluster.clone())
        .build()
        .expect("builds");
    let held = Arc::new(Held {
        tasks,
        instance: name,
        began: Arc::default(),
        cleanups: Arc::new(Semaphore::new(CLEANUP_PERMITS as usize)),
        journal: Arc::clone(journal),
    });
    held.register_held();
    (cluster, held)
}

type Handle = task_manager_core::TaskHandle<(), Infallible, ()>;

/// `TASKS` tasks submitted on `owner`, each in its step (so its boundary, with its state,
/// is written); their handles are kept, so that no task is cancelled by a dropped handle.
async fn tasks_in_their_step(owner: &Arc<Held>) -> (Vec<TaskId>, Vec<Handle>) {
    let mut ids = Vec::new();
    let mut handles = Vec::new();
    for n in 0..TASKS {
        let handle = owner
            .tasks
            .submit_in_cluster(Passport::new(n as u32), |p| owner.execute_held(p))
            .await
            .expect("submitted");
        ids.push(handle.id());
        handles.push(handle);
    }
    loop {
        let began = owner.began.1.notified();
        if *owner.began.0.lock().unwrap() == TASKS {
            return (ids, handles);
        }
        began.await;
    }
}

async fn expire(admin: &Client, schema: &str, instance: &str) {
    admin
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

/// Locks the records of `instance` in a transaction on `locker`, until it commits (or its
/// connection is cut).
async fn lock_records(locker: &Client, schema: &str, instance: &str) {
    locker.batch_execute("BEGIN").await.expect("begin");
    let locked = locker
        .query(
            &format!("SELECT id FROM \"{schema}\".tasks WHERE instance = $1 FOR UPDATE"),
            &[&instance],
        )
        .await
        .expect("locking the lost records");
    assert_eq!(locked.len(), TASKS);
}

/// Waits until `claims` statements on `schema`'s tasks wait for a row lock at the server.
async fn claims_blocked(admin: &Client, schema: &str, claims: i64) {
    let pattern = format!("%\"{schema}\".tasks%");
    loop {
        let blocked: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE wait_event_type = 'Lock' AND query LIKE $1",
                &[&pattern],
            )
            .await
            .expect("reading pg_stat_activity")
            .get(0);
        assert!(blocked <= claims, "{blocked} statements blocked");
        if blocked == claims {
            return;
        }
        tokio::task::yield_now().await;
    }
}

/// The claim columns of task `id`: (instance, fence).
async fn claimed_by(admin: &Client, schema: &str, id: TaskId) -> (String, i32) {
    let row = admin
        .query_one(
            &format!("SELECT instance, fence FROM \"{schema}\".tasks WHERE id = $1::text::uuid"),
            &[&id.to_string()],
        )
        .await
        .expect("reading the claim columns");
    (row.get(0), row.get(1))
}

/// Every task ended once, cancelled in its step by the loss of `a`, with its cleanup run
/// exactly once, by the instance that claimed it, and recorded; claimed once (fence 1).
async fn each_cleaned_up_once(
    admin: &Client,
    schema: &str,
    reader: &PgCluster,
    ids: &[TaskId],
    journal: &Arc<Mutex<Vec<(String, TaskId)>>>,
) {
    let journal = journal.lock().unwrap().clone();
    assert_eq!(
        journal.len(),
        ids.len(),
        "one cleanup per task: {journal:?}"
    );
    for id in ids {
        let runs: Vec<&String> = journal
            .iter()
            .filter(|(_, ran)| ran == id)
            .map(|(who, _)| who)
            .collect();
        let (instance, fence) = claimed_by(admin, schema, *id).await;
        assert_eq!(fence, 1, "{id} claimed once");
        assert_eq!(
            runs,
            [&format!("{instance}: its instance `a` was lost")],
            "{id}: the cleanup ran once, on its claimant"
        );
        let record = reader.status(*id).await.expect("read").expect("a record");
        assert_eq!(record.state, TaskState::Finished, "{id}");
        let ending = record.ending.expect("ended");
        assert_eq!(
            ending.ended,
            Ended::Cancelled {
                step: Some("hold".into())
            }
        );
        assert!(
            matches!(&ending.cleanup, Some(CleanupRecord::Completed { step, .. }) if step == "hold"),
            "{:?}",
            ending.cleanup
        );
    }
}

async fn claim_until_answered(cluster: &PgCluster) -> Vec<task_manager_postgres::ClaimedTask> {
    let mut wait = Duration::from_millis(10);
    loop {
        match cluster.claim_expired().await {
            Ok(claimed) => return claimed,
            // The server is back, the instance's connections not yet: ask again.
            Err(error) if error.is_unavailable() => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_millis(500));
            }
            Err(error) => panic!("claiming: {error}"),
        }
    }
}

/// Waits until every record of `schema` is in `state` (a row the test reads, again and again).
async fn all_records(admin: &Client, schema: &str, state: &str) {
    loop {
        let left: i64 = admin
            .query_one(
                &format!("SELECT count(*) FROM \"{schema}\".tasks WHERE state <> $1"),
                &[&state],
            )
            .await
            .expect("reading the records")
            .get(0);
        if left == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// Each instance claims right after it attaches (its first renewal), so the claims of these
// tests are the claimants' own: the test locks the lost records and expires the owner's
// lease before the claimants join, and their first claims wait on the locks.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_claiming_recoverable_tasks_at_once_take_each_once_and_clean_it_up_once() {
    let schema = fresh_schema("claim_race_recover").await;
    let journal = Arc::default();
    let (_a, owner) = instance(url(), &schema, "a", &journal).await;
    let (ids, _handles) = tasks_in_their_step(&owner).await;
    let admin = connect_to(url()).await;
    let locker = connect_to(url()).await;
    lock_records(&locker, &schema, "a").await;
    expire(&admin, &schema, "a").await;
    // Both claims reach the server and wait on the same rows; then both go at once.
    let (b, _b_flow) = instance(url(), &schema, "b", &journal).await;
    let (c, _c_flow) = instance(url(), &schema, "c", &journal).await;
    claims_blocked(&admin, &schema, 2).await;
    locker.batch_execute("COMMIT").await.expect("commit");
    all_records(&admin, &schema, "finished").await;
    b.flush().await;
    c.flush().await;
    each_cleaned_up_once(&admin, &schema, &b, &ids, &journal).await;
    assert!(b.claim_expired().await.expect("claims").is_empty());
    assert!(c.claim_expired().await.expect("claims").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_cut_by_a_server_restart_did_not_happen_and_happens_once_after_it() {
    let server = tokio::task::spawn_blocking(OwnServer::start)
        .await
        .expect("a server");
    let schema = "claim_restart".to_owned();
    let journal = Arc::default();
    let (_a, owner) = instance(&server.url, &schema, "a", &journal).await;
    let (ids, _handles) = tasks_in_their_step(&owner).await;
    let admin = connect_to(&server.url).await;
    let locker = connect_to(&server.url).await;
    lock_records(&locker, &schema, "a").await;
    expire(&admin, &schema, "a").await;
    let (b, _b_flow) = instance(&server.url, &schema, "b", &journal).await;
    claims_blocked(&admin, &schema, 1).await;
    // The server stops with the claim in flight: its statement is cut, its update undone.
    let server = tokio::task::spawn_blocking(move || {
        server.stop_server();
        server.start_server();
        server
    })
    .await
    .expect("restarted");
    let admin = connect_to(&server.url).await;
    for id in &ids {
        assert_eq!(
            claimed_by(&admin, &schema, *id).await,
            ("a".to_owned(), 0),
            "the cut claim took nothing"
        );
    }
    assert!(journal.lock().unwrap().is_empty());
    // The instance's next claim (its next renewal is minutes away: asked now) takes them.
    let claimed = claim_until_answered(&b).await;
    assert_eq!(claimed.len(), TASKS);
    b.flush().await;
    each_cleaned_up_once(&admin, &schema, &b, &ids, &journal).await;
    assert!(b.claim_expired().await.expect("claims").is_empty());
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_after_a_claim_committed_leaves_it_done_once_its_cleanups_not_run_again() {
    let server = tokio::task::spawn_blocking(OwnServer::start)
        .await
        .expect("a server");
    let schema = "claim_restart_after".to_owned();
    let journal = Arc::default();
    let (_a, owner) = instance(&server.url, &schema, "a", &journal).await;
    let (ids, _handles) = tasks_in_their_step(&owner).await;
    let admin = connect_to(&server.url).await;
    let locker = connect_to(&server.url).await;
    lock_records(&locker, &schema, "a").await;
    expire(&admin, &schema, "a").await;
    let (b, b_flow) = instance(&server.url, &schema, "b", &journal).await;
    claims_blocked(&admin, &schema, 1).await;
    // The claim commits; its cleanups wait, so that their endings are written after the
    // server went down.
    let held_back = b_flow
        .cleanups
        .acquire_many(CLEANUP_PERMITS)
        .await
        .expect("never closed");
    locker.batch_execute("COMMIT").await.expect("commit");
    all_records(&admin, &schema, "cancelling").await;
    let server = tokio::task::spawn_blocking(move || {
        server.stop_server();
        server
    })
    .await
    .expect("stopped");
    drop(held_back);
    // The cleanups run while the server is down; their endings cannot be written yet.
    while journal.lock().unwrap().len() < TASKS {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let server = tokio::task::spawn_blocking(move || {
        server.start_server();
        server
    })
    .await
    .expect("started");
    b.flush().await;
    let admin = connect_to(&server.url).await;
    each_cleaned_up_once(&admin, &schema, &b, &ids, &journal).await;
    assert!(claim_until_answered(&b).await.is_empty());
    drop(server);
}
