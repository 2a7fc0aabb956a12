//! `TaskManager::builder()`: a manager configured before its first task, one method per
//! setting, every setting checked once, in `build`. The settings are the add-ons (observe),
//! the limits and resources (the queue add-on; `queue/config.rs` checks them into the
//! manager's lines) and the cleanup deadline.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::cluster::Cluster;
use crate::error::ConfigError;
use crate::limit::Limit;
use crate::manager::TaskManager;
use crate::observe::{Addon, AddonSet};
use crate::queue::QueueConfig;

/// Builds a [`TaskManager`] with settings: add-ons that hear every task's events, which
/// flows run how many tasks at once and how many wait for how long (the queue add-on), which
/// named resources steps share, and the deadline of every cleanup. Each setting has one
/// method; `build` checks them all.
///
/// ```
/// use std::time::Duration;
/// use task_manager_core::{Addon, Limit, TaskEvent, TaskManager};
///
/// /// Forwards every event's gist to a channel, for a task of its own to export: the add-on
/// /// itself stays fast, as add-ons must.
/// struct Forward(std::sync::mpsc::Sender<String>);
///
/// impl Addon for Forward {
///     fn on_event(&self, event: &TaskEvent<'_>) {
///         let _ = self.0.send(format!("{} {:?}", event.id, event.kind));
///     }
/// }
///
/// let (sender, _receiver) = std::sync::mpsc::channel();
/// let tasks = TaskManager::builder()
///     .addon(Forward(sender))
///     .limit_flow("query", Limit::new(4).with_queue_capacity(1_000).with_max_wait(Duration::from_secs(5)))
///     .limit_flow("report", 1)                 // one at a time, default queue
///     .resource("db", 8)                       // `#[step(resource = "db")]`: 8 such steps at once
///     .cleanup_timeout(Duration::from_secs(5)) // no cleanup runs longer than 5 s
///     .build()?;
/// assert_eq!(tasks.cleanup_timeout(), Some(Duration::from_secs(5)));
/// # Ok::<(), task_manager_core::ConfigError>(())
/// ```
///
/// A flow limited here is limited on this manager only (another manager runs its own
/// tasks under its own limits), unless the manager is clustered on a store that shares
/// limits: see [`cluster`](Self::cluster). A limit given here replaces the flow's
/// `#[flow(limit = ..)]`, so deployment can tune what the code declares.
///
/// Cloning a builder clones its settings; the add-ons given to it are shared by the clones
/// (and by the managers they build), not copied.
#[derive(Default, Clone)]
#[must_use = "call .build() to get the TaskManager"]
pub struct TaskManagerBuilder {
    addons: Vec<Arc<dyn Addon>>,
    queues: QueueConfig,
    cleanup_timeout: Option<Duration>,
    cluster: Option<Arc<dyn Cluster>>,
}

impl TaskManager {
    /// A builder, to give the manager add-ons, limits, resources and settings before its
    /// first task: see [`TaskManagerBuilder`].
    ///
    /// ```
    /// use task_manager_core::{Limit, TaskManager};
    ///
    /// let tasks = TaskManager::builder()
    ///     .limit_flow("query", Limit::new(4).with_queue_capacity(1_000))
    ///     .resource("db", 2)
    ///     .build()?;
    /// # let _ = tasks;
    /// # Ok::<(), task_manager_core::ConfigError>(())
    /// ```
    pub fn builder() -> TaskManagerBuilder {
        TaskManagerBuilder::default()
    }
}

impl TaskManagerBuilder {
    /// Adds an add-on: it hears every event of every task of this manager (and of its
    /// clones), after the add-ons added before it. Pass an `Arc` to keep a handle on it.
    /// See [`Addon`] for what an add-on can count on.
    pub fn addon(mut self, addon: impl Addon) -> Self {
        self.addons.push(Arc::new(addon));
        self
    }

    /// At most `limit` tasks of flow `flow` run at once on this manager; the others wait in
    /// its line, in priority then submission order. `limit` is a [`Limit`] or a number of
    /// permits. It replaces the flow's own `#[flow(limit = ..)]`. Checked by
    /// [`build`](Self::build): no zero, and one limit per flow.
    pub fn limit_flow(mut self, flow: impl Into<String>, limit: impl Into<Limit>) -> Self {
        self.queues.flows.push((flow.into(), limit.into()));
        self
    }

    /// One line for every flow that has no limit of its own (here or in `#[flow]`): at most
    /// `limit` of their tasks run at once, all flows together. Checked by
    /// [`build`](Self::build): no zero.
    pub fn limit_all(mut self, limit: impl Into<Limit>) -> Self {
        self.queues.all = Some(limit.into());
        self
    }

    /// A named resource with `permits` permits: a step marked `#[step(resource = "name")]`
    /// waits for one before it begins and holds it until it is over (its cleanup included,
    /// if it is stopped). Other steps do not wait for it. Checked by [`build`](Self::build):
    /// at least one permit, and one resource per name.
    pub fn resource(mut self, name: impl Into<String>, permits: usize) -> Self {
        self.queues.resources.push((name.into(), permits));
        self
    }

