//! Why a task could not be submitted, and why a setting was refused.

use std::fmt;

use crate::id::TaskId;
use crate::limit::LimitOf;

/// A task that was refused at submission. Nothing of it ran; nothing was registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// A task with this id is already running. It keeps running and stays cancellable
    /// under its id; give the new task another id (or none, for a fresh one).
    #[error("task {id} of flow `{flow}` was refused: a task with this id is already running")]
    DuplicateId {
        /// The id in use.
        id: TaskId,
        /// The flow of the refused task.
        flow: &'static str,
    },
    /// There is no tokio runtime to run the task on.
    #[error("task {id} of flow `{flow}` was refused: no tokio runtime is running here (call `execute_*` from within a tokio runtime)")]
    NoRuntime {
        /// The refused task's id.
        id: TaskId,
        /// Its flow.
        flow: &'static str,
    },
    /// The manager is shutting down (see [`TaskManager::shutdown`](crate::TaskManager::shutdown))
    /// and takes no new task.
    #[error("task {id} of flow `{flow}` was refused: the task manager is shutting down")]
    ShuttingDown {
        /// The refused task's id.
        id: TaskId,
        /// Its flow.
        flow: &'static str,
    },
    /// The task's deadline (its passport's, or else its flow's) is zero: the task would be
    /// cancelled before its first step. Cancel it explicitly if that is what you mean.
    #[error("task {id} of flow `{flow}` was refused: its timeout is zero, so it would be cancelled before its first step (give a positive timeout, or none)")]
    ZeroTimeout {
        /// The refused task's id.
        id: TaskId,
        /// Its flow.
        flow: &'static str,
    },
    /// The flow is limited and its queue is full: the task is refused at once, and the
    /// tasks already queued keep their places.
    #[error(
        "task {id} of flow `{flow}` was refused: the queue is full ({capacity} tasks wait already)"
    )]
    QueueFull {
        /// The refused task's id.
        id: TaskId,
        /// Its flow.
        flow: &'static str,
        /// The queue's capacity.
        capacity: usize,
    },
    /// A step of the flow needs a resource (`#[step(resource = "..")]`) that this manager does
    /// not have: configure it with [`TaskManagerBuilder::resource`](crate::TaskManagerBuilder::resource).
    #[error("task {id} of flow `{flow}` was refused: its step `{step}` needs resource `{resource}`, which this task manager does not have (add `.resource(\"{resource}\", permits)` to its builder)")]
    UnknownResource {
        /// The refused task's id.
        id: TaskId,
        /// Its flow.
        flow: &'static str,
        /// The step that names the resource.
        step: &'static str,
        /// The resource's name.
        resource: &'static str,
    },
    /// The passport sets a time limit for a step the flow does not have
    /// ([`Passport::with_step_timeout`](crate::Passport::with_step_timeout)).
    #[error("task {id} of flow `{flow}` was refused: its passport sets a time limit for step `{step}`, which the flow does not have")]
    UnknownStep {
        /// The refused task's id.
        id: TaskId,
        /// Its flow.
        flow: &'static str,
        /// The step name the passport gave.
        step: String,
    },
    /// The passport sets a time limit for a step that declares none: a step takes a per-call
    /// limit only if it declares one (`#[step(timeout = "..")]`).
    #[error("task {id} of flow `{flow}` was refused: its passport sets a time limit for step `{step}`, which declares no `timeout` (declare `#[step(timeout = \"..\")]` on it to allow a per-call limit)")]
    StepWithoutTimeout {
        /// The refused task's id.
        id: TaskId,
        /// Its flow.
        flow: &'static str,
        /// The step.
        step: &'static str,
    },
    /// The passport sets a zero time limit for a step: every attempt would time out before
    /// its first poll.
    #[error("task {id} of flow `{flow}` was refused: its passport sets a zero time limit for step `{step}`, so every attempt would time out at once (give a positive limit)")]
    ZeroStepTimeout {
        /// The refused task's id.
        id: TaskId,
        /// Its flow.
        flow: &'static str,
        /// The step.
        step: &'static str,
    },
    /// The task is a child ([`Task::child`](crate::Task::child)) whose parent has ended (or
    /// has claimed its ending): a child is started from its parent's step.
    #[error("task {id} of flow `{flow}` was refused: its parent task {parent} has ended (start children from the parent's step)")]
    ParentEnded {
        /// The refused task's id.
        id: TaskId,
        /// Its flow.
        flow: &'static str,
        /// The parent.
        parent: TaskId,
    },
    /// The task is a child of a limited flow (queue add-on) and an ancestor of it runs in the
    /// same flow, holding one of the flow's permits while it waits for its children: with as
    /// many such parents as permits, no child could ever be admitted. Refused whatever the
    /// permits left, so that it cannot depend on timing: run the fan-out from a flow without
    /// the limit, or give the children a flow (or a step resource) of their own.
    #[error("task {id} of flow `{flow}` was refused: its ancestor task {ancestor} runs in the same limited flow and holds a permit while it waits for its children, which could deadlock (start the children in another flow, or fan out from a flow without a limit)")]
    ParentHoldsPermit {
        /// The refused task's id.
        id: TaskId,
        /// Its flow (limited).
        flow: &'static str,
        /// The ancestor of the same flow.
        ancestor: TaskId,
    },
    /// The manager is clustered, and the task was submitted without a reservation of its id
    /// in the cluster: submit it through
    /// [`TaskManager::submit_in_cluster`](crate::TaskManager::submit_in_cluster).
    #[error("task {id} of flow `{flow}` was refused: its task manager is clustered, so its id must be reserved first (submit through `TaskManager::submit_in_cluster`)")]
    NotReserved {
        /// The refused task's id.
        id: TaskId,
        /// Its flow.
        flow: &'static str,
    },
    /// A task with this id has a record somewhere in the cluster (running, or finished and
    /// not yet purged).
    #[error("task {id} was refused: the cluster already has a task with this id")]
    DuplicateInCluster {
        /// The id in use.
        id: TaskId,
    },
    /// The cluster's store could not reserve the id.
    #[error("task {id} was refused: the cluster's store failed: {error}")]
    Cluster {
        /// The refused task's id.
        id: TaskId,
        /// The store's error (boxed: it is the largest, and every submission's `Result`
        /// would carry its size).
        error: Box<ClusterError>,
    },
}

