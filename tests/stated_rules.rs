//! Rules the contract states for the instants where two things meet:
//! - a deadline and a step's end on the same instant: the deadline wins;
//! - the handle's outcome comes after the cleanup has finished, never before;
//! - a second cancel, once the task has ended, rightly answers `NotFound`.

use std::convert::Infallible;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures::poll;
use task_manager_core::{
    flow, CancelReason, CancelStatus, Cleanup, Ending, HasTaskManager, Passport, StepEnd, Task,
    TaskManager,
};
use task_manager_support::{Gate, Journal};

#[derive(HasTaskManager)]
struct Copy {
    tasks: TaskManager,
    journal: Journal,
    /// The cleanup waits here until the test opens it.
    cleaning: Gate,
}

#[flow(name = copy, timeout = "2s")]
impl Copy {
    /// Ends exactly at the flow's deadline (two seconds after submission).
    #[step(cancel = undo)]
    async fn transfer(&self, _task: &mut Task) -> Result<&'static str, Infallible> {
        tokio::time::sleep(Duration::from_secs(2)).await;
        self.journal.record("transfer returned");
        Ok("copied")
    }

    async fn undo(&self, _task: &mut Task, reason: CancelReason) {
        self.journal.record(format_args!("undo began: {reason}"));
        self.cleaning.pass().await;
        self.journal.record("undo finished");
    }
}

fn copy() -> Arc<Copy> {
    Arc::new(Copy {
        tasks: TaskManager::new(),
        journal: Journal::new(),
        cleaning: Gate::new(),
    })
}

#[tokio::test(start_paused = true)]
async fn a_deadline_and_a_step_s_end_on_the_same_instant_the_deadline_wins() {
    let copy = copy();
    copy.cleaning.open();
    let outcome = copy
        .execute_copy(Passport::new(()))
        .expect("submitted")
        .await;

    // The runner looks at the deadline before it polls the step: the step's last poll never
    // comes, the step is interrupted and cleaned up.
    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::Timeout,
            step: Some("transfer"),
            steps_completed: 0,
        }
    );
    assert_eq!(
        copy.journal.entries(),
        ["undo began: timed out", "undo finished"]
    );
    let ends: Vec<_> = outcome.report().steps().map(|step| step.end).collect();
    assert_eq!(ends, [StepEnd::Cancelled]);
}

#[tokio::test(start_paused = true)]
async fn the_handle_s_outcome_comes_after_the_cleanup_has_finished() {
    let copy = copy();
    let handle = copy.execute_copy(Passport::new(())).expect("submitted");
    let id = handle.id();
    let mut handle = pin!(handle);
    tokio::task::yield_now().await; // the step is parked in its sleep
    assert!(poll!(handle.as_mut()).is_pending());

    let cancellation = copy.tasks.cancel(id, "user left");
    assert_eq!(cancellation.status(), CancelStatus::Requested);
    copy.journal
        .wait_for("undo began: cancelled: user left")
        .await;
    // The cleanup is running (parked at its gate): the outcome is not delivered yet.
    for _ in 0..10 {
        tokio::task::yield_now().await;
        assert!(poll!(handle.as_mut()).is_pending());
    }

    copy.cleaning.open();
    let outcome = handle.await;
    assert_eq!(
        copy.journal.entries(),
        ["undo began: cancelled: user left", "undo finished"]
    );
    assert!(matches!(
        outcome.report().cleanup,
        Some(Cleanup::Completed {
            step: "transfer",
            ..
        })
    ));
    assert!(matches!(
        cancellation.await,
        Some(Cleanup::Completed {
            step: "transfer",
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_second_cancel_after_the_task_ended_rightly_answers_not_found() {
    let copy = copy();
    copy.cleaning.open();
    let handle = copy.execute_copy(Passport::new(())).expect("submitted");
    let id = handle.id();
    tokio::task::yield_now().await; // the step is parked in its sleep

    let first = copy.tasks.cancel(id, "first");
    assert_eq!(first.status(), CancelStatus::Requested);
    // Before the task has ended, a second request learns the first one stands...
    assert_eq!(
        copy.tasks.cancel(id, "second").status(),
        CancelStatus::AlreadyRequested
    );
    let cleanup = first.await;
    assert!(cleanup.is_some());
    // ...after it (and two requests racing may fall on either side), the id is gone.
    let late = copy.tasks.cancel(id, "third");
    assert_eq!(late.status(), CancelStatus::NotFound);
    assert_eq!(late.await, None);
    assert_eq!(
        handle.await.ending(),
        &Ending::Cancelled {
            reason: CancelReason::from("first"),
            step: Some("transfer"),
            steps_completed: 0,
        }
    );
}
