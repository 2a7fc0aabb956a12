//! Step policies, retries of panics: `Retry::retry_panics(true)`. A panicked attempt's future
//! is dropped, the step's cleanup runs with `StepPanicked` before the wait, and the next
//! attempt follows; without it (the default) a panic ends the task at once, as without retries.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{
    flow, CancelReason, Cleanup, Ending, HasTaskManager, Passport, Retry, StepEnd, Task,
    TaskManager,
};
use task_manager_support::Journal;

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("unreachable")]
struct Never;

/// How many attempts of `work` panic before one succeeds.
type WorkTask = Task<u32>;

#[derive(HasTaskManager)]
struct Worker {
    tasks: TaskManager,
    journal: Journal,
    attempts: AtomicU32,
}

fn panics_retried() -> Retry<Never> {
    Retry::attempts(3)
        .fixed(Duration::from_millis(100))
        .retry_panics(true)
}

fn panics_not_retried() -> Retry<Never> {
    Retry::attempts(3).fixed(Duration::from_millis(100))
}

impl Worker {
    async fn attempt(&self, task: &WorkTask) -> Result<u32, Never> {
        let attempt = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        self.journal.record(format_args!("attempt {attempt} began"));
        let _dropped = self
            .journal
            .on_drop(format_args!("attempt {attempt} dropped"));
        tokio::task::yield_now().await;
        if attempt <= *task.payload() {
            panic!("attempt {attempt} broke");
        }
        Ok(attempt)
    }
}

#[flow(name = retried)]
impl Worker {
    #[step(cancel = undo, retry = panics_retried)]
    async fn work(&self, task: &mut WorkTask) -> Result<u32, Never> {
        self.attempt(task).await
    }

    async fn undo(&self, _task: &mut WorkTask, reason: CancelReason) {
        self.journal.record(format_args!("undo: {reason}"));
        tokio::task::yield_now().await;
        self.journal.record("undo done");
    }
}

struct Plain(Arc<Worker>);

impl HasTaskManager for Plain {
    fn task_manager(&self) -> &TaskManager {
        &self.0.tasks
    }
}

#[flow(name = not_retried)]
impl Plain {
    #[step(cancel = undo, retry = panics_not_retried)]
    async fn work(&self, task: &mut WorkTask) -> Result<u32, Never> {
        self.0.attempt(task).await
    }

    async fn undo(&self, _task: &mut WorkTask, reason: CancelReason) {
        self.0.journal.record(format_args!("undo: {reason}"));
    }
}

fn worker() -> Arc<Worker> {
    Arc::new(Worker {
        tasks: TaskManager::new(),
        journal: Journal::new(),
        attempts: AtomicU32::new(0),
    })
}

#[tokio::test(start_paused = true)]
async fn a_panicked_attempt_is_cleaned_up_then_retried_when_the_policy_says_so() {
    let worker = worker();
    let outcome = worker.execute_retried(Passport::new(2)).unwrap().await;
    assert_eq!(outcome.ending(), &Ending::Completed(3));
    assert_eq!(
        worker.journal.entries(),
        [
            "attempt 1 began",
            "attempt 1 dropped",
            "undo: the step panicked",
            "undo done",
            "attempt 2 began",
            "attempt 2 dropped",
            "undo: the step panicked",
            "undo done",
            "attempt 3 began",
            "attempt 3 dropped",
        ]
    );
    let attempts = outcome.report().attempts();
    assert_eq!(attempts.len(), 3);
    assert_eq!(attempts[0].end, StepEnd::Panicked);
    assert_eq!(attempts[0].error.as_deref(), Some("attempt 1 broke"));
    assert_eq!(attempts[0].delay, Some(Duration::from_millis(100)));
    assert!(matches!(
        attempts[0].cleanup,
        Some(Cleanup::Completed { step: "work", .. })
    ));
    assert_eq!(attempts[2].end, StepEnd::Completed);
    assert_eq!(outcome.report().cleanup, None, "the task was not stopped");
}

#[tokio::test(start_paused = true)]
async fn the_last_attempts_panic_ends_the_task_panicked_with_its_cleanup_once() {
    let worker = worker();
    let outcome = worker.execute_retried(Passport::new(5)).unwrap().await;
    assert!(
        matches!(
            outcome.ending(),
            Ending::Panicked { step: "work", message } if message == "attempt 3 broke"
        ),
        "{:?}",
        outcome.ending()
    );
    let undos = worker
        .journal
        .entries()
        .into_iter()
        .filter(|entry| entry == "undo: the step panicked")
        .count();
    assert_eq!(undos, 3, "one cleanup per panicked attempt");
    assert_eq!(outcome.report().attempts().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn by_default_a_panic_is_not_retried() {
    let worker = worker();
    let plain = Arc::new(Plain(worker.clone()));
    let outcome = plain.execute_not_retried(Passport::new(1)).unwrap().await;
    assert!(matches!(
        outcome.ending(),
        Ending::Panicked { step: "work", .. }
    ));
    assert_eq!(
        worker.journal.entries(),
        [
            "attempt 1 began",
            "attempt 1 dropped",
            "undo: the step panicked"
        ]
    );
}
