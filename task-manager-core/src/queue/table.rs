//! The add-on's state in one manager: the lines of its limited flows and its resources.
//!
//! A manager without limits has empty tables; a task of a flow without a limit and without
//! resources then looks at three fields (all plain reads, no lock, no atomic) and goes on
//! exactly as without the add-on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::flow::FlowInfo;
use crate::limit::Limit;
use crate::queue::permits::{Abandonments, PermitQueue};
use crate::shared::TaskShared;

/// A line of tasks (a flow's limit, `limit_all`, or a resource).
pub(crate) type TaskQueue = Arc<PermitQueue<TaskShared>>;
/// A resource's line: the same primitive, unbounded (see `TaskManagerBuilder::resource`).
pub(crate) type ResourceQueue = TaskQueue;

/// A task-level line and its wait limit.
#[derive(Clone)]
pub(crate) struct FlowQueue {
    pub(crate) queue: TaskQueue,
    pub(crate) max_wait: Option<Duration>,
    /// The limit the line was made from (a cluster-wide line is made of the same figures).
    pub(crate) limit: Limit,
}

impl FlowQueue {
    pub(crate) fn new(limit: Limit, abandonments: &Abandonments) -> Self {
        FlowQueue {
            queue: Arc::new(PermitQueue::new(
                limit.permits(),
                limit.queue_capacity(),
                abandonments,
            )),
            max_wait: limit.max_wait(),
            limit,
        }
    }
}

#[derive(Default)]
pub(crate) struct Queues {
    /// From the builder, by flow name. Fixed once built: read without a lock.
    flows: HashMap<Box<str>, FlowQueue>,
    /// `limit_all`: shared by every flow without a limit of its own.
    all: Option<FlowQueue>,
    /// From `#[flow(limit = ..)]`, made on the first submission of each such flow (the
    /// manager does not know its flows before then), by flow name.
    declared: Mutex<HashMap<&'static str, FlowQueue>>,
    /// From the builder, by name. Fixed once built.
    resources: HashMap<Box<str>, ResourceQueue>,
    /// How many waiters of these lines gave up: told by the manager's cancellers.
    abandonments: Abandonments,
}

impl Queues {
    pub(crate) fn new(
        flows: HashMap<Box<str>, FlowQueue>,
        all: Option<FlowQueue>,
        resources: HashMap<Box<str>, ResourceQueue>,
        abandonments: Abandonments,
    ) -> Self {
        Queues {
            flows,
            all,
            declared: Mutex::default(),
            resources,
            abandonments,
        }
    }

    /// The count a canceller bumps when it cancels a task that waits in one of these lines
    /// (see `queue/permits.rs`, invariant 4).
    pub(crate) fn abandonments(&self) -> &Abandonments {
        &self.abandonments
    }

    /// Runs `visit` on the line tasks of `flow` wait in; `None` if the flow is not limited on
    /// this manager. Lookup order: the builder's `limit_flow`, the flow's own
    /// `#[flow(limit)]`, the builder's `limit_all`.
    #[inline]
    pub(crate) fn with_line<X>(
        &self,
        flow: &'static FlowInfo,
        visit: impl FnOnce(&FlowQueue) -> X,
    ) -> Option<X> {
        if flow.limit().is_none() && self.flows.is_empty() && self.all.is_none() {
            return None;
        }
        if let Some(line) = self.flows.get(flow.name()) {
            return Some(visit(line));
        }
        if let Some(limit) = flow.limit() {
            let mut declared = lock(&self.declared);
            let line = declared
                .entry(flow.name())
                .or_insert_with(|| FlowQueue::new(limit, &self.abandonments));
            return Some(visit(line));
        }
        self.all.as_ref().map(visit)
    }

    /// The name and limit of the cluster-wide line tasks of `flow` wait in, for a manager
    /// whose store shares limits; `None` if the flow is not limited. The lookup order of
    /// [`with_line`](Self::with_line).
    pub(crate) fn cluster_line(&self, flow: &'static FlowInfo) -> Option<(String, Limit)> {
        if let Some(line) = self.flows.get(flow.name()) {
            return Some((crate::cluster::flow_line(flow.name()), line.limit));
        }
        if let Some(limit) = flow.limit() {
            return Some((crate::cluster::flow_line(flow.name()), limit));
        }
        self.all
            .as_ref()
            .map(|line| (crate::cluster::ALL_FLOWS_LINE.to_owned(), line.limit))
    }

    /// The resource named `name`.
    pub(crate) fn resource(&self, name: &str) -> Option<&ResourceQueue> {
        self.resources.get(name)
    }

    /// The first step of `flow` that names a resource this manager does not have.
    pub(crate) fn unknown_resource(
        &self,
        flow: &'static FlowInfo,
    ) -> Option<(&'static str, &'static str)> {
        flow.steps().iter().find_map(|step| match step.resource() {
            Some(name) if !self.resources.contains_key(name) => Some((step.name(), name)),
            _ => None,
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The map is only ever inserted into; a panic cannot leave it half-updated.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
