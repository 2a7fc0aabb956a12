//! What a caller hands in to start a task.

use std::time::Duration;

use crate::id::TaskId;

/// The request that starts one task: its id, its payload (the first step reads it through
/// [`Task::payload`](crate::Task::payload)), and optionally a deadline of its own.
///
/// ```
/// use std::time::Duration;
/// use task_manager_core::{Passport, TaskId};
///
/// let passport = Passport::new("SELECT 1").with_timeout(Duration::from_secs(5));
/// let id = passport.id();                       // keep it to cancel the task later
///
/// let request_id: TaskId = "67e55044-10b1-426f-9247-bb680e5fe0c8".parse().unwrap();
/// let mine = Passport::new("SELECT 2").with_id(request_id);
/// assert_eq!(mine.id(), request_id);
/// # let _ = id;
/// ```
#[derive(Debug, Clone)]
pub struct Passport<P = ()> {
    id: TaskId,
    payload: P,
    timeout: Option<Duration>,
}

impl<P> Passport<P> {
    /// A passport with a fresh id (see [`TaskId::new`]).
    pub fn new(payload: P) -> Self {
        Passport {
            id: TaskId::new(),
            payload,
            timeout: None,
        }
    }

    /// Uses `id` (a request id, say) instead of a fresh one. Submitting a task whose id is
    /// already running is refused with [`SubmitError::DuplicateId`](crate::SubmitError::DuplicateId).
    pub fn with_id(mut self, id: TaskId) -> Self {
        self.id = id;
        self
    }

    /// A deadline for this task, counted from submission; it replaces the flow's `timeout`.
    /// When it passes, the task is cancelled with [`CancelReason::Timeout`](crate::CancelReason::Timeout).
    /// Zero is refused at submission ([`SubmitError::ZeroTimeout`](crate::SubmitError::ZeroTimeout));
    /// a deadline too far for the clock to represent (`Duration::MAX`) never comes.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The payload.
    pub fn payload(&self) -> &P {
        &self.payload
    }

    /// This passport's own deadline, if it has one.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The payload, by value.
    pub fn into_payload(self) -> P {
        self.payload
    }

    pub(crate) fn payload_mut(&mut self) -> &mut P {
        &mut self.payload
    }
}
