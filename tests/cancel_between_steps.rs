//! Contract 4: the cleanup runs for exactly the step whose run had started and not finished.
//! A cancel that lands between two steps is never lost: no later step starts, and no cleanup
//! runs for a step that finished.

use std::sync::Arc;

use task_manager_core::{CancelReason, CancelStatus, Cleanup, Ending, Passport, StepEnd};
use task_manager_support::pipeline::{Pipeline, Script};

/// A pipeline with every gate open, whose step `step` cancels its own task as it finishes.
fn cancelling_as_it_finishes(step: &'static str) -> Arc<Pipeline> {
    let script = Script {
        cancels_as_it_finishes: Some(step),
        ..Script::default()
    };
    Pipeline::scripted(&[0, 1, 2], script)
}

#[tokio::test(start_paused = true)]
async fn a_cancel_landing_as_a_step_finishes_stops_the_next_step_and_cleans_nothing() {
    let pipeline = cancelling_as_it_finishes("a");
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

    let cancellation = pipeline.take_cancellation();
    let cleanup = cancellation.expect("step a cancelled").await;
    assert_eq!(cleanup, Some(Cleanup::NoStepInProgress));
}

#[tokio::test(start_paused = true)]
async fn a_cancel_landing_as_the_middle_step_finishes_is_not_lost() {
    let pipeline = cancelling_as_it_finishes("b");
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
    assert_eq!(pipeline.cleanups(), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn a_cancel_landing_as_the_last_step_finishes_still_wins_over_completion() {
    // The canceller was told `Requested`, so the task must not report success.
    let pipeline = cancelling_as_it_finishes("c");
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
    assert_eq!(pipeline.cleanups(), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn a_cancel_before_the_first_step_means_no_step_begins() {
    let pipeline = Pipeline::new(&[0, 1, 2]);
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
    let pipeline = Pipeline::new(&[]);
    let passport = Passport::new(());
    let id = passport.id();
    let handle = pipeline.execute_pipeline(passport).expect("submitted");
    pipeline.gates[0].arrived().await;

    pipeline.gates[0].open();
    pipeline.tasks.cancel(id, "just in time");
    let outcome = handle.await;

    assert_eq!(
        pipeline.journal.entries(),
        [
            "a began",
            "a dropped",
            "cleanup a began: cancelled: just in time",
            "cleanup a finished"
        ]
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
    let pipeline = Pipeline::new(&[0, 1]);
    let passport = Passport::new(());
    let id = passport.id();
    let handle = pipeline.execute_pipeline(passport).expect("submitted");
    pipeline.gates[2].arrived().await;

    pipeline.tasks.cancel(id, "now");
    let _ = handle.await;

    assert_eq!(
        pipeline.cleanups(),
        ["cleanup c began: cancelled: now", "cleanup c finished"]
    );
}
