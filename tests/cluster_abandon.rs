//! A clustered instance that lost its lease abandons its tasks (`CancelDelivery::abandon_all`,
//! `run/abandon.rs`): every task stops where it stands, no cleanup and no compensation runs
//! here, nothing more is told to the store, and the ending is `Abandoned`. Against a store in
//! memory that journals what it is told; `task-manager-postgres` calls `abandon_all` when it
//! finds its lease gone (its process tests pause an instance past its lease).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use task_manager_core::{
    flow, CancelDelivery, CancelReason, CancelSource, CancelStatus, Cluster, ClusterEnding,
    ClusterError, ClusterFuture, ClusterSeal, Ending, HasTaskManager, Passport, RecordedCleanup,
    Task, TaskError, TaskId, TaskManager,
};
use task_manager_support::{Gate, Journal};

/// A store of one instance that journals the writes it is told of.
#[derive(Clone, Default)]
struct Store {
    calls: Journal,
    delivery: Arc<Mutex<Option<CancelDelivery>>>,
}

impl Store {
    fn lose_lease(&self) -> usize {
        let delivery = self.delivery.lock().unwrap().clone().expect("attached");
        delivery.abandon_all(CancelReason::owner_lost("api-1"))
    }
}

impl Cluster for Store {
    fn attach(&self, delivery: CancelDelivery) -> Result<(), ClusterError> {
        *self.delivery.lock().unwrap() = Some(delivery);
        Ok(())
    }
    fn reserve(&self, _id: TaskId) -> ClusterFuture<Result<(), ClusterError>> {
        Box::pin(async { Ok(()) })
    }
    fn release(&self, _id: TaskId) {
        self.calls.record("release");
    }
    fn submitted(&self, _id: TaskId, _flow: &'static str, _queued: bool) {}
    fn step_began(&self, _id: TaskId, index: usize, _step: &'static str) {
        self.calls.record(format!("step {index}"));
    }
    fn seal(&self, _id: TaskId) -> ClusterFuture<Result<ClusterSeal, ClusterError>> {
        self.calls.record("seal");
        Box::pin(async { Ok(ClusterSeal::Sealed) })
    }
    fn ended(&self, _id: TaskId, ending: ClusterEnding) {
        self.calls.record(format!("ended {:?}", ending.ended));
    }
    fn request_cancel(
        &self,
        _id: TaskId,
        _reason: CancelReason,
        _source: CancelSource,
    ) -> ClusterFuture<Result<CancelStatus, ClusterError>> {
        Box::pin(async { Ok(CancelStatus::NotFound) })
    }
    fn ended_cleanup(
        &self,
        _id: TaskId,
    ) -> ClusterFuture<Result<Option<RecordedCleanup>, ClusterError>> {
        Box::pin(async { Ok(None) })
    }
}

#[derive(HasTaskManager)]
struct Jobs {
    tasks: TaskManager,
    journal: Journal,
    step: Gate,
    cleanup: Gate,
    compensation: Gate,
}

#[flow(name = job)]
impl Jobs {
    #[step(cancel = undo_first, compensate = compensate_first)]
    async fn first(&self, _task: &mut Task<()>) -> Result<u32, Infallible> {
        self.journal.record("first began");
        Ok(1)
    }

    #[step(cancel = undo_second)]
    async fn second(&self, _task: &mut Task<()>, _one: u32) -> Result<u32, Infallible> {
        self.journal.record("second began");
        let _dropped = self.journal.on_drop("second dropped");
        self.step.pass().await;
        self.journal.record("second ended");
        Ok(2)
    }

    async fn undo_first(&self, _task: &mut Task<()>, reason: CancelReason) {
        self.journal.record(format!("cleanup of first: {reason}"));
    }

    async fn undo_second(&self, _task: &mut Task<()>, reason: CancelReason) {
        self.journal
            .record(format!("cleanup of second began: {reason}"));
        let _dropped = self.journal.on_drop("cleanup of second dropped");
        self.cleanup.pass().await;
        self.journal.record("cleanup of second ended");
    }

