//! How many tasks of a flow may run at once, and how the rest wait: the value the queue
//! add-on (`queue/`) is configured with, kept beside the other values so that a flow's
//! description and the errors can name it without reaching into the add-on.

use std::fmt;
use std::time::Duration;

/// A limit on how many tasks run at once, with the line the others wait in.
///
/// * `permits`: at most this many tasks run at once (admitted tasks; they hold their place
///   until they end, however they end).
/// * `queue_capacity`: at most this many wait; the next submission is refused at once with
///   [`SubmitError::QueueFull`](crate::SubmitError::QueueFull). Default
///   [`DEFAULT_QUEUE_CAPACITY`](Self::DEFAULT_QUEUE_CAPACITY).
/// * `max_wait`: a task that waited this long without being admitted is ended with
///   [`CancelReason::QueueWaitExceeded`](crate::CancelReason::QueueWaitExceeded), without
///   running anything. Default: no limit (the task's own deadline still applies).
///
/// Permits, capacity and max wait must be non-zero; [`TaskManagerBuilder::build`](crate::TaskManagerBuilder::build)
/// says which one is not (and `#[flow(limit = 0)]` does not compile).
///
/// ```
/// use std::time::Duration;
/// use task_manager_core::Limit;
///
/// let limit = Limit::new(4).with_queue_capacity(1_000).with_max_wait(Duration::from_secs(5));
/// assert_eq!(limit.permits(), 4);
/// assert_eq!(limit.queue_capacity(), 1_000);
/// assert_eq!(limit.max_wait(), Some(Duration::from_secs(5)));
///
/// let plain: Limit = 4.into();               // what `.limit_flow("query", 4)` means
/// assert_eq!(plain.queue_capacity(), Limit::DEFAULT_QUEUE_CAPACITY);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limit {
    permits: usize,
    queue_capacity: usize,
    max_wait: Option<Duration>,
}

impl Limit {
    /// The line's capacity unless set: bounded, so that a burst cannot grow memory without
    /// end; large enough that a sane burst is absorbed.
    pub const DEFAULT_QUEUE_CAPACITY: usize = 1_000;

    /// At most `permits` tasks at once, a line of [`DEFAULT_QUEUE_CAPACITY`](Self::DEFAULT_QUEUE_CAPACITY),
    /// no wait limit.
    pub const fn new(permits: usize) -> Self {
        Limit {
            permits,
            queue_capacity: Self::DEFAULT_QUEUE_CAPACITY,
            max_wait: None,
        }
    }

    /// At most `capacity` tasks wait; the next one is refused at once.
    pub const fn with_queue_capacity(self, capacity: usize) -> Self {
        Limit {
            queue_capacity: capacity,
            ..self
        }
    }

    /// A task not admitted within `max_wait` of its submission ends without running.
    pub const fn with_max_wait(self, max_wait: Duration) -> Self {
        Limit {
            max_wait: Some(max_wait),
            ..self
        }
    }

    /// How many tasks run at once at most.
    pub const fn permits(&self) -> usize {
        self.permits
    }

    /// How many tasks wait at most.
    pub const fn queue_capacity(&self) -> usize {
        self.queue_capacity
    }

    /// How long a task waits at most.
    pub const fn max_wait(&self) -> Option<Duration> {
        self.max_wait
    }

    /// The setting that is zero where zero cannot work, if any.
    pub(crate) const fn zero_setting(&self) -> Option<ZeroSetting> {
        if self.permits == 0 {
            return Some(ZeroSetting::Permits);
        }
        if self.queue_capacity == 0 {
            return Some(ZeroSetting::QueueCapacity);
        }
        if let Some(max_wait) = self.max_wait {
            if max_wait.is_zero() {
                return Some(ZeroSetting::MaxWait);
            }
        }
        None
    }
}

impl From<usize> for Limit {
    /// `Limit::new(permits)`.
    fn from(permits: usize) -> Self {
        Limit::new(permits)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// Which setting of a [`Limit`] is zero, where zero cannot work.
pub(crate) enum ZeroSetting {
    Permits,
    QueueCapacity,
    MaxWait,
}

/// Which limit a [`ConfigError`](crate::ConfigError) of the queue add-on is about: one given
/// to `limit_flow`, `limit_all` or `resource`, or a `#[flow(limit = ..)]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitOf {
    /// `limit_flow(name, ..)` or `#[flow(name = .., limit = ..)]`.
    Flow(String),
    /// `limit_all(..)`.
    AllFlows,
    /// `resource(name, ..)`.
    Resource(String),
}

impl fmt::Display for LimitOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitOf::Flow(flow) => write!(f, "the limit of flow `{flow}`"),
            LimitOf::AllFlows => f.write_str("the limit of all flows (`limit_all`)"),
            LimitOf::Resource(resource) => write!(f, "resource `{resource}`"),
        }
    }
}
