//! Contract 8: a step that returns an error ends the task as failed at that step; later steps
//! do not run; the error is the user's own type, not a string.

use std::error::Error as _;
use std::sync::Arc;

use task_manager_core::{
    flow, CancelReason, Ending, HasTaskManager, Passport, StepEnd, Task, TaskError, TaskManager,
};
use task_manager_support::Journal;

/// The user's own error type.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum FetchError {
    #[error("no object at `{key}`")]
    NotFound { key: String },
    #[error("the bucket is read-only")]
    ReadOnly,
}

/// Which step fails, and how.
#[derive(Clone, Copy)]
enum Failure {
    AtLookup,
    AtFetch,
}

#[derive(HasTaskManager)]
struct Fetches {
    tasks: TaskManager,
    journal: Journal,
}

#[flow(name = fetch)]
impl Fetches {
    #[step(cancel = undo_lookup)]
    async fn lookup(&self, task: &mut Task<Failure>) -> Result<String, FetchError> {
        self.journal.record("lookup began");
        tokio::task::yield_now().await;
        match task.payload() {
            Failure::AtLookup => Err(FetchError::ReadOnly),
            Failure::AtFetch => Ok("photos/cat.png".to_string()),
        }
    }

    #[step(cancel = undo_fetch)]
    async fn fetch(&self, _task: &mut Task<Failure>, key: String) -> Result<Vec<u8>, FetchError> {
        self.journal.record("fetch began");
        tokio::task::yield_now().await;
        Err(FetchError::NotFound { key })
    }

    #[step(cancel = undo_store)]
    async fn store(&self, _task: &mut Task<Failure>, bytes: Vec<u8>) -> Result<usize, FetchError> {
        self.journal.record("store began");
        Ok(bytes.len())
    }

    async fn undo_lookup(&self, _task: &mut Task<Failure>, reason: CancelReason) {
        self.journal
            .record(format_args!("cleanup lookup: {reason}"));
    }

    async fn undo_fetch(&self, _task: &mut Task<Failure>, reason: CancelReason) {
        self.journal.record(format_args!("cleanup fetch: {reason}"));
    }

    async fn undo_store(&self, _task: &mut Task<Failure>, reason: CancelReason) {
        self.journal.record(format_args!("cleanup store: {reason}"));
    }
}

fn fetches() -> Arc<Fetches> {
    Arc::new(Fetches {
        tasks: TaskManager::new(),
        journal: Journal::new(),
    })
}

#[tokio::test(start_paused = true)]
async fn an_error_ends_the_task_failed_at_that_step_with_the_user_s_error() {
    let fetches = fetches();
    let passport = Passport::new(Failure::AtFetch);
    let id = passport.id();
    let outcome = fetches.execute_fetch(passport).expect("submitted").await;

    assert_eq!(
        outcome.ending(),
        &Ending::Failed {
            step: "fetch",
            error: FetchError::NotFound {
                key: "photos/cat.png".to_string()
            }
        }
    );
    assert_eq!(
        fetches.journal.entries(),
        ["lookup began", "fetch began"],
        "no later step, and no cleanup: the failing step was in control when it failed"
    );
    let ends: Vec<(&str, StepEnd)> = outcome
        .report()
        .steps()
        .map(|step| (step.name, step.end))
        .collect();
    assert_eq!(
        ends,
        [("lookup", StepEnd::Completed), ("fetch", StepEnd::Failed)]
    );
    assert_eq!(outcome.report().cleanup, None);
    assert!(!fetches.tasks.contains(id));
}

#[tokio::test(start_paused = true)]
async fn the_error_converts_to_a_task_error_whose_source_is_the_user_s_error() {
    let fetches = fetches();
    let passport = Passport::new(Failure::AtFetch);
    let id = passport.id();
    let outcome = fetches.execute_fetch(passport).expect("submitted").await;

    let error = outcome.into_result().expect_err("the task failed");
    let message = error.to_string();
    assert!(message.contains(&id.to_string()), "{message}");
    assert!(message.contains("`fetch`"), "{message}");
    let source = error.source().expect("the step's error is the source");
    assert_eq!(
        source.downcast_ref::<FetchError>(),
        Some(&FetchError::NotFound {
            key: "photos/cat.png".to_string()
        })
    );
    assert!(!error.is_cancelled());
    match error {
        TaskError::Failed {
            id: failed_id,
            flow,
            step,
            error: FetchError::NotFound { key },
        } => {
            assert_eq!((failed_id, flow, step), (id, "fetch", "fetch"));
            assert_eq!(key, "photos/cat.png");
        }
        other => panic!("expected a failure at `fetch`, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn an_error_in_the_first_step_runs_nothing_else() {
    let fetches = fetches();
    let outcome = fetches
        .execute_fetch(Passport::new(Failure::AtLookup))
        .expect("submitted")
        .await;

    assert_eq!(
        outcome.ending(),
        &Ending::Failed {
            step: "lookup",
            error: FetchError::ReadOnly
        }
    );
    assert_eq!(fetches.journal.entries(), ["lookup began"]);
    assert!(fetches.tasks.is_empty());
}
