//! Contract 9: a panic in a step or a cleanup is caught: the task ends as panicked, the
//! manager keeps working, nothing leaks.
//!
//! Decided: the panicking step's cleanup DOES run, with [`CancelReason::StepPanicked`]: a
//! step that panicked halfway may hold what its cleanup exists to release.

use std::convert::Infallible;
use std::sync::{Arc, Weak};

use task_manager_core::{
    flow, CancelReason, Cleanup, Ending, HasTaskManager, Passport, StepEnd, Task, TaskError,
    TaskManager,
};
use task_manager_support::{Gate, Journal};

/// What goes wrong in a task.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Plan {
    /// Nothing: every step completes.
    Nothing,
    /// `b` panics.
    StepPanics,
    /// `b` panics, and so does its cleanup.
    StepAndCleanupPanic,
    /// `c` (which declares no cleanup) panics.
    StepWithoutCleanupPanics,
    /// `b` parks, to be cancelled; its cleanup panics.
    CleanupPanics,
}

/// The payload: the plan, and something the test watches to see that it is released.
struct Job {
    plan: Plan,
    _held: Arc<()>,
}

type JobTask = Task<Job>;

#[derive(HasTaskManager)]
struct Jobs {
    tasks: TaskManager,
    journal: Journal,
    working: Gate,
    /// Shared with every step run; a step clones it and holds the clone across its awaits.
    resource: Arc<()>,
}

#[flow(name = job)]
impl Jobs {
    #[step]
    async fn a(&self, _task: &mut JobTask) -> Result<(), Infallible> {
        self.journal.record("a began");
        Ok(())
    }

    #[step(cancel = undo_b)]
    async fn b(&self, task: &mut JobTask) -> Result<(), Infallible> {
        self.journal.record("b began");
        let _held = Arc::clone(&self.resource);
        tokio::task::yield_now().await;
        match task.payload().plan {
            Plan::StepPanics | Plan::StepAndCleanupPanic => panic!("boom in b, take {}", 1),
            Plan::CleanupPanics => self.working.park().await,
            Plan::Nothing | Plan::StepWithoutCleanupPanics => Ok(()),
        }
    }

    #[step]
    async fn c(&self, task: &mut JobTask) -> Result<&'static str, Infallible> {
        self.journal.record("c began");
        let _held = Arc::clone(&self.resource);
        tokio::task::yield_now().await;
        if task.payload().plan == Plan::StepWithoutCleanupPanics {
            panic!("boom in c");
        }
        Ok("done")
    }

    async fn undo_b(&self, task: &mut JobTask, reason: CancelReason) {
        self.journal.record(format_args!("cleanup b: {reason}"));
        let _held = Arc::clone(&self.resource);
        tokio::task::yield_now().await;
        if matches!(
            task.payload().plan,
            Plan::StepAndCleanupPanic | Plan::CleanupPanics
        ) {
            panic!("boom in the cleanup of b");
        }
    }
}

fn jobs() -> Arc<Jobs> {
    Arc::new(Jobs {
        tasks: TaskManager::new(),
        journal: Journal::new(),
        working: Gate::new(),
        resource: Arc::new(()),
    })
}

/// A passport for `plan`, and a weak reference to what its payload holds.
fn job(plan: Plan) -> (Passport<Job>, Weak<()>) {
    let held = Arc::new(());
    let weak = Arc::downgrade(&held);
    (Passport::new(Job { plan, _held: held }), weak)
}

