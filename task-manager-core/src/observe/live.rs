//! The part of a task's shared state that observers read: what `status` and `snapshot`
//! show beyond the step, and the add-ons the task's events go to.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::time::Instant;

use crate::flow::FlowInfo;
use crate::id::TaskId;
use crate::observe::addon::AddonSet;
use crate::observe::event::{EventKind, Progress, StepRef, TaskEvent};

/// Held inside the task's `TaskShared`, so the task (through its scope and its `Task`
/// context) and the manager (through the registry) both reach it.
pub(crate) struct TaskLive {
    pub(crate) id: TaskId,
    pub(crate) submitted_at: Instant,
    /// `std::any::type_name` of the passport's payload: the task's type, for spans.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) payload_type: &'static str,
    /// The manager's add-ons; `None` when it has none (then no event is ever built).
    addons: Option<Arc<AddonSet>>,
    /// Written by the task's steps, read by `status`: a mutex, so that `done` and `total`
    /// are always read as one pair. Never held while anything else is locked or called.
    progress: Mutex<Option<Progress>>,
}

impl TaskLive {
    pub(crate) fn new(
        id: TaskId,
        submitted_at: Instant,
        payload_type: &'static str,
        addons: Option<&Arc<AddonSet>>,
    ) -> Self {
        TaskLive {
            id,
            submitted_at,
            payload_type,
            addons: addons.map(Arc::clone),
            progress: Mutex::new(None),
        }
    }

    /// Builds and delivers an event, if there is anyone to hear it. The event is built by
    /// `kind` only then: with no add-ons this is one `is_none` check.
    #[inline]
    pub(crate) fn emit<'a>(&self, flow: &'static FlowInfo, kind: impl FnOnce() -> EventKind<'a>) {
        if let Some(addons) = &self.addons {
            addons.deliver(&TaskEvent {
                id: self.id,
                flow: flow.name(),
                kind: kind(),
            });
        }
    }

    pub(crate) fn has_addons(&self) -> bool {
        self.addons.is_some()
    }

    pub(crate) fn progress(&self) -> Option<Progress> {
        *self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_progress(&self, progress: Progress) {
        *self.progress.lock().unwrap_or_else(PoisonError::into_inner) = Some(progress);
    }
}

/// The step at `index` of `flow`.
pub(crate) fn step_ref(flow: &'static FlowInfo, index: usize) -> StepRef {
    StepRef {
        index,
        name: flow.step_name(index),
    }
}
