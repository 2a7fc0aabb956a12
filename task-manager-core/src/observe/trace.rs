//! `tracing` output (feature `tracing`, on by default): one span per task, a child span per
//! step, and events for cancels, cleanups and endings.
//!
//! # Cost
//! A task's span is made when the task is submitted; while no subscriber is installed that is
//! one relaxed load (`tracing`'s global level filter is `OFF`) and no span is built. If no
//! subscriber wants the span (none is installed, or its filter says no), the task keeps no
//! span at all (`None`), and every later span operation of that task is one `is_none` check:
//! no step spans, no field recorded, nothing formatted; the per-step events are skipped by
//! `TaskEvents` on one flag. The few events (cancel, cleanup, ending) are prepared only if
//! some subscriber is installed. Field values are handed to the subscriber unformatted (`%id`
//! is formatted only if it is written out). `benches/observe_cost.sh` measures all this
//! against a build without the feature.
//!
//! Spans are boxed: a task's future holds one pointer for them, not two spans.
//!
//! Spans: `task{id, flow, payload}` (records `ending`, `cancel_reason`, `cancelled_by`) and
//! under it `step{step, index}` (records `outcome`, `cancel_reason`), target `task_manager`.
//! The queue add-on's waits are debug events in the task's span (`queued`, `waiting for
//! resource`).
//! The step's span is entered while the step and its cleanup are polled, so the step's own
//! logs nest under it. The task's span is made inside `execute_*`, so it is a child of the
//! span current there (a request's span, say).

#[cfg(feature = "tracing")]
pub(crate) use enabled::*;

#[cfg(not(feature = "tracing"))]
pub(crate) use disabled::*;

#[cfg(feature = "tracing")]
mod enabled {
    use std::time::Duration;

    use tracing::field::{display, Empty};
    use tracing::{Id, Span};

    use crate::cleanup::Cleanup;
    use crate::compensation::Compensation;
    use crate::flow::FlowInfo;
    use crate::flow::StepRef;
    use crate::id::TaskId;
    use crate::observe::event::{Progress, TaskEvent};
    use crate::outcome::TaskEnd;
    use crate::reason::{CancelReason, CancelSource};
    use crate::report::StepEnd;

    const TARGET: &str = "task_manager";

    /// A task's spans, or nothing if no subscriber wanted them.
    pub(crate) struct TaskSpans(Option<Box<Spans>>);

    struct Spans {
        task: Span,
        /// The current step's span; `Span::none()` between steps.
        step: Span,
    }

    impl TaskSpans {
        pub(crate) fn open(id: TaskId, flow: &FlowInfo, payload_type: &'static str) -> Self {
            // With no subscriber at all (the level filter is OFF until one is installed) this
            // is one relaxed load, and no span is built, checked and dropped.
            if !any_subscriber() {
                return TaskSpans(None);
            }
            let task = tracing::info_span!(
                target: TARGET,
                "task",
                id = %id,
                flow = flow.name(),
                payload = payload_type,
                ending = Empty,
                cancel_reason = Empty,
                cancelled_by = Empty,
            );
            if task.is_disabled() {
                return TaskSpans(None);
            }
            TaskSpans(Some(Box::new(Spans {
                task,
                step: Span::none(),
            })))
        }

        /// Whether this task has spans (a subscriber wanted them).
        #[inline(always)]
        pub(crate) fn is_active(&self) -> bool {
            self.0.is_some()
        }

        /// The task waits in its flow's queue (queue add-on).
        pub(crate) fn queued(&self) {
            if let Some(spans) = &self.0 {
                tracing::debug!(target: TARGET, parent: &spans.task, "queued");
            }
        }

        /// A step waits for its resource (queue add-on) before it begins.
        pub(crate) fn waiting_for_resource(&self, step: StepRef, resource: &'static str) {
            if let Some(spans) = &self.0 {
                tracing::debug!(target: TARGET, parent: &spans.task, step = step.name, resource, "waiting for resource");
            }
        }

        /// Where the task's events go: under the step in progress, else under the task.
        fn parent(&self) -> Option<Id> {
            let spans = self.0.as_ref()?;
            spans.step.id().or_else(|| spans.task.id())
        }

