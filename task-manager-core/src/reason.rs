//! A cancel's words: why a task is stopped ([`CancelReason`]), who asked ([`CancelSource`]),
//! and what the request found ([`CancelStatus`], [`CancelError`]).

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use std::sync::Arc;

use crate::id::TaskId;

/// Why a task is being cancelled. The first reason given wins: later cancels of the same task
/// do not replace it.
///
/// A step's cleanup receives the reason, and a cancelled task's
/// [`Ending::Cancelled`](crate::Ending::Cancelled) carries it.
///
/// ```
/// use task_manager_core::CancelReason;
///
/// let reason = CancelReason::from("user left");
/// assert_eq!(reason, CancelReason::Requested("user left".into()));
/// assert_eq!(reason.to_string(), "cancelled: user left");
/// assert!(CancelReason::Timeout.is_timeout());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CancelReason {
    /// Someone called [`TaskManager::cancel`](crate::TaskManager::cancel) (or
    /// [`TaskHandle::cancel`](crate::TaskHandle::cancel)) with this message.
    Requested(Cow<'static, str>),
    /// The task's deadline passed (the flow's `timeout`, or the passport's).
    Timeout,
    /// The [`TaskHandle`](crate::TaskHandle) was dropped before the task finished, and the
    /// task was not detached.
    HandleDropped,
    /// The manager is shutting down.
    Shutdown,
    /// The task waited in its flow's queue (queue add-on) for longer than the limit's
    /// `max_wait` and was refused without running any step. Counted from submission.
    QueueWaitExceeded {
        /// The limit's max wait.
        max_wait: Duration,
    },
    /// Not a cancel: the step panicked, and its cleanup runs to free what the step held.
    /// Only a cleanup ever sees this reason; the task's outcome is
    /// [`Ending::Panicked`](crate::Ending::Panicked).
    StepPanicked,
    /// Not a cancel: an attempt of the step ran longer than its time limit
    /// (`#[step(timeout = "..")]`) and was dropped; its cleanup runs to free what it held.
    /// Only a cleanup ever sees this reason; the task's outcome is
    /// [`Ending::TimedOut`](crate::Ending::TimedOut), unless the step's retry policy retries it.
    ///
    /// It names the limit, not the step: the cleanup that receives it is the step's own, and
    /// a `&'static str` more would make every reason (and every task's ending) 8 bytes
    /// larger.
    StepTimeout {
        /// The step's time limit.
        limit: Duration,
    },
    /// The task is a child (see [`Task::child`](crate::Task::child)) and its parent was
    /// cancelled: which parent, and why (which may itself be a `Parent`, for a grandchild).
    /// A child's cleanups finish before its parent's step cleanup starts.
    ///
    /// Boxed, so that every reason (and every task's ending) stays 24 bytes.
    Parent(Box<ParentCancel>),
    /// The task is a child and the step of its parent that started it ended (returned,
    /// failed, panicked, ran out of time) while this child was still running: a child never
    /// outlives the step that started it.
    ParentStepEnded {
        /// The parent task.
        parent: TaskId,
    },
    /// The task was a child in a fan-out that stopped at another child's failure
    /// ([`FanOut::try_join`](crate::FanOut::try_join)): the rest are cancelled.
    SiblingFailed {
        /// The child whose ending stopped the fan-out.
        sibling: TaskId,
    },
    /// The task was a child in a race ([`FanOut::race`](crate::FanOut::race),
    /// [`FanOut::join_any`](crate::FanOut::join_any)) that another child won.
    RaceLost {
        /// The child that won.
        winner: TaskId,
    },
    /// The instance of the cluster that ran the task was lost (its lease in the cluster's
    /// store expired: the process died, hung, or was cut off from the store), and another
    /// instance claimed the task. A clustered task only; see
    /// [`Ending::Abandoned`](crate::Ending::Abandoned) for what the lost instance's own copy
    /// of the task does if that instance comes back.
    OwnerLost {
        /// The instance that was lost.
        instance: Arc<str>,
    },
}

