//! Step policies on a step that needs a resource (`#[step(resource = "db", timeout = .., retry
//! = ..)]`): each attempt waits for a permit and holds it until it ends, through the cleanup
//! of an attempt that timed out; the wait between two attempts holds none; a cancel while an
//! attempt waits for the resource ends the task with no attempt in progress, so no cleanup.

use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{
    flow, CancelReason, Cleanup, Ending, HasTaskManager, Passport, Retry, StepEnd, Task,
    TaskManager, TaskState,
};
use task_manager_support::queue::settle;
use task_manager_support::{soon, Gate, Journal};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the database is unavailable")]
struct Unavailable;

/// What each attempt of `query` does once it holds the permit, in order; past the end, it
/// succeeds.
#[derive(Debug, Clone, Copy)]
enum Try {
    /// Waits at the test's gate, then fails.
    Fail,
    /// Never ends (the step's `timeout` drops it).
    Hang,
    /// Waits at the test's gate, then succeeds.
    Succeed,
}

type QueryTask = Task<Vec<Try>>;

#[derive(HasTaskManager)]
struct Db {
    tasks: TaskManager,
    journal: Journal,
    /// Where `query`'s attempts wait for the test.
    query_gate: Gate,
    /// Where `hold` waits for the test, holding the permit.
    hold_gate: Gate,
}

fn retries() -> Retry<Unavailable> {
    Retry::attempts(3).fixed(Duration::from_millis(100))
}

#[flow(name = query)]
impl Db {
    #[step(cancel = undo, resource = "db", timeout = "1s", retry = retries)]
    async fn query(&self, task: &mut QueryTask) -> Result<(), Unavailable> {
        let attempt = self.journal.with_prefix("query attempt").len() + 1;
        self.journal
            .record(format_args!("query attempt {attempt} began"));
        match task.payload().get(attempt - 1).copied() {
            Some(Try::Fail) => {
                self.query_gate.pass().await;
                Err(Unavailable)
            }
            Some(Try::Hang) => std::future::pending().await,
            Some(Try::Succeed) | None => {
                self.query_gate.pass().await;
                Ok(())
            }
        }
    }

    async fn undo(&self, _task: &mut QueryTask, reason: CancelReason) {
        self.journal.record(format_args!("undo began: {reason}"));
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.journal.record("undo done");
    }
}

struct Holder(Arc<Db>);

impl HasTaskManager for Holder {
    fn task_manager(&self) -> &TaskManager {
        &self.0.tasks
    }
}

#[flow(name = hold)]
impl Holder {
    #[step(resource = "db")]
    async fn hold(&self, _task: &mut Task) -> Result<(), Unavailable> {
        self.0.journal.record("hold began");
        self.0.hold_gate.pass().await;
        self.0.journal.record("hold done");
        Ok(())
    }
}

fn db() -> (Arc<Db>, Arc<Holder>) {
    let db = Arc::new(Db {
        tasks: TaskManager::builder().resource("db", 1).build().unwrap(),
        journal: Journal::new(),
        query_gate: Gate::new(),
        hold_gate: Gate::new(),
    });
    (db.clone(), Arc::new(Holder(db)))
}

fn state(db: &Db, id: task_manager_core::TaskId) -> Option<TaskState> {
    db.tasks.status(id).map(|status| status.state)
}

type QueryHandle = task_manager_core::TaskHandle<(), Unavailable, ()>;

/// Runs a query whose first attempt fails while `hold` waits for the permit, until `hold`
/// holds it and the query's second attempt waits for it: the query's id and both handles.
async fn second_attempt_waiting(
    db: &Arc<Db>,
    holder: &Arc<Holder>,
) -> (task_manager_core::TaskId, QueryHandle, QueryHandle) {
    let query = Passport::new(vec![Try::Fail, Try::Succeed]);
    let id = query.id();
    let query = db.execute_query(query).unwrap();
    db.query_gate.arrived().await;
    let hold = holder.execute_hold(Passport::new(())).unwrap();
    settle().await;
    assert!(
        !db.journal.contains("hold began"),
        "attempt 1 holds the permit"
    );
    db.query_gate.open();
    // Attempt 1 failed: its permit went to `hold` during the wait.
    db.hold_gate.arrived().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        state(db, id),
        Some(TaskState::WaitingForResource { resource: "db" }),
        "attempt 2 waits for the permit"
    );
    (id, query, hold)
}

#[tokio::test(start_paused = true)]
async fn the_wait_between_two_attempts_holds_no_permit() {
    let (db, holder) = db();
    let (_, query, hold) = second_attempt_waiting(&db, &holder).await;
    assert!(!db.journal.contains("query attempt 2 began"));
    db.hold_gate.open();
    soon("hold's end", hold).await.into_result().unwrap();
    db.query_gate.open();
    let outcome = soon("the query's end", query).await;
    assert_eq!(outcome.ending(), &Ending::Completed(()));
    assert_eq!(
        db.journal.entries(),
        [
            "query attempt 1 began",
            "hold began",
            "hold done",
            "query attempt 2 began"
        ]
    );
    let attempts = outcome.report().attempts();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].end, StepEnd::Failed);
    assert_eq!(attempts[1].end, StepEnd::Completed);
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_attempt_keeps_its_permit_until_its_cleanup_ends() {
    let (db, holder) = db();
    let query = db
        .execute_query(Passport::new(vec![Try::Hang, Try::Succeed]))
        .unwrap();
    db.journal.wait_for("query attempt 1 began").await;
    let hold = holder.execute_hold(Passport::new(())).unwrap();
    // The attempt times out at 1 s; its cleanup takes 50 ms, holding the permit.
    db.hold_gate.arrived().await;
    db.hold_gate.open();
    soon("hold's end", hold).await.into_result().unwrap();
    db.query_gate.arrived().await;
    db.query_gate.open();
    let outcome = soon("the query's end", query).await;
    assert_eq!(outcome.ending(), &Ending::Completed(()));
    assert_eq!(
        db.journal.entries(),
        [
            "query attempt 1 began",
            "undo began: the step ran longer than its limit of 1s",
            "undo done",
            "hold began",
            "hold done",
            "query attempt 2 began"
        ]
    );
    let first = &outcome.report().attempts()[0];
    assert_eq!(first.end, StepEnd::TimedOut);
    assert!(matches!(
        first.cleanup,
        Some(Cleanup::Completed { step: "query", .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_cancel_while_an_attempt_waits_for_the_resource_runs_no_cleanup() {
    let (db, holder) = db();
    let (id, query, hold) = second_attempt_waiting(&db, &holder).await;
    let cancellation = db.tasks.cancel(id, "user left");
    let outcome = soon("the query's end", query).await;
    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::from("user left"),
            step: None,
            steps_completed: 0
        }
    );
    assert_eq!(
        soon("the cancel's answer", cancellation).await,
        Some(Cleanup::NoStepInProgress)
    );
    assert!(
        db.journal.with_prefix("undo").is_empty(),
        "no attempt was in progress"
    );
    assert_eq!(outcome.report().attempts().len(), 1);
    db.hold_gate.open();
    soon("hold's end", hold).await.into_result().unwrap();
    // The abandoned place in the resource's line is gone: the permit is free again.
    let again = holder.execute_hold(Passport::new(())).unwrap();
    db.hold_gate.arrived().await;
    db.hold_gate.open();
    soon("hold's end", again).await.into_result().unwrap();
}
