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
    /// The deadline in nanoseconds, [`NO_TIMEOUT`] for none, [`BEYOND`] for one past what
    /// 64 bits of nanoseconds hold (584 years: it never comes, and reads as `Duration::MAX`).
    /// Eight bytes: every running task keeps its passport, and its size is paid by every move
    /// of every task's future.
    timeout_nanos: u64,
    /// What few passports set (a priority, per-call step limits): boxed, so that a passport
    /// without them is as small as it can be.
    rare: Option<Box<Rare>>,
}

/// See `Rare::parent`.
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

/// No deadline.
const NO_TIMEOUT: u64 = u64::MAX;
/// A deadline of 584 years or more: one that never comes.
const BEYOND: u64 = u64::MAX - 1;

/// The settings of a passport that few tasks use.
#[derive(Debug, Clone, Default)]
struct Rare {
    priority: i32,
    /// Per-call time limits of the flow's timed steps ([`Passport::with_step_timeout`]), by
    /// step name, resolved against the flow at submission.
    step_timeouts: Vec<(String, Duration)>,
    /// The parent of the task this passport starts, if [`Task::child`](crate::Task::child)
    /// made it: the parent's shared state, typed `Any` so that this value knows nothing of
    /// the runner (submission takes it back as what it is).
    parent: Option<Link>,
    /// The cancellation explorer's recorder for the task this passport starts (feature
    /// `testing`): the explorer arms the passport it hands to the submit closure, and the
    /// runner's probe takes it at submission. Typed `Any` so that this value knows nothing
    /// of the explorer. Here rather than in the passport itself, so that the feature does
    /// not make every task's future larger.
    #[cfg(feature = "testing")]
    armed: Option<Armed>,
}

impl<P> Passport<P> {
    /// A passport with a fresh id (see [`TaskId::new`]).
    pub fn new(payload: P) -> Self {
        Passport {
            id: TaskId::new(),
            payload,
            timeout_nanos: NO_TIMEOUT,
            rare: None,
        }
    }

    /// The explorer's recorder, if it armed this passport (feature `testing`).
    #[cfg(feature = "testing")]
    pub(crate) fn armed(&self) -> Option<&Armed> {
        self.rare.as_ref().and_then(|rare| rare.armed.as_ref())
    }

    /// Arms this passport for the explorer's recorder (feature `testing`).
    #[cfg(feature = "testing")]
    pub(crate) fn set_armed(&mut self, armed: Armed) {
        self.rare.get_or_insert_with(Box::default).armed = Some(armed);
    }

    /// Whether [`Task::child`](crate::Task::child) made this passport: the task it starts will
    /// be a child of that task.
    pub fn is_child(&self) -> bool {
        self.rare.as_ref().is_some_and(|rare| rare.parent.is_some())
    }

    /// Links the task this passport starts to its parent (see [`Task::child`](crate::Task::child)).
    pub(crate) fn set_parent(&mut self, parent: Link) {
        self.rare.get_or_insert_with(Box::default).parent = Some(parent);
    }

    /// Takes the parent link out, for submission.
    pub(crate) fn take_parent(&mut self) -> Option<Link> {
        self.rare.as_mut().and_then(|rare| rare.parent.take())
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
    /// a deadline too far for the clock to represent (`Duration::MAX`) never comes. (One of
    /// 584 years or more is kept as `Duration::MAX`.)
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout_nanos =
            u64::try_from(timeout.as_nanos()).map_or(BEYOND, |nanos| nanos.min(BEYOND));
        self
    }

    /// This task's priority in a limited flow's queue and in a resource's: higher goes first,
    /// equal priorities go in submission order. The default is 0; negative values go after it.
    /// Priorities are strict: see the [queue add-on](crate#the-queue-add-on) on starvation.
    pub fn with_priority(mut self, priority: i32) -> Self {
        if priority != 0 || self.rare.is_some() {
            self.rare.get_or_insert_with(Box::default).priority = priority;
        }
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
        let limits = &mut self.rare.get_or_insert_with(Box::default).step_timeouts;
        match limits.iter_mut().find(|(name, _)| *name == step) {
            Some(known) => known.1 = limit,
            None => limits.push((step, limit)),
        }
        self
    }

    /// The per-call step time limits set by [`with_step_timeout`](Self::with_step_timeout),
    /// by step name.
    pub fn step_timeouts(&self) -> &[(String, Duration)] {
        self.rare.as_ref().map_or(&[], |rare| &rare.step_timeouts)
    }

    /// Whether [`with_step_timeout`](Self::with_step_timeout) was called.
    pub(crate) fn has_step_timeouts(&self) -> bool {
        self.rare
            .as_ref()
            .is_some_and(|rare| !rare.step_timeouts.is_empty())
    }

    /// Takes the per-call step time limits out, for submission to resolve.
    pub(crate) fn take_step_timeouts(&mut self) -> Vec<(String, Duration)> {
        self.rare
            .as_mut()
            .map(|rare| std::mem::take(&mut rare.step_timeouts))
            .unwrap_or_default()
    }

    /// The task's priority (0 unless set).
    pub fn priority(&self) -> i32 {
        self.rare.as_ref().map_or(0, |rare| rare.priority)
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
        match self.timeout_nanos {
            NO_TIMEOUT => None,
            BEYOND => Some(Duration::MAX),
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    /// The payload, by value.
    pub fn into_payload(self) -> P {
        self.payload
    }

    pub(crate) fn payload_mut(&mut self) -> &mut P {
        &mut self.payload
    }
}
