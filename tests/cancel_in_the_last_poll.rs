//! Contract 3 and 4 at their border: when does a step count as *interrupted* (its cleanup
//! runs) and when as *finished* (no cleanup)? The runner looks at the cancel before each poll
//! of a step and after each poll that leaves it pending. A step whose poll returns its result
//! has finished, even if the cancel landed during that very poll: its result is dropped, no
//! later step begins, and no cleanup runs. A step whose poll leaves it pending is interrupted.
//!
//! The cancel lands during the step's poll deterministically: the step cancels its own task.

use std::sync::{Arc, Mutex};

use task_manager_core::{
    flow, CancelReason, CancelStatus, Cleanup, Ending, HasTaskManager, Passport, StepEnd, Task,
    TaskManager,
};
use task_manager_support::Journal;

/// What the middle step does after it has cancelled its own task.
#[derive(Clone, Copy, Debug)]
enum Then {
    /// Returns `Ok` in the same poll.
    ReturnsOk,
    /// Returns `Err` in the same poll.
    ReturnsErr,
    /// Awaits once (stays pending for one poll), then would return `Ok`.
    AwaitsFirst,
}

#[derive(HasTaskManager)]
struct Upload {
    tasks: TaskManager,
    journal: Journal,
    then: Then,
    /// What the step's own cancel learned when it awaited the cleanup.
    cleanup_seen: Arc<Mutex<Option<Cleanup>>>,
}

#[flow(name = upload)]
impl Upload {
    #[step(cancel = undo_prepare)]
    async fn prepare(&self, _task: &mut Task) -> Result<(), String> {
        Ok(())
    }

    #[step(cancel = undo_send)]
    async fn send(&self, task: &mut Task, _: ()) -> Result<u32, String> {
        let cancellation = self.tasks.cancel(task.id(), "user left");
        self.journal
            .record(format_args!("send: cancel {:?}", cancellation.status()));
        // The canceller awaits the cleanup elsewhere (the step must not wait for its own end).
        let seen = Arc::clone(&self.cleanup_seen);
        tokio::spawn(async move {
            let cleanup = cancellation.await;
            *seen.lock().unwrap() = cleanup;
        });
        match self.then {
            Then::ReturnsOk => Ok(1),
            Then::ReturnsErr => Err("disk full".into()),
            Then::AwaitsFirst => {
                tokio::task::yield_now().await;
                self.journal.record("send resumed");
                Ok(1)
            }
        }
    }

    #[step(cancel = undo_confirm)]
    async fn confirm(&self, _task: &mut Task, sent: u32) -> Result<u32, String> {
        self.journal.record("confirm ran");
        Ok(sent)
    }

    async fn undo_prepare(&self, _task: &mut Task, reason: CancelReason) {
        self.journal.record(format_args!("undo prepare: {reason}"));
    }

    async fn undo_send(&self, _task: &mut Task, reason: CancelReason) {
        self.journal.record(format_args!("undo send: {reason}"));
    }

    async fn undo_confirm(&self, _task: &mut Task, reason: CancelReason) {
        self.journal.record(format_args!("undo confirm: {reason}"));
    }
}

fn upload(then: Then) -> Arc<Upload> {
    Arc::new(Upload {
        tasks: TaskManager::new(),
        journal: Journal::new(),
        then,
        cleanup_seen: Arc::default(),
    })
}

fn report_of(
    outcome: &task_manager_core::Outcome<u32, String, ()>,
) -> Vec<(&'static str, StepEnd)> {
    outcome
        .report()
        .steps()
        .map(|step| (step.name, step.end))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_step_that_returns_ok_in_the_poll_where_the_cancel_lands_has_finished() {
    let upload = upload(Then::ReturnsOk);
    let outcome = upload
        .execute_upload(Passport::new(()))
        .expect("submitted")
        .await;

    // The cancel took effect (`Requested`), so the outcome is cancelled with its reason...
    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::from("user left"),
            step: None,
            steps_completed: 2,
        }
    );
    // ...but `send` had finished: no cleanup runs for it, and `confirm` never begins.
    assert_eq!(upload.journal.entries(), ["send: cancel Requested"]);
    assert_eq!(outcome.report().cleanup, Some(Cleanup::NoStepInProgress));
    assert_eq!(
        report_of(&outcome),
        [
            ("prepare", StepEnd::Completed),
            ("send", StepEnd::Completed)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_step_that_returns_err_in_the_poll_where_the_cancel_lands_has_finished_too() {
    let upload = upload(Then::ReturnsErr);
    let outcome = upload
        .execute_upload(Passport::new(()))
        .expect("submitted")
        .await;

    // `Requested` promised a cancelled outcome: the step's error does not replace it (the
    // report keeps that the step failed).
    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::from("user left"),
            step: None,
            steps_completed: 1,
        }
    );
    assert_eq!(upload.journal.entries(), ["send: cancel Requested"]);
    assert_eq!(outcome.report().cleanup, Some(Cleanup::NoStepInProgress));
    assert_eq!(
        report_of(&outcome),
        [("prepare", StepEnd::Completed), ("send", StepEnd::Failed)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_step_left_pending_by_the_poll_where_the_cancel_lands_is_interrupted() {
    let upload = upload(Then::AwaitsFirst);
    let outcome = upload
        .execute_upload(Passport::new(()))
        .expect("submitted")
        .await;

    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::from("user left"),
            step: Some("send"),
            steps_completed: 1,
        }
    );
    // Stopped after that poll: never resumed, and its cleanup ran once.
    assert_eq!(
        upload.journal.entries(),
        ["send: cancel Requested", "undo send: cancelled: user left"]
    );
    assert!(matches!(
        outcome.report().cleanup,
        Some(Cleanup::Completed { step: "send", .. })
    ));
    assert_eq!(
        report_of(&outcome),
        [
            ("prepare", StepEnd::Completed),
            ("send", StepEnd::Cancelled)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_canceller_learns_which_side_of_the_border_the_step_was_on() {
    for (then, expected) in [(Then::ReturnsOk, None), (Then::AwaitsFirst, Some("send"))] {
        let upload = upload(then);
        let handle = upload.execute_upload(Passport::new(())).expect("submitted");
        let id = handle.id();
        let _ = handle.await;
        // The step's own cancel answered `Requested`; a second one, now that the task has
        // ended and left the registry, finds nothing: that too is a true answer.
        assert_eq!(
            upload.tasks.cancel(id, "again").status(),
            CancelStatus::NotFound
        );
        let cleanup = upload.cleanup_seen.lock().unwrap().take();
        match expected {
            None => assert_eq!(cleanup, Some(Cleanup::NoStepInProgress), "{then:?}"),
            Some(step) => assert!(
                matches!(cleanup, Some(Cleanup::Completed { step: s, .. }) if s == step),
                "{then:?}: {cleanup:?}"
            ),
        }
    }
}
