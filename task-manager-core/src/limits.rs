//! The bounds on configured durations, checked where they enter: a task's deadline at
//! submission, a manager's cleanup deadline when it is set.
//!
//! Zero is refused because it has no useful meaning: a zero task deadline cancels the task
//! before its first step, a zero cleanup deadline drops every cleanup unpolled. A deadline too
//! far for the clock to represent (`Duration::MAX` is the natural way to write "never") is
//! accepted and never comes, as with `tokio::time::sleep`.

use std::time::Duration;

use crate::error::{ConfigError, SubmitError};
use crate::flow::FlowInfo;
use crate::id::TaskId;

/// Checks the deadline a task will run with (its passport's, or else its flow's).
pub(crate) fn check_task_timeout(
    id: TaskId,
    flow: &FlowInfo,
    timeout: Option<Duration>,
) -> Result<(), SubmitError> {
    match timeout {
        Some(timeout) if timeout.is_zero() => Err(SubmitError::ZeroTimeout {
            id,
            flow: flow.name(),
        }),
        _ => Ok(()),
    }
}

/// Checks a cleanup deadline given to a manager.
pub(crate) fn check_cleanup_timeout(
    setting: &'static str,
    timeout: Duration,
) -> Result<(), ConfigError> {
    if timeout.is_zero() {
        return Err(ConfigError::Zero {
            setting,
            why: "every cleanup would be dropped before it could run",
        });
    }
    Ok(())
}