/// Which parent was cancelled, and why: see [`CancelReason::Parent`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ParentCancel {
    /// The parent task.
    pub parent: TaskId,
    /// Why the parent was cancelled.
    pub reason: CancelReason,
}

impl CancelReason {
    /// The reason a child of `parent` gets when `parent` is cancelled for `reason`.
    ///
    /// ```
    /// use task_manager_core::{CancelReason, TaskId};
    ///
    /// let parent = TaskId::new();
    /// let reason = CancelReason::parent(parent, CancelReason::Timeout);
    /// assert_eq!(reason.root(), &CancelReason::Timeout);
    /// assert_eq!(reason.to_string(), format!("its parent task {parent} was cancelled (timed out)"));
    /// ```
    pub fn parent(parent: TaskId, reason: CancelReason) -> Self {
        CancelReason::Parent(Box::new(ParentCancel { parent, reason }))
    }

    /// Whether the task's deadline caused this.
    pub fn is_timeout(&self) -> bool {
        matches!(self, CancelReason::Timeout)
    }

    /// Whether a step's own time limit caused this (see [`CancelReason::StepTimeout`]).
    pub fn is_step_timeout(&self) -> bool {
        matches!(self, CancelReason::StepTimeout { .. })
    }

    /// The reason of a task whose instance `instance` was lost (see [`CancelReason::OwnerLost`]).
    ///
    /// ```
    /// use task_manager_core::CancelReason;
    ///
    /// let reason = CancelReason::owner_lost("api-1");
    /// assert!(reason.is_owner_lost());
    /// assert_eq!(reason.to_string(), "its instance `api-1` was lost");
    /// ```
    pub fn owner_lost(instance: impl Into<Arc<str>>) -> Self {
        CancelReason::OwnerLost {
            instance: instance.into(),
        }
    }

    /// Whether the task's instance was lost (see [`CancelReason::OwnerLost`]).
    pub fn is_owner_lost(&self) -> bool {
        matches!(self, CancelReason::OwnerLost { .. })
    }

    /// Whether the task waited too long in its queue (see [`Limit::with_max_wait`](crate::Limit::with_max_wait)).
    pub fn is_queue_wait_exceeded(&self) -> bool {
        matches!(self, CancelReason::QueueWaitExceeded { .. })
    }

    /// The reason at the root of a chain of [`CancelReason::Parent`]s: why the task at the top
    /// of the tree was cancelled (`self` for any other reason).
    ///
    /// ```
    /// use task_manager_core::{CancelReason, TaskId};
    ///
    /// let child = CancelReason::parent(TaskId::new(), "user left".into());
    /// let grandchild = CancelReason::parent(TaskId::new(), child);
    /// assert_eq!(grandchild.root(), &CancelReason::from("user left"));
    /// ```
    pub fn root(&self) -> &CancelReason {
        let mut reason = self;
        while let CancelReason::Parent(up) = reason {
            reason = &up.reason;
        }
        reason
    }
}

impl From<&'static str> for CancelReason {
    fn from(message: &'static str) -> Self {
        CancelReason::Requested(Cow::Borrowed(message))
    }
}

impl From<String> for CancelReason {
    fn from(message: String) -> Self {
        CancelReason::Requested(Cow::Owned(message))
    }
}

impl From<Cow<'static, str>> for CancelReason {
    fn from(message: Cow<'static, str>) -> Self {
        CancelReason::Requested(message)
    }
}

