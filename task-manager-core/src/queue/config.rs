//! `TaskManager::builder()`: a manager's configuration (the queue add-on's limits and
//! resources, and the cleanup deadline), checked once, at `build`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::ConfigError;
use crate::manager::TaskManager;
use crate::queue::limit::Limit;
use crate::queue::permits::PermitQueue;
use crate::queue::table::{FlowQueue, Queues, ResourceQueue};

/// Builds a [`TaskManager`] with limits: which flows run how many tasks at once, how many
/// wait, for how long, and which named resources steps share; and, as
/// [`TaskManager::with_cleanup_timeout`] does, the deadline of every cleanup.
///
/// ```
/// use std::time::Duration;
/// use task_manager_core::{Limit, TaskManager};
///
/// let tasks = TaskManager::builder()
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
/// tasks under its own limits). A limit given here replaces the flow's
/// `#[flow(limit = ..)]`, so deployment can tune what the code declares.
#[derive(Debug, Default, Clone)]
#[must_use = "call .build() to get the TaskManager"]
pub struct TaskManagerBuilder {
    flows: Vec<(String, Limit)>,
    all: Option<Limit>,
    resources: Vec<(String, usize)>,
    cleanup_timeout: Option<Duration>,
}

/// Which limit a [`ConfigError`] of the queue add-on is about.
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

impl TaskManagerBuilder {
    /// At most `limit` tasks of flow `flow` run at once on this manager; the others wait in
    /// its line, in priority then submission order. `limit` is a [`Limit`] or a number of
    /// permits.
    pub fn limit_flow(mut self, flow: impl Into<String>, limit: impl Into<Limit>) -> Self {
        self.flows.push((flow.into(), limit.into()));
        self
    }

    /// One line for every flow that has no limit of its own (here or in `#[flow]`): at most
    /// `limit` of their tasks run at once, all flows together.
    pub fn limit_all(mut self, limit: impl Into<Limit>) -> Self {
        self.all = Some(limit.into());
        self
    }

    /// A named resource with `permits` permits: a step marked `#[step(resource = "name")]`
    /// waits for one before it begins and holds it until it is over (its cleanup included,
    /// if it is stopped). Other steps do not wait for it.
    pub fn resource(mut self, name: impl Into<String>, permits: usize) -> Self {
        self.resources.push((name.into(), permits));
        self
    }

    /// Gives every cleanup of the manager's tasks a deadline, as
    /// [`TaskManager::with_cleanup_timeout`] does (which see; a flow's own
    /// `#[flow(cleanup_timeout = "..")]` takes precedence). Zero is refused by `build`.
    pub fn cleanup_timeout(mut self, timeout: Duration) -> Self {
        self.cleanup_timeout = Some(timeout);
        self
    }

    /// The manager, or the first thing that cannot work.
    ///
    /// # Errors
    /// A limit with zero permits, zero queue capacity or a zero max wait; a flow or resource
    /// configured twice; a zero cleanup timeout ([`ConfigError::Zero`]). A step naming a
    /// resource not configured here is refused when its flow's tasks are submitted
    /// ([`SubmitError::UnknownResource`](crate::SubmitError::UnknownResource)), since flows
    /// are not known to the manager before then.
    pub fn build(self) -> Result<TaskManager, ConfigError> {
        let mut flows = HashMap::with_capacity(self.flows.len());
        for (flow, limit) in self.flows {
            let of = LimitOf::Flow(flow.clone());
            check(limit, &of)?;
            if flows.contains_key(flow.as_str()) {
                return Err(ConfigError::Duplicate { of });
            }
            flows.insert(flow.into_boxed_str(), FlowQueue::new(limit));
        }
        let all = match self.all {
            Some(limit) => {
                check(limit, &LimitOf::AllFlows)?;
                Some(FlowQueue::new(limit))
            }
            None => None,
        };
        let mut resources = HashMap::with_capacity(self.resources.len());
        for (name, permits) in self.resources {
            let of = LimitOf::Resource(name.clone());
            if permits == 0 {
                return Err(ConfigError::ZeroPermits { of });
            }
            if resources.contains_key(name.as_str()) {
                return Err(ConfigError::Duplicate { of });
            }
            // Every running task may wait for a resource: the line is as long as there are
            // tasks, and the task-level limits bound those.
            let queue: ResourceQueue = Arc::new(PermitQueue::new(permits, usize::MAX));
            resources.insert(name.into_boxed_str(), queue);
        }
        if let Some(timeout) = self.cleanup_timeout {
            crate::limits::check_cleanup_timeout("cleanup_timeout", timeout)?;
        }
        let manager = TaskManager::with_queues(Queues::new(flows, all, resources));
        if let Some(timeout) = self.cleanup_timeout {
            manager.registry.set_cleanup_timeout(timeout);
        }
        Ok(manager)
    }
}

fn check(limit: Limit, of: &LimitOf) -> Result<(), ConfigError> {
    use crate::queue::limit::ZeroSetting;
    let of = of.clone();
    match limit.zero_setting() {
        None => Ok(()),
        Some(ZeroSetting::Permits) => Err(ConfigError::ZeroPermits { of }),
        Some(ZeroSetting::QueueCapacity) => Err(ConfigError::ZeroQueueCapacity { of }),
        Some(ZeroSetting::MaxWait) => Err(ConfigError::ZeroMaxWait { of }),
    }
}
