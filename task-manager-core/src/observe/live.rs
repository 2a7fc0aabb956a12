//! The part of a task's shared state that only observers need: its age, and the add-ons its
//! events go to. (Its progress sits in `shared.rs`'s slot, behind a box allocated on the first
//! report; see there.)
//!
//! Every running task carries this, so it holds only what cannot be found elsewhere: the id
//! is the registry's key and the scope's, the flow is in `TaskShared`, the payload's type name
//! is known where the task's span is made (`submit`, which is generic over the payload).

use std::sync::Arc;

use tokio::time::Instant;

use crate::flow::FlowInfo;
use crate::flow::StepRef;
use crate::id::TaskId;
use crate::observe::addon::AddonSet;
use crate::observe::event::{EventKind, TaskEvent};

/// Held inside the task's `TaskShared`, so the task (through its scope and its `Task`
/// context) and the manager (through the registry) both reach it.
pub(crate) struct TaskLive {
    /// When the task was submitted: the snapshot's age, the report's start.
    pub(crate) submitted_at: Instant,
    /// The manager's add-ons; `None` when it has none (then no event is ever built).
    addons: Option<Arc<AddonSet>>,
}

impl TaskLive {
    pub(crate) fn new(submitted_at: Instant, addons: Option<&Arc<AddonSet>>) -> Self {
        TaskLive {
            submitted_at,
            addons: addons.map(Arc::clone),
        }
    }

    /// Builds and delivers an event of task `id`, if there is anyone to hear it. The event
    /// is built by `kind` only then: with no add-ons this is one `is_none` check.
    /// `parent` gives the task's parent's id, asked only then too.
    #[inline]
    pub(crate) fn emit<'a>(
        &self,
        id: TaskId,
        flow: &'static FlowInfo,
        parent: impl FnOnce() -> Option<TaskId>,
        kind: impl FnOnce() -> EventKind<'a>,
    ) {
        if let Some(addons) = &self.addons {
            addons.deliver(&TaskEvent {
                id,
                flow: flow.name(),
                parent: parent(),
                kind: kind(),
            });
        }
    }

    pub(crate) fn has_addons(&self) -> bool {
        self.addons.is_some()
    }
}

/// The step at `index` of `flow`.
pub(crate) fn step_ref(flow: &'static FlowInfo, index: usize) -> StepRef {
    StepRef {
        index,
        name: flow.step_name(index),
    }
}