#[tokio::test(start_paused = true)]
async fn a_panicking_step_ends_the_task_panicked_and_its_cleanup_runs() {
    let jobs = jobs();
    let (passport, _) = job(Plan::StepPanics);
    let id = passport.id();
    let outcome = jobs.execute_job(passport).expect("submitted").await;

    assert_eq!(
        outcome.ending(),
        &Ending::Panicked {
            step: "b",
            message: "boom in b, take 1".to_string()
        }
    );
    assert_eq!(
        jobs.journal.entries(),
        ["a began", "b began", "cleanup b: the step panicked"],
        "b's cleanup runs with the reason StepPanicked, and c never begins"
    );
    assert_eq!(
        outcome.report().step_at(1).expect("the step began").end,
        StepEnd::Panicked
    );
    assert!(matches!(
        outcome.report().cleanup,
        Some(Cleanup::Completed { step: "b", .. })
    ));
    match outcome.into_result() {
        Err(error @ TaskError::Panicked { .. }) => {
            let message = error.to_string();
            assert!(message.contains(&id.to_string()), "{message}");
            assert!(message.contains("`b`"), "{message}");
            assert!(message.contains("boom in b"), "{message}");
        }
        other => panic!("expected a panicked task, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_step_without_a_cleanup_reports_none_declared() {
    let jobs = jobs();
    let (passport, _) = job(Plan::StepWithoutCleanupPanics);
    let outcome = jobs.execute_job(passport).expect("submitted").await;

    assert_eq!(
        outcome.ending(),
        &Ending::Panicked {
            step: "c",
            message: "boom in c".to_string()
        }
    );
    assert_eq!(
        outcome.report().cleanup,
        Some(Cleanup::NotDeclared { step: "c" })
    );
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_the_cleanup_of_a_panicked_step_is_caught_too() {
    let jobs = jobs();
    let (passport, _) = job(Plan::StepAndCleanupPanic);
    let outcome = jobs.execute_job(passport).expect("submitted").await;

    assert!(matches!(
        outcome.ending(),
        Ending::Panicked { step: "b", .. }
    ));
    assert_eq!(
        outcome.report().cleanup,
        Some(Cleanup::Panicked {
            step: "b",
            message: "boom in the cleanup of b".to_string()
        })
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicking_cleanup_after_a_cancel_leaves_the_task_cancelled() {
    let jobs = jobs();
    let (passport, _) = job(Plan::CleanupPanics);
    let id = passport.id();
    let handle = jobs.execute_job(passport).expect("submitted");
    jobs.working.arrived().await;

    let cleanup = jobs.tasks.cancel(id, "stop").await;
    let outcome = handle.await;

    assert!(matches!(
        cleanup,
        Some(Cleanup::Panicked { step: "b", ref message }) if message == "boom in the cleanup of b"
    ));
    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::from("stop"),
            step: Some("b"),
            steps_completed: 1
        }
    );
    assert_eq!(outcome.report().cleanup, cleanup);
}

#[tokio::test(start_paused = true)]
async fn after_panics_the_manager_keeps_working_and_nothing_is_held() {
    let jobs = jobs();
    // A task that runs alongside the panicking ones and must not notice them.
    let (bystander, _) = job(Plan::CleanupPanics);
    let bystander_id = bystander.id();
    let bystander = jobs.execute_job(bystander).expect("submitted");
    jobs.working.arrived().await;

    let mut released = Vec::new();
    for plan in [
        Plan::StepPanics,
        Plan::StepAndCleanupPanic,
        Plan::StepWithoutCleanupPanics,
    ] {
        let (passport, weak) = job(plan);
        let outcome = jobs.execute_job(passport).expect("submitted").await;
        assert!(
            matches!(outcome.ending(), Ending::Panicked { .. }),
            "{plan:?}"
        );
        released.push(weak);
    }
    let (passport, weak) = job(Plan::Nothing);
    let outcome = jobs.execute_job(passport).expect("submitted").await;
    assert_eq!(outcome.into_result().expect("completed"), "done");
    released.push(weak);

    assert_eq!(jobs.tasks.running_ids(), [bystander_id]);
    assert!(
        !bystander.is_finished(),
        "the bystander is still parked in `b`"
    );
    let _ = jobs.tasks.cancel(bystander_id, "done watching").await;
    assert!(bystander.await.is_cancelled());

    assert!(jobs.tasks.is_empty());
    assert!(
        released.iter().all(|weak| weak.upgrade().is_none()),
        "every payload was dropped"
    );
    assert_eq!(
        Arc::strong_count(&jobs.resource),
        1,
        "no step or cleanup future outlived its task"
    );
}