impl SubmitError {
    /// The refused task's id.
    pub fn id(&self) -> TaskId {
        match self {
            SubmitError::DuplicateId { id, .. }
            | SubmitError::NoRuntime { id, .. }
            | SubmitError::ShuttingDown { id, .. }
            | SubmitError::ZeroTimeout { id, .. }
            | SubmitError::QueueFull { id, .. }
            | SubmitError::UnknownResource { id, .. }
            | SubmitError::UnknownStep { id, .. }
            | SubmitError::StepWithoutTimeout { id, .. }
            | SubmitError::ZeroStepTimeout { id, .. }
            | SubmitError::ParentEnded { id, .. }
            | SubmitError::ParentHoldsPermit { id, .. }
            | SubmitError::NotReserved { id, .. }
            | SubmitError::DuplicateInCluster { id }
            | SubmitError::Cluster { id, .. } => *id,
        }
    }
}

/// A configuration that cannot work: a setting of a
/// [`TaskManagerBuilder`](crate::TaskManagerBuilder), refused by its
/// [`build`](crate::TaskManagerBuilder::build).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A duration setting was zero where zero makes no sense.
    #[error("`{setting}` must be longer than zero: {why}")]
    Zero {
        /// The setting, as the method that takes it names it.
        setting: &'static str,
        /// What a zero would do.
        why: &'static str,
    },
    /// A limit or a resource with zero permits: nothing could ever run (queue add-on).
    #[error("{of} has 0 permits: no task could ever run; give it at least 1")]
    ZeroPermits {
        /// The faulty limit.
        of: LimitOf,
    },
    /// A limit with a queue capacity of zero (queue add-on).
    #[error("{of} has a queue capacity of 0: every task that has to wait would be refused; give it at least 1")]
    ZeroQueueCapacity {
        /// The faulty limit.
        of: LimitOf,
    },
    /// A limit with a zero max wait (queue add-on).
    #[error("{of} has a max wait of 0: every task that has to wait would be refused; give it a positive duration or none")]
    ZeroMaxWait {
        /// The faulty limit.
        of: LimitOf,
    },
    /// The same flow or resource configured twice (queue add-on).
    #[error("{of} is configured twice: keep one")]
    Duplicate {
        /// What was configured twice.
        of: LimitOf,
    },
    /// The cluster could not start delivering cancels to this manager
    /// ([`Cluster::attach`](crate::Cluster::attach)).
    #[error("the cluster could not be attached: {error}")]
    Cluster {
        /// The store's error.
        error: ClusterError,
    },
}

/// A cluster store failed or refused, naming the task when there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{during}: {detail}", task_prefix(.id))]
pub struct ClusterError {
    /// What failed.
    pub kind: ClusterErrorKind,
    /// The task concerned, if one is.
    pub id: Option<TaskId>,
    /// What the store was doing ("reserving a task id", ...).
    pub during: &'static str,
    /// The store's own words.
    pub detail: String,
}

fn task_prefix(id: &Option<TaskId>) -> String {
    id.map(|id| format!("task {id}: ")).unwrap_or_default()
}

/// The kind of a [`ClusterError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClusterErrorKind {
    /// The id has a record in the cluster already.
    Duplicate,
    /// The store could not be reached; the same call may succeed later.
    Unavailable,
    /// The store refused the call for good (a record it does not own, an invalid name).
    Refused,
    /// The store (or a manager without one) does not offer this call.
    Unsupported,
}

impl fmt::Display for ClusterErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClusterErrorKind::Duplicate => "duplicate id",
            ClusterErrorKind::Unavailable => "store unavailable",
            ClusterErrorKind::Refused => "refused",
            ClusterErrorKind::Unsupported => "unsupported",
        })
    }
}

impl ClusterError {
    /// An error of `kind` about task `id` (if any), met while `during`.
    pub fn new(
        kind: ClusterErrorKind,
        id: Option<TaskId>,
        during: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        ClusterError {
            kind,
            id,
            during,
            detail: detail.into(),
        }
    }
}
