//! The queue add-on's part of a manager's configuration: the limits and resources given to
//! [`TaskManagerBuilder`](crate::TaskManagerBuilder), checked and turned into the manager's
//! lines (`Queues`) when it builds.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::error::ConfigError;
use crate::queue::limit::{Limit, ZeroSetting};
use crate::queue::permits::PermitQueue;
use crate::queue::table::{FlowQueue, Queues, ResourceQueue};

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

/// What the builder was told about limits and resources, in the order it was told.
#[derive(Debug, Default, Clone)]
pub(crate) struct QueueConfig {
    /// `limit_flow`, by flow name.
    pub(crate) flows: Vec<(String, Limit)>,
    /// `limit_all`.
    pub(crate) all: Option<Limit>,
    /// `resource`, by name, with its permits.
    pub(crate) resources: Vec<(String, usize)>,
}

impl QueueConfig {
    /// The manager's lines, or the first setting that cannot work: a limit with zero permits,
    /// zero queue capacity or a zero max wait, a resource with zero permits, a flow or a
    /// resource configured twice.
    pub(crate) fn build(self) -> Result<Queues, ConfigError> {
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
        Ok(Queues::new(flows, all, resources))
    }
}

fn check(limit: Limit, of: &LimitOf) -> Result<(), ConfigError> {
    let of = of.clone();
    match limit.zero_setting() {
        None => Ok(()),
        Some(ZeroSetting::Permits) => Err(ConfigError::ZeroPermits { of }),
        Some(ZeroSetting::QueueCapacity) => Err(ConfigError::ZeroQueueCapacity { of }),
        Some(ZeroSetting::MaxWait) => Err(ConfigError::ZeroMaxWait { of }),
    }
}
