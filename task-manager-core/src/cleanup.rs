//! What became of a stopped step's cleanup: a value the task records, its report holds and its
//! cancellers are given.

use std::time::Duration;

use crate::id::TaskId;

/// What happened on the cleanup side when a task was cancelled (or a step panicked).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cleanup {
    /// The step in progress was stopped and its cleanup ran to the end.
    Completed {
        /// The interrupted step.
        step: &'static str,
        /// How long the cleanup took.
        duration: Duration,
    },
    /// The step in progress was stopped; it declares no cleanup (`#[step]` without `cancel`).
    NotDeclared {
        /// The interrupted step.
        step: &'static str,
    },
    /// No step was in progress: the cancel landed before the first step, between two steps,
    /// or after the last; nothing needed cleaning up.
    NoStepInProgress,
    /// The cleanup panicked. The task still ended; the panic did not spread.
    Panicked {
        /// The interrupted step.
        step: &'static str,
        /// The panic's message.
        message: String,
    },
    /// The cleanup did not finish within its deadline (`#[flow(cleanup_timeout = "..")]` or
    /// [`TaskManagerBuilder::cleanup_timeout`](crate::TaskManagerBuilder::cleanup_timeout)): it
    /// was dropped where it stood, and the task ended.
    TimedOut {
        /// The interrupted step.
        step: &'static str,
        /// The deadline it overran.
        after: Duration,
    },
}

impl Cleanup {
    /// `Err` if the cleanup panicked or overran its deadline, so that a canceller can `?` it.
    pub fn into_result(self, id: TaskId) -> Result<Cleanup, CleanupError> {
        match self {
            Cleanup::Panicked { step, message } => {
                Err(CleanupError::Panicked { id, step, message })
            }
            Cleanup::TimedOut { step, after } => Err(CleanupError::TimedOut { id, step, after }),
            done => Ok(done),
        }
    }

    /// The step whose cleanup this is about; `None` for [`Cleanup::NoStepInProgress`].
    pub fn step(&self) -> Option<&'static str> {
        match self {
            Cleanup::Completed { step, .. }
            | Cleanup::NotDeclared { step }
            | Cleanup::Panicked { step, .. }
            | Cleanup::TimedOut { step, .. } => Some(step),
            Cleanup::NoStepInProgress => None,
        }
    }
}

/// A cleanup that did not finish properly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CleanupError {
    /// The cleanup panicked.
    #[error("the cleanup of step `{step}` of task {id} panicked: {message}")]
    Panicked {
        /// The task.
        id: TaskId,
        /// The step whose cleanup panicked.
        step: &'static str,
        /// The panic's message.
        message: String,
    },
    /// The cleanup overran its deadline and was dropped.
    #[error(
        "the cleanup of step `{step}` of task {id} did not finish within {after:?} and was dropped"
    )]
    TimedOut {
        /// The task.
        id: TaskId,
        /// The step whose cleanup overran.
        step: &'static str,
        /// The deadline.
        after: Duration,
    },
}
