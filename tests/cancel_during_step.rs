//! Contract 3: cancel during step S: the run future of S stops at once (it is not left
//! running in the background); the cleanup of S runs exactly once, with the reason; no later
//! step starts; the outcome is "cancelled at S".

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{
    flow, CancelReason, CancelStatus, Cleanup, Ending, HasTaskManager, Passport, StepEnd, Task,
    TaskManager,
};
use task_manager_support::pipeline::Pipeline;
use task_manager_support::Gate;

#[tokio::test(start_paused = true)]
async fn cancel_during_the_middle_step_stops_it_cleans_it_once_and_starts_nothing_after() {
    let pipeline = Pipeline::new(&[]);
    let passport = Passport::new(());
    let id = passport.id();
    let handle = pipeline.execute_pipeline(passport).expect("submitted");
    pipeline.gates[0].open();
    pipeline.gates[1].arrived().await; // `b` is parked at its gate

    let cancellation = pipeline.tasks.cancel(id, "user left");
    assert_eq!(cancellation.status(), CancelStatus::Requested);
    let outcome = handle.await;

    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::from("user left"),
            step: Some("b"),
            steps_completed: 1,
        }
    );
    assert_eq!(
        pipeline.journal.entries(),
        [
            "a began",
            "a returned",
            "a dropped",
            "b began",
            "b dropped", // stopped before its cleanup began: not left running
            "cleanup b began: cancelled: user left",
            "cleanup b finished",
        ]
    );
    let report: Vec<(&str, StepEnd)> = outcome
        .report()
        .steps()
        .map(|step| (step.name, step.end))
        .collect();
    assert_eq!(
        report,
        [("a", StepEnd::Completed), ("b", StepEnd::Cancelled)]
    );
    assert!(matches!(
        outcome.report().cleanup,
        Some(Cleanup::Completed { step: "b", .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn the_stopped_step_never_resumes_even_if_what_it_awaited_arrives_later() {
    let pipeline = Pipeline::new(&[]);
    let handle = pipeline
        .execute_pipeline(Passport::new(()))
        .expect("submitted");
    pipeline.gates[0].arrived().await;

    handle.cancel("stop");
    let outcome = handle.await;
    assert!(outcome.is_cancelled());

    // What `a` was waiting for arrives now; a step left running would take it and go on.
    for gate in &pipeline.gates {
        gate.open();
    }
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        pipeline.journal.entries(),
        [
            "a began",
            "a dropped",
            "cleanup a began: cancelled: stop",
            "cleanup a finished"
        ]
    );
    assert!(pipeline.tasks.is_empty());
}

#[tokio::test(start_paused = true)]
async fn cancel_during_the_first_step_is_cancelled_at_that_step_with_nothing_completed() {
    let pipeline = Pipeline::new(&[]);
    let passport = Passport::new(());
    let id = passport.id();
    let handle = pipeline.execute_pipeline(passport).expect("submitted");
    pipeline.gates[0].arrived().await;

    pipeline.tasks.cancel(id, CancelReason::Shutdown);
    let outcome = handle.await;

    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::Shutdown,
            step: Some("a"),
            steps_completed: 0,
        }
    );
    assert_eq!(
        pipeline
            .journal
            .count("cleanup a began: the task manager is shutting down"),
        1
    );
    assert!(!pipeline.journal.contains("b began"));
}

#[tokio::test(start_paused = true)]
async fn cancel_during_the_last_step_runs_only_that_step_s_cleanup() {
    let pipeline = Pipeline::new(&[]);
    let passport = Passport::new(());
    let id = passport.id();
    let handle = pipeline.execute_pipeline(passport).expect("submitted");
    pipeline.gates[0].open();
    pipeline.gates[1].open();
    pipeline.gates[2].arrived().await;

    pipeline.tasks.cancel(id, "late");
    let outcome = handle.await;

    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::from("late"),
            step: Some("c"),
            steps_completed: 2,
        }
    );
    assert_eq!(
        pipeline.cleanups(),
        ["cleanup c began: cancelled: late", "cleanup c finished"]
    );
}

#[derive(HasTaskManager)]
struct Slow {
    tasks: TaskManager,
    began: Gate,
}

#[flow(name = slow)]
impl Slow {
    #[step]
    async fn wait_an_hour(&self, _task: &mut Task) -> Result<(), Infallible> {
        self.began.announce();
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_step_stops_without_waiting_for_what_it_was_awaiting() {
    let slow = Arc::new(Slow {
        tasks: TaskManager::new(),
        began: Gate::new(),
    });
    let passport = Passport::new(());
    let id = passport.id();
    let handle = slow.execute_slow(passport).expect("submitted");
    slow.began.arrived().await;
    let cancelled_at = tokio::time::Instant::now();

    slow.tasks.cancel(id, "enough");
    let outcome = handle.await;

    // The paused clock moves only when the runtime waits for a timer: had the task waited
    // for the step's hour-long sleep, an hour would have passed.
    assert_eq!(outcome.report().finished_at, cancelled_at);
    assert_eq!(
        outcome.report().step_at(0).expect("the step began").end,
        StepEnd::Cancelled
    );
    assert!(outcome.is_cancelled());
}