    async fn compensate_first(&self, _task: &mut Task<()>, _one: u32) {
        self.journal.record("compensation of first began");
        let _dropped = self.journal.on_drop("compensation of first dropped");
        self.compensation.pass().await;
        self.journal.record("compensation of first ended");
    }
}

fn jobs(store: &Store) -> Arc<Jobs> {
    let tasks = TaskManager::builder()
        .cluster(store.clone())
        .build()
        .expect("builds");
    Arc::new(Jobs {
        tasks,
        journal: Journal::new(),
        step: Gate::new(),
        cleanup: Gate::new(),
        compensation: Gate::new(),
    })
}

async fn submit(jobs: &Arc<Jobs>) -> task_manager_core::TaskHandle<u32, Infallible, ()> {
    jobs.tasks
        .submit_in_cluster(Passport::new(()), |p| jobs.execute_job(p))
        .await
        .expect("submitted")
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_step_is_dropped_where_it_stands_and_no_cleanup_or_compensation_runs() {
    let store = Store::default();
    let jobs = jobs(&store);
    let handle = submit(&jobs).await;
    jobs.step.arrived().await;
    assert_eq!(store.lose_lease(), 1);
    let outcome = handle.await;
    assert_eq!(
        outcome.ending(),
        &Ending::Abandoned {
            step: Some("second"),
            steps_completed: 1
        }
    );
    assert!(outcome.report().cleanup.is_none());
    assert_eq!(
        jobs.journal.entries(),
        ["first began", "second began", "second dropped"],
        "the step stopped at once, and neither its cleanup nor the first step's compensation ran"
    );
    // The store heard the steps, and nothing after the abandonment: no seal, no ending.
    assert_eq!(store.calls.entries(), ["step 0", "step 1"]);
    let error = outcome.into_result().expect_err("abandoned");
    assert!(matches!(
        error,
        TaskError::Abandoned {
            step: Some("second"),
            ..
        }
    ));
    assert!(error.to_string().contains("lost its lease"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn a_cleanup_in_progress_is_dropped_when_its_task_is_abandoned() {
    let store = Store::default();
    let jobs = jobs(&store);
    let handle = submit(&jobs).await;
    jobs.step.arrived().await;
    let id = handle.id();
    assert_eq!(
        jobs.tasks.cancel(id, "user left").status(),
        CancelStatus::Requested
    );
    jobs.cleanup.arrived().await;
    assert_eq!(store.lose_lease(), 1);
    let outcome = handle.await;
    assert_eq!(
        outcome.ending(),
        &Ending::Abandoned {
            step: Some("second"),
            steps_completed: 1
        }
    );
    assert_eq!(
        jobs.journal.entries(),
        [
            "first began",
            "second began",
            "second dropped",
            "cleanup of second began: cancelled: user left",
            "cleanup of second dropped",
        ]
    );
    assert_eq!(store.calls.entries(), ["step 0", "step 1"]);
}

#[tokio::test(start_paused = true)]
async fn a_compensation_in_progress_is_dropped_when_its_task_is_abandoned() {
    let store = Store::default();
    let jobs = jobs(&store);
    let handle = submit(&jobs).await;
    jobs.step.arrived().await;
    let id = handle.id();
    assert_eq!(
        jobs.tasks.cancel(id, "user left").status(),
        CancelStatus::Requested
    );
    jobs.cleanup.open();
    jobs.compensation.arrived().await;
    assert_eq!(store.lose_lease(), 1);
    let outcome = handle.await;
    assert!(
        matches!(outcome.ending(), Ending::Abandoned { .. }),
        "{:?}",
        outcome.ending()
    );
    assert_eq!(
        jobs.journal.entries()[3..],
        [
            "cleanup of second began: cancelled: user left",
            "cleanup of second ended",
            "cleanup of second dropped",
            "compensation of first began",
            "compensation of first dropped",
        ]
    );
    assert!(outcome.report().compensations().is_empty());
    assert_eq!(store.calls.entries(), ["step 0", "step 1"]);
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_task_answers_a_later_cancel_as_already_requested_and_abandoning_twice_does_nothing(
) {
    let store = Store::default();
    let jobs = jobs(&store);
    let handle = submit(&jobs).await;
    jobs.step.arrived().await;
    assert_eq!(store.lose_lease(), 1);
    assert_eq!(store.lose_lease(), 0, "abandoned already");
    assert_eq!(
        jobs.tasks.cancel(handle.id(), "too late").status(),
        CancelStatus::AlreadyRequested
    );
    assert!(matches!(handle.await.ending(), Ending::Abandoned { .. }));
}

#[tokio::test(start_paused = true)]
async fn a_manager_without_a_cluster_is_untouched_a_task_ends_as_before() {
    let jobs = Arc::new(Jobs {
        tasks: TaskManager::new(),
        journal: Journal::new(),
        step: Gate::new(),
        cleanup: Gate::new(),
        compensation: Gate::new(),
    });
    let handle = jobs.execute_job(Passport::new(())).expect("submitted");
    jobs.step.arrived().await;
    jobs.tasks.cancel(handle.id(), "user left");
    jobs.cleanup.open();
    jobs.compensation.open();
    let outcome = handle.await;
    assert!(matches!(
        outcome.ending(),
        Ending::Cancelled {
            step: Some("second"),
            ..
        }
    ));
    assert_eq!(outcome.report().compensations().len(), 1);
}

#[derive(HasTaskManager)]
struct Retried {
    tasks: TaskManager,
    journal: Journal,
    cleanup: Gate,
}

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("never")]
struct Never;

fn retry_timeouts() -> task_manager_core::Retry<Never> {
    task_manager_core::Retry::attempts(3).fixed(std::time::Duration::from_millis(100))
}

#[flow(name = retried)]
impl Retried {
    #[step(cancel = undo_call, timeout = "1s", retry = retry_timeouts)]
    async fn call(&self, _task: &mut Task<()>) -> Result<u32, Never> {
        self.journal.record("attempt began");
        std::future::pending::<()>().await;
        Ok(1)
    }

    async fn undo_call(&self, _task: &mut Task<()>, reason: CancelReason) {
        self.journal.record(format!("cleanup began: {reason}"));
        let _dropped = self.journal.on_drop("cleanup dropped");
        self.cleanup.pass().await;
        self.journal.record("cleanup ended");
    }
}

#[tokio::test(start_paused = true)]
async fn the_cleanup_of_a_timed_out_attempt_that_is_retried_is_dropped_when_its_task_is_abandoned()
{
    let store = Store::default();
    let retried = Arc::new(Retried {
        tasks: TaskManager::builder()
            .cluster(store.clone())
            .build()
            .expect("builds"),
        journal: Journal::new(),
        cleanup: Gate::new(),
    });
    let handle = retried
        .tasks
        .submit_in_cluster(Passport::new(()), |p| retried.execute_retried(p))
        .await
        .expect("submitted");
    // The first attempt overruns its second: its cleanup runs before the retry, and waits.
    retried.cleanup.arrived().await;
    assert_eq!(store.lose_lease(), 1);
    retried.cleanup.open();
    let outcome = handle.await;
    // Stopped between two attempts, as a cancel there stops it: no step in progress.
    assert_eq!(
        outcome.ending(),
        &Ending::Abandoned {
            step: None,
            steps_completed: 0
        }
    );
    assert_eq!(
        retried.journal.entries(),
        [
            "attempt began",
            "cleanup began: the step ran longer than its limit of 1s",
            "cleanup dropped",
        ],
        "the cleanup stopped where it stood, and no second attempt began"
    );
    assert_eq!(store.calls.entries(), ["step 0"]);
}
