//! The bounds on configured durations, checked where they enter: a task's deadline at
//! submission, a manager's cleanup deadline when it is set.
//!
//! Zero is refused because it has no useful meaning (a zero task deadline cancels the task
//! before its first step; a zero cleanup deadline drops every cleanup unpolled). Past
//! `u64::MAX` nanoseconds (about 584 years) a deadline is a unit mix-up or an overflow, and
//! adding it to a clock reading could overflow too.

use std::time::Duration;

use crate::error::{ConfigError, SubmitError};
use crate::flow::FlowInfo;
use crate::id::TaskId;
use crate::passport::Passport;

const MAX: Duration = Passport::<()>::MAX_TIMEOUT;

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
        Some(timeout) if timeout > MAX => Err(SubmitError::TimeoutTooLong {
            id,
            flow: flow.name(),
            timeout,
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
    if timeout > MAX {
        return Err(ConfigError::TooLong {
            setting,
            value: timeout,
        });
    }
    Ok(())
}
