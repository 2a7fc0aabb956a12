//! What became of a completed step's compensation (`#[step(compensate = undo_fn)]`): a value
//! the task's report holds, one per compensation that ran, in the order they ran.

use std::fmt;
use std::time::Duration;

/// One compensation that ran because its task ended other than completed: see
/// [`Report::compensations`](crate::Report::compensations).
///
/// Compensations run after the interrupted step's cleanup, in the reverse order of their
/// steps, each at most once, each under the cleanup deadline. One that fails, panics or
/// overruns its deadline is recorded here, and the others still run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compensation {
    /// It ran to its end and returned `Ok(())` (or `()`).
    Completed {
        /// The step it undid.
        step: &'static str,
        /// How long it took.
        duration: Duration,
    },
    /// It returned `Err`: the error's `Display`.
    Failed {
        /// The step it was to undo.
        step: &'static str,
        /// The error's `Display`.
        error: String,
    },
    /// It panicked; the panic did not spread.
    Panicked {
        /// The step it was to undo.
        step: &'static str,
        /// The panic's message.
        message: String,
    },
    /// It did not finish within the cleanup deadline and was dropped where it stood.
    TimedOut {
        /// The step it was to undo.
        step: &'static str,
        /// The deadline it overran.
        after: Duration,
    },
}

impl Compensation {
    /// The step this compensation undid (or was to undo).
    pub fn step(&self) -> &'static str {
        match self {
            Compensation::Completed { step, .. }
            | Compensation::Failed { step, .. }
            | Compensation::Panicked { step, .. }
            | Compensation::TimedOut { step, .. } => step,
        }
    }

    /// Whether it ran to its end without an error.
    pub fn is_completed(&self) -> bool {
        matches!(self, Compensation::Completed { .. })
    }
}

impl fmt::Display for Compensation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compensation::Completed { step, .. } => write!(f, "`{step}` compensated"),
            Compensation::Failed { step, error } => {
                write!(f, "the compensation of `{step}` failed: {error}")
            }
            Compensation::Panicked { step, message } => {
                write!(f, "the compensation of `{step}` panicked: {message}")
            }
            Compensation::TimedOut { step, after } => write!(
                f,
                "the compensation of `{step}` did not finish within {after:?}"
            ),
        }
    }
}
