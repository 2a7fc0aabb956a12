//! Contract 12: when the outcome is delivered, the id is gone from the registry, on every
//! path: success, failure, cancel, timeout, panic, drop.

use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{
    flow, CancelReason, Ending, HasTaskManager, Outcome, Passport, SubmitError, Task, TaskId,
    TaskManager, TaskState,
};
use task_manager_support::{Gate, Journal};

/// How a task ends.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Path {
    Completes,
    Fails,
    Panics,
    /// Parks in `work` until cancelled, timed out or dropped.
    Parks,
}

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("the work failed")]
struct WorkFailed;

#[derive(HasTaskManager)]
struct Jobs {
    tasks: TaskManager,
    journal: Journal,
    working: Gate,
}

#[flow(name = job)]
impl Jobs {
    #[step(cancel = undo)]
    async fn work(&self, task: &mut Task<Path>) -> Result<u8, WorkFailed> {
        self.working.announce();
        tokio::task::yield_now().await;
        match task.payload() {
            Path::Completes => Ok(1),
            Path::Fails => Err(WorkFailed),
            Path::Panics => panic!("the work panicked"),
            Path::Parks => std::future::pending().await,
        }
    }

    async fn undo(&self, _task: &mut Task<Path>, reason: CancelReason) {
        self.journal.record(format_args!("cleanup: {reason}"));
    }
}

fn jobs() -> Arc<Jobs> {
    Arc::new(Jobs {
        tasks: TaskManager::new(),
        journal: Journal::new(),
        working: Gate::new(),
    })
}

/// Asserts that `id` is nowhere in the manager, by every way of asking.
fn assert_unregistered(tasks: &TaskManager, id: TaskId) {
    assert!(!tasks.contains(id));
    assert_eq!(tasks.status(id), None);
    assert!(!tasks.running_ids().contains(&id));
    assert_eq!(tasks.len(), 0);
    assert!(tasks.is_empty());
}

/// Starts a task, checks that it is registered while it runs, and returns its id
/// and its handle.
async fn start(
    jobs: &Arc<Jobs>,
    passport: Passport<Path>,
) -> (TaskId, task_manager_core::TaskHandle<u8, WorkFailed, ()>) {
    let id = passport.id();
    let handle = jobs.execute_job(passport).expect("submitted");
    assert!(jobs.tasks.contains(id), "registered as soon as submitted");
    jobs.working.arrived().await;
    assert!(jobs.tasks.running_ids().contains(&id));
    assert_eq!(
        jobs.tasks.status(id).map(|status| status.step),
        Some(Some("work"))
    );
    (id, handle)
}

async fn run_to_outcome(path: Path) -> (Arc<Jobs>, TaskId, Outcome<u8, WorkFailed, ()>) {
    let jobs = jobs();
    let (id, handle) = start(&jobs, Passport::new(path)).await;
    let outcome = handle.await;
    (jobs, id, outcome)
}

#[tokio::test(start_paused = true)]
async fn gone_after_success() {
    let (jobs, id, outcome) = run_to_outcome(Path::Completes).await;
    assert!(outcome.is_completed());
    assert_unregistered(&jobs.tasks, id);
}

#[tokio::test(start_paused = true)]
async fn gone_after_failure() {
    let (jobs, id, outcome) = run_to_outcome(Path::Fails).await;
    assert!(matches!(outcome.ending(), Ending::Failed { .. }));
    assert_unregistered(&jobs.tasks, id);
}

#[tokio::test(start_paused = true)]
async fn gone_after_panic() {
    let (jobs, id, outcome) = run_to_outcome(Path::Panics).await;
    assert!(matches!(outcome.ending(), Ending::Panicked { .. }));
    assert_unregistered(&jobs.tasks, id);
}

#[tokio::test(start_paused = true)]
async fn gone_after_cancel() {
    let jobs = jobs();
    let (id, handle) = start(&jobs, Passport::new(Path::Parks)).await;
    jobs.tasks.cancel(id, "stop");
    assert_eq!(
        jobs.tasks.status(id).map(|status| status.state),
        Some(TaskState::Cancelling),
        "still registered while it stops"
    );
    let outcome = handle.await;
    assert!(outcome.is_cancelled());
    assert_unregistered(&jobs.tasks, id);
}

