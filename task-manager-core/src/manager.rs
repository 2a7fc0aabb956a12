//! The registry of running tasks and the ways to reach them by id.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::cancel::{CancelAll, Cancellation};
use crate::cluster::{CancelDelivery, Cluster, ClusterLink, Deliver};
use crate::error::ClusterError;
use crate::id::TaskId;
use crate::observe::AddonSet;
use crate::queue::{self, Abandonments, Queues};
use crate::reason::CancelStatus;
use crate::reason::{CancelReason, CancelSource};
use crate::registry::Registry;
use crate::shared::TaskShared;

/// Holds every running task of the flows of one manager struct, by id.
///
/// Put one in your struct, derive [`HasTaskManager`](macro@crate::HasTaskManager), and every
/// `#[flow]` on that struct registers its tasks here. Cloning is cheap and shares the
/// registry, so a clone can be handed to whoever needs to cancel.
///
/// ```
/// use task_manager_core::{TaskManager, TaskId, CancelStatus};
///
/// let tasks = TaskManager::new();
/// assert!(tasks.is_empty());
/// assert_eq!(tasks.status(TaskId::new()), None);
/// assert_eq!(tasks.cancel(TaskId::new(), "no such task").status(), CancelStatus::NotFound);
/// ```
#[derive(Clone)]
pub struct TaskManager {
    pub(crate) registry: Arc<Registry>,
    /// The add-ons every task of this manager tells its events to; `None` if there are none.
    pub(crate) addons: Option<Arc<AddonSet>>,
}

impl TaskManager {
    /// An empty manager, without limits (a flow's own `#[flow(limit = ..)]` still applies).
    pub fn new() -> Self {
        TaskManager {
            registry: Arc::new(Registry::new()),
            addons: None,
        }
    }

    /// A manager with the queue add-on's lines and resources, and `addons`: what
    /// [`TaskManagerBuilder::build`](crate::TaskManagerBuilder::build) makes once it has
    /// checked them.
    pub(crate) fn with_parts(
        queues: Queues,
        cleanup_timeout: Option<Duration>,
        addons: Option<Arc<AddonSet>>,
        cluster: Option<Arc<dyn Cluster>>,
    ) -> Result<Self, ClusterError> {
        let link = cluster
            .as_ref()
            .map(|cluster| ClusterLink::new(Arc::clone(cluster)));
        let registry = Arc::new(Registry::with_settings(queues, cleanup_timeout, link));
        if let Some(cluster) = cluster {
            let manager: std::sync::Weak<dyn Deliver> = Arc::downgrade(&registry) as _;
            cluster.attach(CancelDelivery::new(manager))?;
        }
        Ok(TaskManager { registry, addons })
    }

    /// The manager's default cleanup deadline, if its builder set one
    /// ([`TaskManagerBuilder::cleanup_timeout`](crate::TaskManagerBuilder::cleanup_timeout)).
    pub fn cleanup_timeout(&self) -> Option<Duration> {
        self.registry.cleanup_timeout()
    }

    /// Cancels the running task `id`: the step in progress stops at once, its cleanup runs
    /// with `reason`, and no later step starts. Returns at once with what the request found;
    /// await the answer to wait for the cleanup.
    ///
    /// ```
    /// # use task_manager_core::*;
    /// # async fn demo(tasks: &TaskManager, id: TaskId) {
    /// match tasks.cancel(id, "user left").await {
    ///     Some(cleanup) => println!("task {id} stopped: {cleanup:?}"),
    ///     None => println!("task {id} was not running"),
    /// }
    /// # }
    /// ```
    pub fn cancel(&self, id: TaskId, reason: impl Into<CancelReason>) -> Cancellation {
        match self.registry.get(id) {
            Some(task) => {
                let status =
                    queue::cancel(&task, reason.into(), CancelSource::Request, self.lines());
                Cancellation::new(id, status, Some(task))
            }
            None => Cancellation::new(id, CancelStatus::NotFound, None),
        }
    }

    /// Cancels every running task with `reason`.
    pub fn cancel_all(&self, reason: impl Into<CancelReason>) -> CancelAll {
        self.cancel_all_by(reason.into(), CancelSource::CancelAll)
    }

    /// Cancels every running task with `reason`, on behalf of `source` (`cancel_all`, or
    /// the manager's shutdown).
    pub(crate) fn cancel_all_by(&self, reason: CancelReason, source: CancelSource) -> CancelAll {
        let mut found: Vec<(TaskId, Arc<TaskShared>)> = Vec::new();
        // Collect first, cancel after: waking tasks while holding a shard lock would make them
        // contend for it on the way out.
        self.registry
            .for_each(|id, task| found.push((id, Arc::clone(task))));
        // Tasks without a parent first: each cancel goes on to its children, which are told
        // their parent's reason (`CancelReason::Parent`); a child is cancelled here directly
        // only if its parent was not (it had claimed its ending already).
        found.sort_by_key(|(_, task)| {
            task.has_family()
                && task
                    .family()
                    .is_some_and(|family| family.parent_id().is_some())
        });
        let cancellations = found
            .into_iter()
            .map(|(id, task)| {
                let status = queue::cancel(&task, reason.clone(), source, self.lines());
                Cancellation::new(id, status, Some(task))
            })
            .collect();
        CancelAll { cancellations }
    }

    /// The count this manager's cancels tell its lines (queue add-on).
    fn lines(&self) -> Option<&Abandonments> {
        Some(self.registry.queues.abandonments())
    }

    /// The ids of all running tasks (a snapshot).
    pub fn running_ids(&self) -> Vec<TaskId> {
        let mut ids = Vec::new();
        self.registry.for_each(|id, _| ids.push(id));
        ids
    }

    /// Whether a task with this id is running.
    pub fn contains(&self, id: TaskId) -> bool {
        self.registry.get(id).is_some()
    }

    /// How many tasks are running.
    pub fn len(&self) -> usize {
        self.registry.len()
    }

    /// Whether no task is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for TaskManager {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for TaskManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskManager")
            .field("running", &self.len())
            .finish()
    }
}

/// Implemented by a struct that holds a [`TaskManager`]: it tells the struct's `#[flow]`s
/// where to register their tasks. Derive it rather than writing it:
///
/// ```
/// use task_manager_core::{HasTaskManager, TaskManager};
///
/// #[derive(HasTaskManager)]
/// struct Queries {
///     tasks: TaskManager,   // found by its type; mark it `#[task_manager]` if there are several
///     endpoint: String,
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no `TaskManager` to register tasks in",
    label = "`{Self}` does not implement `HasTaskManager`",
    note = "a `#[flow]` impl block registers its tasks in its type's `TaskManager`: give the type a field `tasks: TaskManager` and `#[derive(HasTaskManager)]`",
    note = "a field marked `#[task_manager]` must be a `TaskManager` (or a type that itself derives `HasTaskManager`)"
)]
pub trait HasTaskManager {
    /// The manager that registers this struct's tasks.
    fn task_manager(&self) -> &TaskManager;
}

impl HasTaskManager for TaskManager {
    fn task_manager(&self) -> &TaskManager {
        self
    }
}
