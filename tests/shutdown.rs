//! Graceful shutdown, and what dropping the manager does.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{
    flow, CancelReason, CancelStatus, Cleanup, Ending, HasTaskManager, Passport, SubmitError, Task,
    TaskManager, TaskState,
};
use tokio::sync::Notify;

/// How long each task's cleanup takes.
type JobTask = Task<Duration, ()>;

#[derive(HasTaskManager)]
struct Workers {
    tasks: TaskManager,
    /// Notified when a task's step has begun.
    begun: Notify,
}

#[flow(name = work)]
impl Workers {
    #[step(cancel = wind_down)]
    async fn wait(&self, _task: &mut JobTask) -> Result<&'static str, Infallible> {
        self.begun.notify_one();
        std::future::pending::<()>().await;
        Ok("never")
    }

    async fn wind_down(&self, task: &mut JobTask, _reason: CancelReason) {
        tokio::time::sleep(*task.payload()).await;
    }
}

fn workers() -> Arc<Workers> {
    Arc::new(Workers {
        tasks: TaskManager::new(),
        begun: Notify::new(),
    })
}

#[tokio::test(start_paused = true)]
async fn cancels_every_task_with_reason_shutdown_and_waits_for_the_cleanups() {
    let workers = workers();
    let first = workers
        .execute_work(Passport::new(Duration::from_secs(2)))
        .expect("submit");
    workers.begun.notified().await;
    let second = workers
        .execute_work(Passport::new(Duration::from_secs(3)))
        .expect("submit");
    workers.begun.notified().await;

    let report = workers.tasks.shutdown(Duration::from_secs(10)).await;

    assert!(report.is_clean(), "{report:?}");
    assert_eq!((report.cancelled, report.already_ending), (2, 0));
    let mut finished = report.finished.clone();
    finished.sort_by_key(|(_, cleanup)| format!("{cleanup:?}"));
    assert_eq!(
        finished
            .iter()
            .map(|(_, cleanup)| cleanup.clone())
            .collect::<Vec<_>>(),
        [
            Some(Cleanup::Completed {
                step: "wait",
                duration: Duration::from_secs(2)
            }),
            Some(Cleanup::Completed {
                step: "wait",
                duration: Duration::from_secs(3)
            }),
        ]
    );
    assert!(workers.tasks.is_empty());
    for handle in [first, second] {
        match handle.await.ending() {
            Ending::Cancelled { reason, step, .. } => {
                assert_eq!(*reason, CancelReason::Shutdown);
                assert_eq!(*step, Some("wait"));
            }
            other => panic!("expected a shutdown cancel, got {other:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn refuses_new_tasks_through_every_clone_once_shutting_down() {
    let workers = workers();
    let other_handle_on_the_registry = workers.tasks.clone();
    assert!(!other_handle_on_the_registry.is_shutting_down());
    let _ = workers.tasks.shutdown(Duration::from_secs(1)).await;
    assert!(other_handle_on_the_registry.is_shutting_down());

    let passport = Passport::new(Duration::ZERO);
    let id = passport.id();
    let error = workers.execute_work(passport).expect_err("refused");
    assert_eq!(error, SubmitError::ShuttingDown { id, flow: "work" });
    assert_eq!(
        error.to_string(),
        format!("task {id} of flow `work` was refused: the task manager is shutting down")
    );
    assert!(workers.tasks.is_empty());
}

#[tokio::test(start_paused = true)]
async fn reports_the_tasks_whose_cleanup_outlasts_the_grace_period() {
    let workers = workers();
    let quick = workers
        .execute_work(Passport::new(Duration::from_secs(1)))
        .expect("submit");
    workers.begun.notified().await;
    let slow = workers
        .execute_work(Passport::new(Duration::from_secs(3600)))
        .expect("submit");
    workers.begun.notified().await;

    let report = workers.tasks.shutdown(Duration::from_secs(5)).await;

    assert_eq!(report.finished.len(), 1);
    assert_eq!(report.finished[0].0, quick.id());
    assert_eq!(report.unfinished.len(), 1, "{report:?}");
    let unfinished = report.unfinished[0];
    assert_eq!(
        (unfinished.id, unfinished.flow, unfinished.step),
        (slow.id(), "work", Some("wait"))
    );
    // The slow cleanup is not killed: it goes on, and its task ends when it is done.
    let status = workers.tasks.status(slow.id()).expect("still registered");
    assert_eq!(status.state, TaskState::Cancelling);
    let outcome = slow.await;
    assert!(outcome.is_cancelled());
    assert!(workers.tasks.is_empty());
    drop(quick);
}

#[tokio::test(start_paused = true)]
async fn a_task_cancelled_before_the_shutdown_keeps_its_reason_and_is_waited_for() {
    let workers = workers();
    let handle = workers
        .execute_work(Passport::new(Duration::from_secs(2)))
        .expect("submit");
    workers.begun.notified().await;
    let earlier = handle.cancel("user left");
    assert_eq!(earlier.status(), CancelStatus::Requested);

    let report = workers.tasks.shutdown(Duration::from_secs(10)).await;

    assert_eq!((report.cancelled, report.already_ending), (0, 1));
    assert!(report.is_clean());
    match handle.await.ending() {
        Ending::Cancelled { reason, .. } => assert_eq!(*reason, CancelReason::from("user left")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_task_that_has_not_begun_its_first_step_is_cancelled_with_nothing_to_clean() {
    let workers = workers();
    // Submitted but not yet polled, as a task waiting for admission would be.
    let handle = workers
        .execute_work(Passport::new(Duration::from_secs(2)))
        .expect("submit");
    let report = workers.tasks.shutdown(Duration::from_secs(10)).await;
    assert_eq!(
        report.finished,
        [(handle.id(), Some(Cleanup::NoStepInProgress))]
    );
    let outcome = handle.await;
    assert!(matches!(
        outcome.ending(),
        Ending::Cancelled {
            reason: CancelReason::Shutdown,
            step: None,
            steps_completed: 0
        }
    ));
}

#[tokio::test(start_paused = true)]
async fn shutting_down_an_idle_manager_is_clean_and_can_be_repeated() {
    let tasks = TaskManager::new();
    let report = tasks.shutdown(Duration::ZERO).await;
    assert!(report.is_clean() && report.finished.is_empty() && report.cancelled == 0);
    let again = tasks.shutdown(Duration::from_secs(1)).await;
    assert_eq!(report, again);
}

/// Dropping the manager (every handle on it) does not stop its tasks: each task holds the
/// registry (and the flow struct, through the `Arc` the generated code keeps), runs to its
/// end, stays cancellable through its handle, and removes itself.
#[tokio::test(start_paused = true)]
async fn dropping_the_manager_lets_running_tasks_finish_and_stay_cancellable() {
    #[derive(HasTaskManager)]
    struct Short {
        tasks: TaskManager,
    }
    #[flow(name = short)]
    impl Short {
        #[step]
        async fn nap(&self, task: &mut Task<u64, ()>) -> Result<u64, Infallible> {
            tokio::time::sleep(Duration::from_secs(*task.payload())).await;
            Ok(*task.payload())
        }
    }
    let short = Arc::new(Short {
        tasks: TaskManager::new(),
    });
    let finishes = short.execute_short(Passport::new(1)).expect("submit");
    let cancelled = short.execute_short(Passport::new(60)).expect("submit");
    let weak = Arc::downgrade(&short);
    drop(short);
    assert!(
        weak.upgrade().is_some(),
        "the running tasks keep the flow struct alive"
    );

    assert_eq!(finishes.await.into_result().ok(), Some(1));
    let cancellation = cancelled.cancel("still reachable");
    assert_eq!(cancellation.status(), CancelStatus::Requested);
    assert!(cancelled.await.is_cancelled());
    assert!(
        weak.upgrade().is_none(),
        "the last task's end frees the struct and its manager"
    );
}