impl fmt::Display for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CancelReason::Requested(message) => write!(f, "cancelled: {message}"),
            CancelReason::Timeout => f.write_str("timed out"),
            CancelReason::HandleDropped => f.write_str("its handle was dropped"),
            CancelReason::Shutdown => f.write_str("the task manager is shutting down"),
            CancelReason::QueueWaitExceeded { max_wait } => {
                write!(
                    f,
                    "refused after waiting longer than {max_wait:?} in the queue"
                )
            }
            CancelReason::StepPanicked => f.write_str("the step panicked"),
            CancelReason::StepTimeout { limit } => {
                write!(f, "the step ran longer than its limit of {limit:?}")
            }
            CancelReason::Parent(cause) => {
                write!(
                    f,
                    "its parent task {} was cancelled ({})",
                    cause.parent, cause.reason
                )
            }
            CancelReason::ParentStepEnded { parent } => {
                write!(
                    f,
                    "the step of its parent task {parent} that started it ended first"
                )
            }
            CancelReason::SiblingFailed { sibling } => {
                write!(f, "its sibling task {sibling} did not complete")
            }
            CancelReason::RaceLost { winner } => {
                write!(f, "its sibling task {winner} won the race")
            }
            CancelReason::OwnerLost { instance } => {
                write!(f, "its instance `{instance}` was lost")
            }
        }
    }
}

/// Who or what asked for a task's cancel: the first request that took effect, as the
/// [`CancelRequested`](crate::EventKind::CancelRequested) event reports it.
///
/// The [`CancelReason`] says why; this says by what means, which the reason alone cannot:
/// `cancel(id, "..")` and `cancel_all("..")` both give a [`CancelReason::Requested`].
///
/// ```
/// use task_manager_core::{CancelReason, CancelSource};
///
/// assert_eq!(CancelSource::implied_by(&CancelReason::Timeout), CancelSource::Timeout);
/// assert_eq!(CancelSource::implied_by(&"user left".into()), CancelSource::Request);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CancelSource {
    /// A request for this one task: [`TaskManager::cancel`](crate::TaskManager::cancel) or
    /// [`TaskHandle::cancel`](crate::TaskHandle::cancel).
    Request,
    /// [`TaskManager::cancel_all`](crate::TaskManager::cancel_all).
    CancelAll,
    /// The task's [`TaskHandle`](crate::TaskHandle) was dropped.
    HandleDropped,
    /// The task's deadline passed.
    Timeout,
    /// The manager is shutting down.
    Shutdown,
    /// The task waited in its flow's queue (queue add-on) longer than the limit's max wait
    /// ([`Limit::with_max_wait`](crate::Limit::with_max_wait)).
    MaxWait,
    /// The task is a child, and its parent was cancelled or the parent's step that started
    /// it ended ([`CancelReason::Parent`], [`CancelReason::ParentStepEnded`]).
    Parent,
    /// The task's instance was lost and another instance of the cluster claimed the task
    /// ([`CancelReason::OwnerLost`]).
    OwnerLost,
}

impl CancelSource {
    /// The source a reason implies when the caller says no more: a timeout comes from the
    /// deadline, a dropped handle from the handle, shutdown from the manager, a wait too long
    /// in a queue from the queue's max wait, anything else from a request.
    pub fn implied_by(reason: &CancelReason) -> Self {
        match reason {
            CancelReason::Timeout | CancelReason::StepTimeout { .. } => CancelSource::Timeout,
            CancelReason::HandleDropped => CancelSource::HandleDropped,
            CancelReason::Shutdown => CancelSource::Shutdown,
            CancelReason::QueueWaitExceeded { .. } => CancelSource::MaxWait,
            CancelReason::Parent(_) | CancelReason::ParentStepEnded { .. } => CancelSource::Parent,
            CancelReason::OwnerLost { .. } => CancelSource::OwnerLost,
            CancelReason::Requested(_)
            | CancelReason::StepPanicked
            | CancelReason::SiblingFailed { .. }
            | CancelReason::RaceLost { .. } => CancelSource::Request,
        }
    }

    /// As one non-zero byte below `0x80`, for `shared.rs` to keep in the task's phase
    /// (beside its cancelled bit).
    pub(crate) const fn code(self) -> u8 {
        match self {
            CancelSource::Request => 1,
            CancelSource::CancelAll => 2,
            CancelSource::HandleDropped => 3,
            CancelSource::Timeout => 4,
            CancelSource::Shutdown => 5,
            CancelSource::MaxWait => 6,
            CancelSource::Parent => 7,
            CancelSource::OwnerLost => 8,
        }
    }