        #[inline]
        pub(crate) fn step_started(&mut self, step: StepRef) {
            if let Some(spans) = &mut self.0 {
                spans.step = tracing::info_span!(
                    target: TARGET,
                    parent: &spans.task,
                    "step",
                    step = step.name,
                    index = step.index,
                    outcome = Empty,
                    cancel_reason = Empty,
                );
            }
        }

        /// Runs `poll` with the step's span entered (the step's own logs nest under it).
        #[inline(always)]
        pub(crate) fn in_step<R>(&self, poll: impl FnOnce() -> R) -> R {
            match &self.0 {
                None => poll(),
                Some(spans) => spans.step.in_scope(poll),
            }
        }

        #[inline]
        pub(crate) fn step_finished(&mut self, step: StepRef, end: StepEnd, duration: Duration) {
            if let Some(spans) = &mut self.0 {
                let outcome = step_outcome(end);
                spans.step.record("outcome", outcome);
                tracing::debug!(target: TARGET, parent: &spans.step, step = step.name, outcome, ?duration, "step finished");
                if matches!(end, StepEnd::Completed | StepEnd::Failed) {
                    // No cleanup follows: close the step's span now.
                    spans.step = Span::none();
                }
            }
        }

        /// Whether the task's events (cancel, cleanup, ending) may be recorded or said: it has
        /// spans, or some subscriber is installed (its filter decides on each event).
        #[inline(always)]
        pub(crate) fn wants_events(&self) -> bool {
            self.0.is_some() || any_subscriber()
        }

        pub(crate) fn cancel_requested(&self, reason: &CancelReason, by: CancelSource) {
            if let Some(spans) = &self.0 {
                spans.task.record("cancel_reason", display(reason));
                spans.task.record("cancelled_by", display(by));
                spans.step.record("cancel_reason", display(reason));
            }
            tracing::info!(target: TARGET, parent: self.parent(), reason = %reason, by = %by, "cancel requested");
        }

        pub(crate) fn step_retrying(
            &self,
            step: StepRef,
            attempt: u32,
            delay: Duration,
            error: &str,
        ) {
            tracing::info!(target: TARGET, parent: self.parent(), step = step.name, attempt, ?delay, error, "step attempt failed; retrying");
        }

        pub(crate) fn compensation_finished(&self, step: StepRef, compensation: &Compensation) {
            if compensation.is_completed() {
                tracing::info!(target: TARGET, parent: self.parent(), step = step.name, %compensation, "compensation finished");
            } else {
                tracing::warn!(target: TARGET, parent: self.parent(), step = step.name, %compensation, "compensation finished");
            }
        }

        pub(crate) fn cleanup_started(&self, step: StepRef, reason: &CancelReason) {
            tracing::debug!(target: TARGET, parent: self.parent(), step = step.name, reason = %reason, "cleanup started");
        }

        pub(crate) fn cleanup_finished(&self, step: StepRef, cleanup: &Cleanup) {
            match cleanup {
                Cleanup::Panicked { message, .. } => {
                    tracing::warn!(target: TARGET, parent: self.parent(), step = step.name, panic = %message, "cleanup panicked");
                }
                Cleanup::Completed { duration, .. } => {
                    tracing::info!(target: TARGET, parent: self.parent(), step = step.name, ?duration, "cleanup finished");
                }
                Cleanup::TimedOut { after, .. } => {
                    tracing::warn!(target: TARGET, parent: self.parent(), step = step.name, ?after, "cleanup timed out: dropped at its deadline");
                }
                other => {
                    tracing::warn!(target: TARGET, parent: self.parent(), step = step.name, cleanup = ?other, "cleanup finished");
                }
            }
        }

        /// Records the ending, says it, and closes the spans.
        pub(crate) fn finished(&mut self, ending: &TaskEnd<'_>, duration: Duration) {
            let parent = self.0.as_ref().and_then(|spans| spans.task.id());
            if let Some(spans) = &self.0 {
                spans.task.record("ending", display(ending));
            }
            match ending {
                TaskEnd::Completed | TaskEnd::Cancelled { .. } => {
                    tracing::info!(target: TARGET, parent: parent, ending = %ending, ?duration, "task finished");
                }
                TaskEnd::Failed { .. }
                | TaskEnd::TimedOut { .. }
                | TaskEnd::Dropped
                | TaskEnd::Abandoned { .. } => {
                    tracing::warn!(target: TARGET, parent: parent, ending = %ending, ?duration, "task finished");
                }
                TaskEnd::Panicked { .. } => {
                    tracing::error!(target: TARGET, parent: parent, ending = %ending, ?duration, "task finished");
                }
            }
            self.0 = None;
        }
    }

