//! The queue add-on's part of a manager's configuration: the limits and resources given to
//! [`TaskManagerBuilder`](crate::TaskManagerBuilder), checked and turned into the manager's
//! lines (`Queues`) when it builds.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::ConfigError;
use crate::limit::{Limit, LimitOf, ZeroSetting};
use crate::queue::permits::{Abandonments, PermitQueue};
use crate::queue::table::{FlowQueue, Queues, ResourceQueue};

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
        let abandonments = Abandonments::default();
        let mut flows = HashMap::with_capacity(self.flows.len());
        for (flow, limit) in self.flows {
            let of = LimitOf::Flow(flow.clone());
            check(limit, &of)?;
            if flows.contains_key(flow.as_str()) {
                return Err(ConfigError::Duplicate { of });
            }
            flows.insert(flow.into_boxed_str(), FlowQueue::new(limit, &abandonments));
        }
        let all = match self.all {
            Some(limit) => {
                check(limit, &LimitOf::AllFlows)?;
                Some(FlowQueue::new(limit, &abandonments))
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
            let queue: ResourceQueue =
                Arc::new(PermitQueue::new(permits, usize::MAX, &abandonments));
            resources.insert(name.into_boxed_str(), queue);
        }
        Ok(Queues::new(flows, all, resources, abandonments))
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
