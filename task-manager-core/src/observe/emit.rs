//! The runner's side of observation: one method per point of a task's life, each called
//! from one line of `scope.rs` (or `submit.rs`), each telling the add-ons and `tracing`.
//!
//! Every method is cheap when nobody listens: the add-on event is built only if the manager
//! has add-ons (one `is_none`), and the spans are touched only if a subscriber wanted the
//! task's span (one `is_none`); see `live.rs` and `trace.rs`.

use std::time::Duration;

use crate::cancel::Cleanup;
use crate::flow::FlowInfo;
use crate::id::TaskId;
use crate::observe::event::{EventKind, StepRef, TaskEnd};
use crate::observe::live::step_ref;
use crate::observe::trace::TaskSpans;
use crate::outcome::Ending;
use crate::reason::CancelReason;
use crate::report::StepEnd;
use crate::shared::TaskShared;

/// Held by the task's scope, in the task's future.
pub(crate) struct TaskEvents {
    spans: TaskSpans,
    /// `CancelRequested` has been told (it is told once, wherever the task meets the cancel).
    cancel_told: bool,
    /// `Finished` has been told (if not when the scope drops, the runtime dropped the task).
    finish_told: bool,
}

impl TaskEvents {
    /// Opens the task's span (on the submitter's thread: it nests under the submitter's span).
    /// `payload_type` is the passport's payload type's name, for the span.
    pub(crate) fn new(id: TaskId, flow: &'static FlowInfo, payload_type: &'static str) -> Self {
        TaskEvents {
            spans: TaskSpans::open(id, flow, payload_type),
            cancel_told: false,
            finish_told: false,
        }
    }

    /// The task is registered and about to be spawned. Called by `submit`, before the spawn,
    /// so that it comes before anything the task itself tells.
    pub(crate) fn submitted(&self, id: TaskId, shared: &TaskShared) {
        shared
            .live()
            .emit(id, shared.flow(), || EventKind::Submitted);
    }

    /// Hook for the queue add-on: call it in `submit`, before the spawn, when the task takes
    /// a place in its flow's queue instead of starting at once. A cancel while queued is then
    /// told by `Scope::stopped` (`CancelRequested`, then `Finished`, and no `Started`).
    #[allow(dead_code)] // the queue add-on is built on another branch
    pub(crate) fn queued(&self, id: TaskId, shared: &TaskShared) {
        shared.live().emit(id, shared.flow(), || EventKind::Queued);
    }

    /// The task's body has begun (at its first step, before that step's first poll).
    #[inline]
    pub(crate) fn started(&self, id: TaskId, shared: &TaskShared) {
        shared.live().emit(id, shared.flow(), || EventKind::Started);
    }

    /// Step `index` has been polled for the first time (it has begun).
    #[inline]
    pub(crate) fn step_started(&mut self, id: TaskId, shared: &TaskShared, index: usize) {
        let step = step_ref(shared.flow(), index);
        self.spans.step_started(step);
        shared
            .live()
            .emit(id, shared.flow(), || EventKind::StepStarted { step });
    }

    /// Held across each poll of a step or a cleanup: its span is entered.
    #[inline]
    pub(crate) fn enter_step(&self) -> impl Sized + '_ {
        self.spans.enter_step()
    }

    /// Step `index`, which had begun, has ended.
    #[inline]
    pub(crate) fn step_finished(
        &mut self,
        id: TaskId,
        shared: &TaskShared,
        index: usize,
        end: StepEnd,
        duration: Duration,
    ) {
        let step = step_ref(shared.flow(), index);
        self.spans.step_finished(step, end, duration);
        shared
            .live()
            .emit(id, shared.flow(), || EventKind::StepFinished {
                step,
                end,
                duration,
            });
    }

    /// The task has met a cancel (a step stopped, a seal lost, a queue left). Told once.
    pub(crate) fn cancel_requested(&mut self, id: TaskId, shared: &TaskShared) {
        if self.cancel_told {
            return;
        }
        self.cancel_told = true;
        // Reading the reason locks and clones it: only for someone who listens.
        if !shared.live().has_addons() && !self.spans.wants_cancel() {
            return;
        }
        let reason = shared.reason();
        let by = shared.cancel_source();
        self.spans.cancel_requested(&reason, by);
        shared
            .live()
            .emit(id, shared.flow(), || EventKind::CancelRequested {
                reason: &reason,
                by,
            });
    }

    /// The cleanup of the step in progress starts, with `reason`.
    pub(crate) fn cleanup_started(&self, id: TaskId, shared: &TaskShared, reason: &CancelReason) {
        let Some(step) = current_step(shared) else {
            return;
        };
        self.spans.cleanup_started(step, reason);
        shared
            .live()
            .emit(id, shared.flow(), || EventKind::CleanupStarted {
                step,
                reason,
            });
    }

    /// That cleanup has ended as `cleanup` says.
    pub(crate) fn cleanup_finished(&self, id: TaskId, shared: &TaskShared, cleanup: &Cleanup) {
        let Some(step) = current_step(shared) else {
            return;
        };
        self.spans.cleanup_finished(step, cleanup);
        shared
            .live()
            .emit(id, shared.flow(), || EventKind::CleanupFinished {
                step,
                cleanup,
            });
    }

    /// The task has ended with `ending`, `duration` after its submission.
    pub(crate) fn finished<T, E>(
        &mut self,
        id: TaskId,
        shared: &TaskShared,
        ending: &Ending<T, E>,
        duration: Duration,
    ) {
        self.finish_told = true;
        let ending = task_end(shared, ending);
        self.spans.finished(&ending, duration);
        shared
            .live()
            .emit(id, shared.flow(), || EventKind::Finished {
                ending,
                duration,
            });
    }

    /// The scope is being dropped: if the task never finished, its runtime dropped it.
    pub(crate) fn dropped(&mut self, id: TaskId, shared: &TaskShared) {
        // Add-ons are not called while a panic unwinds (a second panic would abort).
        if self.finish_told || std::thread::panicking() {
            return;
        }
        self.finish_told = true;
        let duration = shared.live().submitted_at.elapsed();
        self.spans.finished(&TaskEnd::Dropped, duration);
        shared
            .live()
            .emit(id, shared.flow(), || EventKind::Finished {
                ending: TaskEnd::Dropped,
                duration,
            });
    }
}

/// The step in progress (or the last one that was).
fn current_step(shared: &TaskShared) -> Option<StepRef> {
    shared.step().map(|index| step_ref(shared.flow(), index))
}

fn task_end<'a, T, E>(shared: &TaskShared, ending: &'a Ending<T, E>) -> TaskEnd<'a> {
    // The ending's step is always the step in progress when it ended.
    let step = current_step(shared);
    let step_or_first = step.unwrap_or_else(|| step_ref(shared.flow(), 0));
    match ending {
        Ending::Completed(_) => TaskEnd::Completed,
        Ending::Failed { .. } => TaskEnd::Failed {
            step: step_or_first,
        },
        Ending::Cancelled {
            reason,
            step: stopped,
            steps_completed,
        } => TaskEnd::Cancelled {
            reason,
            step: stopped.and(step),
            steps_completed: *steps_completed,
        },
        Ending::Panicked { message, .. } => TaskEnd::Panicked {
            step: step_or_first,
            message,
        },
    }
}