    /// Whether any subscriber is installed (globally or for this thread): `tracing` keeps the
    /// most verbose level any of them wants, `OFF` while there is none.
    #[inline(always)]
    fn any_subscriber() -> bool {
        tracing::level_filters::LevelFilter::current() != tracing::level_filters::LevelFilter::OFF
    }

    fn step_outcome(end: StepEnd) -> &'static str {
        match end {
            StepEnd::Completed => "completed",
            StepEnd::Failed => "failed",
            StepEnd::Cancelled => "cancelled",
            StepEnd::Panicked => "panicked",
            StepEnd::TimedOut => "timed out",
        }
    }

    /// A step's own event (contextual: the step's span is entered while the step runs).
    #[inline]
    pub(crate) fn custom_event(type_name: &'static str) {
        tracing::debug!(target: TARGET, event = type_name, "custom event");
    }

    #[inline]
    pub(crate) fn progress(progress: Progress) {
        tracing::trace!(target: TARGET, done = progress.done, total = progress.total, "progress");
    }

    pub(crate) fn addon_panicked(addon: &str, event: &TaskEvent<'_>) {
        tracing::warn!(
            target: TARGET,
            addon,
            task = %event.id,
            flow = event.flow,
            event = ?event.kind,
            "an add-on panicked; it missed this event and stays installed"
        );
    }
}

#[cfg(not(feature = "tracing"))]
mod disabled {
    use std::time::Duration;

    use crate::cleanup::Cleanup;
    use crate::compensation::Compensation;
    use crate::flow::FlowInfo;
    use crate::flow::StepRef;
    use crate::id::TaskId;
    use crate::observe::event::{Progress, TaskEvent};
    use crate::outcome::TaskEnd;
    use crate::reason::{CancelReason, CancelSource};
    use crate::report::StepEnd;

    /// Without the `tracing` feature: nothing, at no cost.
    pub(crate) struct TaskSpans;

    impl TaskSpans {
        #[inline(always)]
        pub(crate) fn open(_: TaskId, _: &FlowInfo, _: &'static str) -> Self {
            TaskSpans
        }
        #[inline(always)]
        pub(crate) fn is_active(&self) -> bool {
            false
        }
        #[inline(always)]
        pub(crate) fn queued(&self) {}
        #[inline(always)]
        pub(crate) fn waiting_for_resource(&self, _: StepRef, _: &'static str) {}
        #[inline(always)]
        pub(crate) fn step_started(&mut self, _: StepRef) {}
        #[inline(always)]
        pub(crate) fn in_step<R>(&self, poll: impl FnOnce() -> R) -> R {
            poll()
        }
        #[inline(always)]
        pub(crate) fn step_finished(&mut self, _: StepRef, _: StepEnd, _: Duration) {}
        #[inline(always)]
        pub(crate) fn wants_events(&self) -> bool {
            false
        }
        #[inline(always)]
        pub(crate) fn cancel_requested(&self, _: &CancelReason, _: CancelSource) {}
        #[inline(always)]
        pub(crate) fn step_retrying(&self, _: StepRef, _: u32, _: Duration, _: &str) {}

        pub(crate) fn compensation_finished(&self, _: StepRef, _: &Compensation) {}

        pub(crate) fn cleanup_started(&self, _: StepRef, _: &CancelReason) {}
        #[inline(always)]
        pub(crate) fn cleanup_finished(&self, _: StepRef, _: &Cleanup) {}
        #[inline(always)]
        pub(crate) fn finished(&mut self, _: &TaskEnd<'_>, _: Duration) {}
    }

    #[inline(always)]
    pub(crate) fn custom_event(_: &'static str) {}
    #[inline(always)]
    pub(crate) fn progress(_: Progress) {}
    #[inline(always)]
    pub(crate) fn addon_panicked(_: &str, _: &TaskEvent<'_>) {}
}