    /// The source of [`code`](Self::code); `None` for 0 (or any byte `code` never gives).
    pub(crate) const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => CancelSource::Request,
            2 => CancelSource::CancelAll,
            3 => CancelSource::HandleDropped,
            4 => CancelSource::Timeout,
            5 => CancelSource::Shutdown,
            6 => CancelSource::MaxWait,
            7 => CancelSource::Parent,
            8 => CancelSource::OwnerLost,
            _ => return None,
        })
    }
}

impl CancelSource {
    /// The source's stable name in `snake_case` (`"request"`, `"cancel_all"`,
    /// `"handle_dropped"`, `"timeout"`, `"shutdown"`, `"max_wait"`, `"parent"`, `"owner_lost"`): for a metrics label, a
    /// JSON field or a stored record, where the [`Display`](fmt::Display) sentence does not fit.
    ///
    /// ```
    /// use task_manager_core::CancelSource;
    ///
    /// assert_eq!(CancelSource::HandleDropped.name(), "handle_dropped");
    /// assert_eq!(CancelSource::from_name("handle_dropped"), Some(CancelSource::HandleDropped));
    /// assert_eq!(CancelSource::from_name("nobody"), None);
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            CancelSource::Request => "request",
            CancelSource::CancelAll => "cancel_all",
            CancelSource::HandleDropped => "handle_dropped",
            CancelSource::Timeout => "timeout",
            CancelSource::Shutdown => "shutdown",
            CancelSource::MaxWait => "max_wait",
            CancelSource::Parent => "parent",
            CancelSource::OwnerLost => "owner_lost",
        }
    }

    /// The source named `name` (see [`name`](Self::name)); `None` for any other text.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|source| source.name() == name)
    }

    const ALL: [CancelSource; 8] = [
        CancelSource::Request,
        CancelSource::CancelAll,
        CancelSource::HandleDropped,
        CancelSource::Timeout,
        CancelSource::Shutdown,
        CancelSource::MaxWait,
        CancelSource::Parent,
        CancelSource::OwnerLost,
    ];
}

impl fmt::Display for CancelSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CancelSource::Request => "a cancel request",
            CancelSource::CancelAll => "cancel_all",
            CancelSource::HandleDropped => "its handle being dropped",
            CancelSource::Timeout => "its deadline",
            CancelSource::Shutdown => "the manager's shutdown",
            CancelSource::MaxWait => "its queue's max wait",
            CancelSource::Parent => "its parent task",
            CancelSource::OwnerLost => "the loss of its instance",
        })
    }
}

/// What a cancel request found, decided at the moment of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CancelStatus {
    /// This request took effect: the task will end cancelled with this request's reason, and
    /// the cleanup of the step in progress (if one was in progress) runs.
    Requested,
    /// An earlier request already took effect; its reason stands and its cleanup runs once.
    AlreadyRequested,
    /// The task had already decided its own ending (it completed, failed or panicked) and is
    /// on its way out; this request changes nothing. (A panicked step's cleanup still runs,
    /// as it would have anyway; the outcome reports it, and awaiting this gives `None`.)
    AlreadyFinished,
    /// No running task has this id: it never existed, or it has finished and been forgotten.
    NotFound,
}

impl CancelStatus {
    /// Whether the task is (now or already) being cancelled.
    pub fn is_cancelling(self) -> bool {
        matches!(
            self,
            CancelStatus::Requested | CancelStatus::AlreadyRequested
        )
    }
}

/// A cancel that found nothing to cancel, as an error: see [`Cancellation::found`](crate::Cancellation::found).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CancelError {
    /// No running task has this id.
    #[error("no running task has id {id}: it never existed, or it has already ended")]
    NotFound {
        /// The id asked for.
        id: TaskId,
    },
}