#[tokio::test(start_paused = true)]
async fn gone_after_timeout() {
    let jobs = jobs();
    let passport = Passport::new(Path::Parks).with_timeout(Duration::from_secs(5));
    let (id, handle) = start(&jobs, passport).await;
    let outcome = handle.await;
    assert!(matches!(
        outcome.ending(),
        Ending::Cancelled {
            reason: CancelReason::Timeout,
            ..
        }
    ));
    assert_unregistered(&jobs.tasks, id);
}

#[tokio::test(start_paused = true)]
async fn gone_after_the_handle_is_dropped() {
    let jobs = jobs();
    let (id, handle) = start(&jobs, Passport::new(Path::Parks)).await;
    drop(handle);
    jobs.journal
        .wait_for("cleanup: its handle was dropped")
        .await;
    // Nobody awaits an outcome here: the task's end is when its cleanup has run.
    let watcher = jobs.tasks.cancel(id, "watching");
    let _ = watcher.await;
    assert_unregistered(&jobs.tasks, id);
}

#[tokio::test(start_paused = true)]
async fn gone_after_cancel_all() {
    let jobs = jobs();
    let (first, a) = start(&jobs, Passport::new(Path::Parks)).await;
    let (second, b) = start(&jobs, Passport::new(Path::Parks)).await;
    assert_eq!(jobs.tasks.len(), 2);
    let all = jobs.tasks.cancel_all(CancelReason::Shutdown);
    assert_eq!(all.requested(), 2);
    let (a, b) = (a.await, b.await);
    assert!(a.is_cancelled() && b.is_cancelled());
    assert_unregistered(&jobs.tasks, first);
    assert_unregistered(&jobs.tasks, second);
}

#[test]
fn a_submission_refused_for_want_of_a_runtime_registers_nothing() {
    let jobs = jobs();
    let passport = Passport::new(Path::Completes);
    let id = passport.id();
    let refused = jobs.execute_job(passport).expect_err("no runtime here");
    assert_eq!(refused, SubmitError::NoRuntime { id, flow: "job" });
    assert_unregistered(&jobs.tasks, id);
}

#[test]
fn a_submission_that_fails_halfway_registers_nothing() {
    // A runtime without timers cannot arm a task's deadline. However the submission reports
    // that (tokio's timers panic), it must not leave the id registered with no task behind it.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let jobs = jobs();
    let passport = Passport::new(Path::Completes).with_timeout(Duration::from_secs(1));
    let id = passport.id();
    let submitted = runtime.block_on(async {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| jobs.execute_job(passport)))
    });
    if let Ok(Ok(handle)) = submitted {
        // Accepted after all (a later tokio, say): then it must run and leave.
        assert!(runtime.block_on(handle).is_completed());
    }
    assert_unregistered(&jobs.tasks, id);
}

/// Runtime info whose `Default` panics: user code that runs while the task is submitted.
#[derive(Debug)]
struct Fussy;

impl Default for Fussy {
    fn default() -> Self {
        panic!("Fussy has no default");
    }
}

#[derive(HasTaskManager)]
struct FussyJobs {
    tasks: TaskManager,
}

#[flow(name = fussy)]
impl FussyJobs {
    #[step]
    async fn work(&self, _task: &mut Task<(), Fussy>) -> Result<(), WorkFailed> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_the_info_s_default_registers_nothing() {
    let jobs = Arc::new(FussyJobs {
        tasks: TaskManager::new(),
    });
    let passport = Passport::new(());
    let id = passport.id();
    let submitted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        jobs.execute_fussy(passport)
    }));
    assert!(submitted.is_err(), "the user's Default panicked");
    assert_unregistered(&jobs.tasks, id);
}

/// On a multi-threaded runtime the task ends on a worker thread and the outcome is read on
/// another: the id must still be gone by the time the outcome arrives, every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_when_the_outcome_arrives_on_another_thread() {
    let jobs = jobs();
    for round in 0..300 {
        let path = [Path::Completes, Path::Fails, Path::Parks][round % 3];
        let passport = Passport::new(path);
        let id = passport.id();
        let handle = jobs.execute_job(passport).expect("submitted");
        if path == Path::Parks {
            jobs.working.arrived().await;
            handle.cancel("stop");
        }
        let outcome = handle.await;
        assert_eq!(outcome.is_cancelled(), path == Path::Parks);
        assert!(!jobs.tasks.contains(id), "round {round} ({path:?})");
    }
    assert!(jobs.tasks.is_empty());
}
