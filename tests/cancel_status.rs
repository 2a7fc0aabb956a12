//! Contract 6: `cancel` tells its caller whether it took effect, was already under way, found
//! the task finished, or found no such id, and lets the caller wait until the cleanup has
//! finished; if the cleanup panicked, that caller learns it.

use std::convert::Infallible;
use std::future::IntoFuture;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures::poll;
use task_manager_core::{
    flow, CancelReason, CancelStatus, Cleanup, CleanupError, HasTaskManager, Passport, Task,
    TaskId, TaskManager,
};
use task_manager_support::{Gate, Journal};

/// How the cleanup of `work` behaves.
#[derive(Clone, Copy, PartialEq)]
enum CleanupKind {
    /// Waits at the `cleaning` gate, then takes three seconds.
    Slow,
    /// Panics.
    Panics,
}

#[derive(HasTaskManager)]
struct Jobs {
    tasks: TaskManager,
    journal: Journal,
    working: Gate,
    cleaning: Gate,
    cleanup: CleanupKind,
    /// Whether `work` returns as soon as it passes its gate, instead of parking there.
    work_returns: bool,
}

#[flow(name = job)]
impl Jobs {
    #[step(cancel = undo)]
    async fn work(&self, _task: &mut Task) -> Result<u8, Infallible> {
        if self.work_returns {
            self.working.pass().await;
            return Ok(7);
        }
        self.working.park().await
    }

    async fn undo(&self, _task: &mut Task, reason: CancelReason) {
        self.journal.record(format_args!("cleanup began: {reason}"));
        if self.cleanup == CleanupKind::Panics {
            panic!("the undo failed");
        }
        self.cleaning.pass().await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        self.journal.record("cleanup finished");
    }
}

fn jobs(cleanup: CleanupKind, work_returns: bool) -> Arc<Jobs> {
    Arc::new(Jobs {
        tasks: TaskManager::new(),
        journal: Journal::new(),
        working: Gate::new(),
        cleaning: Gate::new(),
        cleanup,
        work_returns,
    })
}

#[tokio::test(start_paused = true)]
async fn requested_then_awaiting_waits_until_the_cleanup_has_finished() {
    let jobs = jobs(CleanupKind::Slow, false);
    let passport = Passport::new(());
    let id = passport.id();
    let handle = jobs.execute_job(passport).expect("submitted");
    jobs.working.arrived().await;

    let cancellation = jobs.tasks.cancel(id, "user left");
    assert_eq!(cancellation.id(), id);
    assert_eq!(cancellation.status(), CancelStatus::Requested);
    assert!(cancellation.status().is_cancelling());
    let mut finished = pin!(cancellation.into_future());
    jobs.cleaning.arrived().await;
    assert!(
        poll!(finished.as_mut()).is_pending(),
        "the cleanup is still running"
    );

    jobs.cleaning.open();
    let cleanup = finished.await;
    assert!(jobs.journal.contains("cleanup finished"));
    assert!(!jobs.tasks.contains(id));
    assert_eq!(
        cleanup,
        Some(Cleanup::Completed {
            step: "work",
            duration: Duration::from_secs(3)
        })
    );
    assert_eq!(handle.await.report().cleanup, cleanup);
}

#[tokio::test(start_paused = true)]
async fn already_requested_also_waits_for_the_one_cleanup() {
    let jobs = jobs(CleanupKind::Slow, false);
    let passport = Passport::new(());
    let id = passport.id();
    let handle = jobs.execute_job(passport).expect("submitted");
    jobs.working.arrived().await;

    let first = jobs.tasks.cancel(id, "first");
    let second = jobs.tasks.cancel(id, "second");
    assert_eq!(second.status(), CancelStatus::AlreadyRequested);
    assert!(second.status().is_cancelling());
    let mut second = pin!(second);
    jobs.cleaning.arrived().await;
    assert!(poll!(second.as_mut()).is_pending());

    jobs.cleaning.open();
    let cleanup = second.await;
    assert!(jobs.journal.contains("cleanup finished"));
    assert!(matches!(
        cleanup,
        Some(Cleanup::Completed { step: "work", .. })
    ));
    assert_eq!(first.await, cleanup);
    assert!(handle.await.is_cancelled());
}