    /// Gives every cleanup of the manager's tasks a deadline: a cleanup still running
    /// `timeout` after it began is dropped where it stands, the task ends, and its cancellers
    /// get [`Cleanup::TimedOut`](crate::Cleanup::TimedOut). A flow's own
    /// `#[flow(cleanup_timeout = "..")]` takes precedence. Fixed for the manager's life and
    /// every clone of it.
    ///
    /// Without a deadline (the default) a cleanup runs as long as it takes: a cleanup that
    /// never finishes keeps its task registered, but wedges nothing else. A deadline too far
    /// for the clock (`Duration::MAX`) never comes. Checked by [`build`](Self::build): zero
    /// is refused ([`ConfigError::Zero`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use task_manager_core::TaskManager;
    ///
    /// let tasks = TaskManager::builder().cleanup_timeout(Duration::from_secs(5)).build()?;
    /// assert_eq!(tasks.cleanup_timeout(), Some(Duration::from_secs(5)));
    /// assert!(TaskManager::builder().cleanup_timeout(Duration::ZERO).build().is_err());
    /// # Ok::<(), task_manager_core::ConfigError>(())
    /// ```
    pub fn cleanup_timeout(mut self, timeout: Duration) -> Self {
        self.cleanup_timeout = Some(timeout);
        self
    }

    /// Makes the manager one instance of a cluster: its tasks get records in the cluster's
    /// store, their ids are refused if any instance has one
    /// ([`TaskManager::submit_in_cluster`], the only way a clustered manager takes tasks), any
    /// instance can cancel them ([`TaskManager::cancel_in_cluster`]), and a task that reaches
    /// its own ending claims it in the store against those cancels. See [`Cluster`] and the
    /// `task-manager-postgres` crate.
    ///
    /// **Limits.** If the store shares limits ([`Cluster::shares_limits`]), every limit and
    /// resource of this manager (the builder's `limit_flow`, `limit_all` and `resource`, and a
    /// flow's own `#[flow(limit)]`) is cluster-wide: one line in the store for every instance
    /// configured alike, with the same rules as in one process (priority, then arrival order;
    /// the queue's capacity, refused with [`SubmitError::QueueFull`](crate::SubmitError::QueueFull)
    /// by `submit_in_cluster`; the max wait; a cancel while queued from any instance). A task's
    /// children ([`Task::child`](crate::Task::child)) wait in their instance's own line of
    /// their flow; their steps' resources are the cluster's. Otherwise limits stay per manager.
    ///
    /// `build` attaches the cluster (its delivery of cancels starts): call it within the
    /// tokio runtime the tasks will run on.
    ///
    /// [`TaskManager::submit_in_cluster`]: crate::TaskManager::submit_in_cluster
    /// [`TaskManager::cancel_in_cluster`]: crate::TaskManager::cancel_in_cluster
    pub fn cluster(mut self, cluster: impl Cluster) -> Self {
        self.cluster = Some(Arc::new(cluster));
        self
    }

    /// The manager, or the first setting that cannot work.
    ///
    /// # Errors
    /// A limit with zero permits, zero queue capacity or a zero max wait
    /// ([`ConfigError::ZeroPermits`], [`ConfigError::ZeroQueueCapacity`],
    /// [`ConfigError::ZeroMaxWait`]); a resource with zero permits
    /// ([`ConfigError::ZeroPermits`]); a flow or resource configured twice
    /// ([`ConfigError::Duplicate`]); a zero [`cleanup_timeout`](Self::cleanup_timeout)
    /// ([`ConfigError::Zero`]). A step naming a resource not configured here is refused when
    /// its flow's tasks are submitted
    /// ([`SubmitError::UnknownResource`](crate::SubmitError::UnknownResource)), since flows
    /// are not known to the manager before then. A [`cluster`](Self::cluster) that cannot
    /// attach ([`ConfigError::Cluster`]).
    pub fn build(self) -> Result<TaskManager, ConfigError> {
        let queues = self.queues.build()?;
        if self
            .cleanup_timeout
            .is_some_and(|timeout| timeout.is_zero())
        {
            return Err(ConfigError::Zero {
                setting: "cleanup_timeout",
                why: "every cleanup would be dropped before it could run",
            });
        }
        TaskManager::with_parts(
            queues,
            self.cleanup_timeout,
            AddonSet::new(self.addons),
            self.cluster,
        )
        .map_err(|error| ConfigError::Cluster { error })
    }
}

impl fmt::Debug for TaskManagerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let addons: Vec<&str> = self.addons.iter().map(|addon| addon.name()).collect();
        f.debug_struct("TaskManagerBuilder")
            .field("addons", &addons)
            .field("flows", &self.queues.flows)
            .field("all", &self.queues.all)
            .field("resources", &self.queues.resources)
            .field("cleanup_timeout", &self.cleanup_timeout)
            .field("clustered", &self.cluster.is_some())
            .finish()
    }
}
