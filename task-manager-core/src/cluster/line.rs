//! Cluster-wide lines: what a manager asks its store when the store shares limits
//! ([`Cluster::shares_limits`](super::Cluster::shares_limits)), and what the store answers.
//!
//! A line is a flow's limit, the builder's `limit_all`, or a named resource, as the manager
//! was configured; the store keeps one line of each name for every instance of the cluster,
//! with the same rules as in one process: priority first, then arrival order, at most
//! `capacity` waiting, permits handed from a releaser straight to the next waiter.
//!
//! Who holds what, on the manager's side: an [`Entered::Queued`] wait is held by the waiting
//! task; dropping it leaves the line (the task was cancelled while it waited). A
//! [`ClusterPermit`] is held by the task (a flow's permit) or the step (a resource's) and
//! dropping it gives the permit back. The store makes both drops do their work without
//! blocking (a queued write).

use std::fmt;

use crate::cluster::ClusterFuture;
use crate::id::TaskId;

/// A task's request for a place in a cluster-wide line ([`Cluster::enter_line`](super::Cluster::enter_line)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LineEntry {
    /// The line's name, the same on every instance configured alike: `flow:NAME` for a
    /// flow's limit, `all` for `limit_all`, `resource:NAME` for a resource.
    pub line: String,
    /// The task that waits.
    pub task: TaskId,
    /// Its priority (higher first; arrival order among equals).
    pub priority: i32,
    /// How many tasks (or steps) may hold a permit at once, cluster-wide.
    pub permits: usize,
    /// How many may wait, cluster-wide (`usize::MAX` for a resource: unbounded).
    pub capacity: usize,
}

impl LineEntry {
    /// An entry of task `task` with `priority` into line `line` of `permits` permits and
    /// room for `capacity` waiters.
    pub fn new(
        line: impl Into<String>,
        task: TaskId,
        priority: i32,
        permits: usize,
        capacity: usize,
    ) -> Self {
        LineEntry {
            line: line.into(),
            task,
            priority,
            permits,
            capacity,
        }
    }
}

/// A permit of a cluster-wide line, held by a task (its flow's) or a step (its resource's):
/// dropping it gives the permit back to the store, which hands it to the next waiter of the
/// line, on whichever instance it waits.
pub struct ClusterPermit {
    /// The store's guard: its drop releases the permit.
    _guard: Box<dyn Send + Sync + 'static>,
}

impl ClusterPermit {
    /// A permit whose release is `guard`'s drop.
    pub fn new(guard: impl Send + Sync + 'static) -> Self {
        ClusterPermit {
            _guard: Box::new(guard),
        }
    }
}

impl fmt::Debug for ClusterPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterPermit")
    }
}

/// The store's answer to [`Cluster::enter_line`](super::Cluster::enter_line).
#[non_exhaustive]
pub enum Entered {
    /// A permit was free and nobody waited: it is the task's.
    Admitted(ClusterPermit),
    /// The task has its place in the line: the future is ready with the permit once the
    /// store hands it one. Dropping it leaves the line (or, if a permit was handed over
    /// meanwhile, gives it back).
    Queued(ClusterFuture<ClusterPermit>),
    /// The line was full: `capacity` tasks wait already.
    Full {
        /// The line's capacity.
        capacity: usize,
    },
}

impl fmt::Debug for Entered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entered::Admitted(_) => f.write_str("Admitted"),
            Entered::Queued(_) => f.write_str("Queued"),
            Entered::Full { capacity } => write!(f, "Full {{ capacity: {capacity} }}"),
        }
    }
}

/// A submitted task's entry into its flow's cluster-wide line, staged by the synchronous
/// submission for `submit_in_cluster` to make (it is the one that can await the store), and
/// the gate through which the answer reaches the spawned task.
pub(crate) struct Staged {
    pub(crate) entry: LineEntry,
    pub(crate) flow: &'static str,
    pub(crate) gate: tokio::sync::oneshot::Sender<Entered>,
}

/// The name of a flow's line.
pub(crate) fn flow_line(flow: &str) -> String {
    format!("flow:{flow}")
}

/// The name of `limit_all`'s line.
pub(crate) const ALL_FLOWS_LINE: &str = "all";

/// The name of a resource's line.
pub(crate) fn resource_line(resource: &str) -> String {
    format!("resource:{resource}")
}
