//! Contract 4: the cleanup runs for exactly the step whose run had started and not finished.
//! A cancel that lands between two steps is never lost: no later step starts, and no cleanup
//! runs for a step that finished.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use task_manager_core::{
    flow, CancelReason, CancelStatus, Cancellation, Cleanup, Ending, HasTaskManager, Passport,
    StepEnd, Task, TaskManager,
};
use task_manager_support::{Gate, Journal};

#[derive(HasTaskManager)]
struct Pipeline {
    tasks: TaskManager,
    journal: Journal,
    gates: [Gate; 3],
    /// The step (if any) that cancels its own task as the very last thing it does before
    /// returning: the cancel lands after the step's work is done, before the next step.
    cancels_as_it_finishes: Option<&'static str>,
    /// The cancellation that step got, for the test to await.
    cancellation: Mutex<Option<Cancellation>>,
}

impl Pipeline {
    async fn run(&self, task: &Task, name: &'static str, index: usize) {
        self.journal.record(format_args!("{name} began"));
        let _dropped = self.journal.on_drop(format_args!("{name} dropped"));
        self.gates[index].pass().await;
        self.journal.record(format_args!("{name} returned"));
        if self.cancels_as_it_finishes == Some(name) {
            let cancellation = self.tasks.cancel(task.id(), "arrived as a step finished");
            assert_eq!(cancellation.status(), CancelStatus::Requested);
            *self.cancellation.lock().expect("not poisoned") = Some(cancellation);
        }
    }
}

#[flow(name = pipeline)]
impl Pipeline {
    #[step(cancel = clean_a)]
    async fn a(&self, task: &mut Task) -> Result<(), Infallible> {
        self.run(task, "a", 0).await;
        Ok(())
    }

    #[step(cancel = clean_b)]
    async fn b(&self, task: &mut Task) -> Result<(), Infallible> {
        self.run(task, "b", 1).await;
        Ok(())
    }

    #[step(cancel = clean_c)]
    async fn c(&self, task: &mut Task) -> Result<(), Infallible> {
        self.run(task, "c", 2).await;
        Ok(())
    }

    async fn clean_a(&self, _task: &mut Task, reason: CancelReason) {
        self.journal.record(format_args!("cleanup a: {reason}"));
    }

    async fn clean_b(&self, _task: &mut Task, reason: CancelReason) {
        self.journal.record(format_args!("cleanup b: {reason}"));
    }

    async fn clean_c(&self, _task: &mut Task, reason: CancelReason) {
        self.journal.record(format_args!("cleanup c: {reason}"));
    }
}

/// A pipeline with the gates of these steps open, and maybe a step that cancels its own task.
fn pipeline(open: &[usize], cancels_as_it_finishes: Option<&'static str>) -> Arc<Pipeline> {
    let pipeline = Arc::new(Pipeline {
        tasks: TaskManager::new(),
        journal: Journal::new(),
        gates: Default::default(),
        cancels_as_it_finishes,
        cancellation: Mutex::new(None),
    });
    for &index in open {
        pipeline.gates[index].open();
    }
    pipeline
}

fn cleanups(journal: &Journal) -> Vec<String> {
    journal
        .entries()
        .into_iter()
        .filter(|entry| entry.starts_with("cleanup"))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_cancel_landing_as_a_step_finishes_stops_the_next_step_and_cleans_nothing() {
    let pipeline = pipeline(&[0, 1, 2], Some("a"));
    let outcome = pipeline
        .execute_pipeline(Passport::new(()))
        .expect("submitted")
        .await;

    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::from("arrived as a step finished"),
            step: None,
            steps_completed: 1,
        }
    );
    assert_eq!(
        pipeline.journal.entries(),
        ["a began", "a returned", "a dropped"],
        "`b` must not begin, and `a` finished so its cleanup must not run"
    );
    assert_eq!(outcome.report().steps().len(), 1);
    assert_eq!(
        outcome.report().step_at(0).expect("the step began").end,
        StepEnd::Completed
    );
    assert_eq!(outcome.report().cleanup, Some(Cleanup::NoStepInProgress));

    let cancellation = pipeline.cancellation.lock().expect("not poisoned").take();
    let cleanup = cancellation.expect("step a cancelled").await;
    assert_eq!(cleanup, Some(Cleanup::NoStepInProgress));
}

#[tokio::test(start_paused = true)]
async fn a_cancel_landing_as_the_middle_step_finishes_is_not_lost() {
    let pipeline = pipeline(&[0, 1, 2], Some("b"));
    let outcome = pipeline
        .execute_pipeline(Passport::new(()))
        .expect("submitted")
        .await;

    assert!(matches!(
        outcome.ending(),
        Ending::Cancelled {
            step: None,
            steps_completed: 2,
            ..
        }
    ));
    assert!(!pipeline.journal.contains("c began"));
    assert_eq!(cleanups(&pipeline.journal), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn a_cancel_landing_as_the_last_step_finishes_still_wins_over_completion() {
    // The canceller was told `Requested`, so the task must not report success.
    let pipeline = pipeline(&[0, 1, 2], Some("c"));
    let outcome = pipeline
        .execute_pipeline(Passport::new(()))
        .expect("submitted")
        .await;

    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::from("arrived as a step finished"),
            step: None,
            steps_completed: 3,
        }
    );
    assert_eq!(cleanups(&pipeline.journal), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn a_cancel_before_the_first_step_means_no_step_begins() {
    let pipeline = pipeline(&[0, 1, 2], None);
    let passport = Passport::new(());
    let id = passport.id();
    let handle = pipeline.execute_pipeline(passport).expect("submitted");

    // On this single-threaded runtime the task has not been polled yet.
    let cancellation = pipeline.tasks.cancel(id, "never mind");
    assert_eq!(cancellation.status(), CancelStatus::Requested);
    let outcome = handle.await;

    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::from("never mind"),
            step: None,
            steps_completed: 0,
        }
    );
    assert_eq!(pipeline.journal.entries(), Vec::<String>::new());
    assert!(outcome.report().steps().len() == 0);
    assert_eq!(cancellation.await, Some(Cleanup::NoStepInProgress));
}

#[tokio::test(start_paused = true)]
async fn a_step_that_could_go_on_but_has_not_returned_yet_is_in_progress() {
    // `a` has been let through its gate but not polled since: it has not finished, so the
    // cancel interrupts it and its cleanup runs; the step never gets to return.
    let pipeline = pipeline(&[], None);
    let passport = Passport::new(());
    let id = passport.id();
    let handle = pipeline.execute_pipeline(passport).expect("submitted");
    pipeline.gates[0].arrived().await;

    pipeline.gates[0].open();
    pipeline.tasks.cancel(id, "just in time");
    let outcome = handle.await;

    assert_eq!(
        pipeline.journal.entries(),
        ["a began", "a dropped", "cleanup a: cancelled: just in time"]
    );
    assert!(matches!(
        outcome.ending(),
        Ending::Cancelled {
            step: Some("a"),
            steps_completed: 0,
            ..
        }
    ));
}

#[tokio::test(start_paused = true)]
async fn only_the_interrupted_step_is_cleaned_not_the_ones_that_finished_before_it() {
    let pipeline = pipeline(&[0, 1], None);
    let passport = Passport::new(());
    let id = passport.id();
    let handle = pipeline.execute_pipeline(passport).expect("submitted");
    pipeline.gates[2].arrived().await;

    pipeline.tasks.cancel(id, "now");
    let _ = handle.await;

    assert_eq!(cleanups(&pipeline.journal), ["cleanup c: cancelled: now"]);
}