#[tokio::test(start_paused = true)]
async fn already_finished_once_the_task_has_ended_by_itself() {
    let jobs = jobs(CleanupKind::Slow, true);
    let handle = jobs.execute_job(Passport::new(())).expect("submitted");
    jobs.working.open();
    jobs.working.arrived().await;
    while !handle.is_finished() {
        tokio::task::yield_now().await;
    }

    let late = handle.cancel("too late");
    assert_eq!(late.status(), CancelStatus::AlreadyFinished);
    assert!(!late.status().is_cancelling());
    assert_eq!(late.await, None, "nothing was cleaned up");
    let outcome = handle.await;
    assert_eq!(outcome.into_result().expect("completed"), 7);
    assert!(jobs.journal.entries().is_empty());
}

#[tokio::test(start_paused = true)]
async fn not_found_for_an_id_no_task_has() {
    let jobs = jobs(CleanupKind::Slow, false);
    let cancellation = jobs.tasks.cancel(TaskId::new(), "who?");
    assert_eq!(cancellation.status(), CancelStatus::NotFound);
    assert!(!cancellation.status().is_cancelling());
    assert_eq!(cancellation.await, None);
}

#[tokio::test(start_paused = true)]
async fn the_canceller_learns_that_the_cleanup_panicked() {
    let jobs = jobs(CleanupKind::Panics, false);
    let passport = Passport::new(());
    let id = passport.id();
    let handle = jobs.execute_job(passport).expect("submitted");
    jobs.working.arrived().await;

    let first = jobs.tasks.cancel(id, "user left");
    let second = jobs.tasks.cancel(id, "again");
    let cleanup = first.await.expect("the task was cancelled");
    assert_eq!(
        cleanup,
        Cleanup::Panicked {
            step: "work",
            message: "the undo failed".to_string()
        }
    );
    assert_eq!(second.await, Some(cleanup.clone()));

    let error = cleanup
        .into_result(id)
        .expect_err("a panicked cleanup is an error");
    assert_eq!(
        error,
        CleanupError::Panicked {
            id,
            step: "work",
            message: "the undo failed".to_string()
        }
    );
    let message = error.to_string();
    assert!(message.contains(&id.to_string()), "{message}");
    assert!(message.contains("`work`"), "{message}");
    assert!(handle.await.is_cancelled());
}

#[tokio::test(start_paused = true)]
async fn a_cleanup_that_completed_is_not_an_error() {
    let jobs = jobs(CleanupKind::Slow, false);
    jobs.cleaning.open();
    let passport = Passport::new(());
    let id = passport.id();
    let _handle = jobs.execute_job(passport).expect("submitted");
    jobs.working.arrived().await;

    let cleanup = jobs.tasks.cancel(id, "stop").await.expect("cancelled");
    assert!(matches!(
        cleanup.into_result(id),
        Ok(Cleanup::Completed { step: "work", .. })
    ));
}

#[derive(HasTaskManager)]
struct Fragile {
    tasks: TaskManager,
    journal: Journal,
    cleaning: Gate,
}

#[flow(name = fragile)]
impl Fragile {
    #[step(cancel = release)]
    async fn explode(&self, _task: &mut Task) -> Result<(), Infallible> {
        tokio::task::yield_now().await;
        panic!("boom");
    }

    async fn release(&self, _task: &mut Task, reason: CancelReason) {
        self.journal.record(format_args!("release: {reason}"));
        self.cleaning.pass().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_cancel_while_a_panicked_step_is_cleaned_up_found_the_task_finished() {
    // The task ended by itself (it panicked): a cancel arriving while the step's cleanup runs
    // did not take effect, and its caller is told so, and learns of no cleanup of its own.
    let fragile = Arc::new(Fragile {
        tasks: TaskManager::new(),
        journal: Journal::new(),
        cleaning: Gate::new(),
    });
    let passport = Passport::new(());
    let id = passport.id();
    let handle = fragile.execute_fragile(passport).expect("submitted");
    fragile.cleaning.arrived().await;

    let late = fragile.tasks.cancel(id, "too late");
    assert_eq!(late.status(), CancelStatus::AlreadyFinished);
    fragile.cleaning.open();
    assert_eq!(late.await, None);

    let outcome = handle.await;
    assert!(matches!(
        outcome.report().cleanup,
        Some(Cleanup::Completed {
            step: "explode",
            ..
        })
    ));
    assert_eq!(fragile.journal.entries(), ["release: the step panicked"]);
}
