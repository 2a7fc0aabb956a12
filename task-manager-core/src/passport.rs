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
    /// Per-call time limits of the flow's timed steps ([`Passport::with_step_timeout`]), by
    /// step name, resolved against the flow at submission. Boxed: most passports have none.
    #[allow(clippy::box_collection)] // eight bytes in every passport instead of twenty-four
    step_timeouts: Option<Box<Vec<(String, Duration)>>>,
    /// The cancellation explorer's recorder for the task this passport starts (feature
    /// `testing`): the explorer arms the passport it hands to the submit closure, and the
    /// runner's probe takes it at submission. Typed `Any` so that this value knows nothing
    /// of the explorer.
    #[cfg(feature = "testing")]
    pub(crate) armed: Option<Armed>,
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
            step_timeouts: None,
            #[cfg(feature = "testing")]
            armed: None,
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

    /// A time limit for each attempt of step `step` in this task, instead of the one the step
    /// declares (`#[step(timeout = "..")]`); a later call for the same step replaces an
    /// earlier one. Only a step that declares a `timeout` takes one (the flow allows it
    /// there): submission refuses a step the flow does not have
    /// ([`SubmitError::UnknownStep`](crate::SubmitError::UnknownStep)), a step without a
    /// `timeout` ([`SubmitError::StepWithoutTimeout`](crate::SubmitError::StepWithoutTimeout))
    /// and a zero limit ([`SubmitError::ZeroStepTimeout`](crate::SubmitError::ZeroStepTimeout)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use task_manager_core::Passport;
    ///
    /// // This customer's bank is slow: give `charge` 30 s per attempt instead of its 10 s.
    /// let passport = Passport::new("order-17").with_step_timeout("charge", Duration::from_secs(30));
    /// assert_eq!(passport.step_timeouts(), [("charge".to_string(), Duration::from_secs(30))]);
    /// ```
    pub fn with_step_timeout(mut self, step: impl Into<String>, limit: Duration) -> Self {
        let step = step.into();
        let limits = self.step_timeouts.get_or_insert_with(Box::default);
        match limits.iter_mut().find(|(name, _)| *name == step) {
            Some(known) => known.1 = limit,
            None => limits.push((step, limit)),
        }
        self
    }

    /// The per-call step time limits set by [`with_step_timeout`](Self::with_step_timeout),
    /// by step name.
    pub fn step_timeouts(&self) -> &[(String, Duration)] {
        self.step_timeouts.as_deref().map_or(&[], Vec::as_slice)
    }

    /// Takes the per-call step time limits out, for submission to resolve.
    pub(crate) fn take_step_timeouts(&mut self) -> Vec<(String, Duration)> {
        self.step_timeouts
            .take()
            .map(|limits| *limits)
            .unwrap_or_default()
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
