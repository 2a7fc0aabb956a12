//! What a caller hands in to start a task.

use std::time::Duration;

use crate::id::TaskId;

/// The request that starts one task: its id, its payload (the first step reads it through
/// [`Task::payload`](crate::Task::payload)), and optionally a deadline of its own and a
/// priority (for the queue add-on).
///
/// ```
/// use std::time::Duration;
/// use task_manager_core::{Passport, TaskId};
///
/// let passport = Passport::new("SELECT 1").with_timeout(Duration::from_secs(5));
/// let id = passport.id();                       // keep it to cancel the task later
///
/// let request_id: TaskId = "67e55044-10b1-426f-9247-bb680e5fe0c8".parse().unwrap();
/// let mine = Passport::new("SELECT 2").with_id(request_id).with_priority(5);
/// assert_eq!(mine.id(), request_id);
/// assert_eq!(mine.priority(), 5);
/// # let _ = id;
/// ```
#[derive(Debug, Clone)]
pub struct Passport<P = ()> {
    id: TaskId,
    payload: P,
    /// The deadline, split as `Duration` itself keeps it, with [`NO_TIMEOUT`] in the
    /// nanoseconds for none: the `Option<Duration>` it stands for would take 16 bytes and leave
    /// no room for the priority, which fits here in the same 16.
    timeout_secs: u64,
    timeout_subsec_nanos: u32,
    priority: i32,
    /// The cancellation explorer's recorder for the task this passport starts (feature
    /// `testing`): the explorer arms the passport it hands to the submit closure, and the
    /// runner's probe takes it at submission. Typed `Any` so that this value knows nothing
    /// of the explorer.
    #[cfg(feature = "testing")]
    pub(crate) armed: Option<Armed>,
    /// The parent of the task this passport starts, if [`Task::child`](crate::Task::child)
    /// made it: the parent's shared state, typed `Any` so that this value knows nothing of
    /// the runner (submission takes it back as what it is). Boxed: one pointer in every
    /// passport, where the `Arc<dyn Any>` would be two.
    pub(crate) parent: Option<Box<Link>>,
}

/// See `Passport::parent`.
#[derive(Clone)]
pub(crate) struct Link(pub(crate) std::sync::Arc<dyn std::any::Any + Send + Sync>);

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Link")
    }
}

/// See `Passport::armed`.
#[cfg(feature = "testing")]
#[derive(Clone)]
pub(crate) struct Armed(pub(crate) std::sync::Arc<dyn std::any::Any + Send + Sync>);

#[cfg(feature = "testing")]
impl std::fmt::Debug for Armed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Armed")
    }
}

/// Never a valid sub-second nanosecond count (those are below 10^9).
const NO_TIMEOUT: u32 = u32::MAX;

impl<P> Passport<P> {
    /// A passport with a fresh id (see [`TaskId::new`]).
    pub fn new(payload: P) -> Self {
        Passport {
            id: TaskId::new(),
            payload,
            timeout_secs: 0,
            timeout_subsec_nanos: NO_TIMEOUT,
            priority: 0,
            #[cfg(feature = "testing")]
            armed: None,
            parent: None,
        }
    }

    /// Whether [`Task::child`](crate::Task::child) made this passport: the task it starts will
    /// be a child of that task.
    pub fn is_child(&self) -> bool {
        self.parent.is_some()
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
        self.timeout_secs = timeout.as_secs();
        self.timeout_subsec_nanos = timeout.subsec_nanos();
        self
    }

    /// This task's priority in a limited flow's queue and in a resource's: higher goes first,
    /// equal priorities go in submission order. The default is 0; negative values go after it.
    /// Priorities are strict: see the [queue add-on](crate#the-queue-add-on) on starvation.
    pub fn with_priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// The task's priority (0 unless set).
    pub fn priority(&self) -> i32 {
        self.priority
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
        (self.timeout_subsec_nanos != NO_TIMEOUT)
            .then(|| Duration::new(self.timeout_secs, self.timeout_subsec_nanos))
    }

    /// The payload, by value.
    pub fn into_payload(self) -> P {
        self.payload
    }

    pub(crate) fn payload_mut(&mut self) -> &mut P {
        &mut self.payload
    }
}
