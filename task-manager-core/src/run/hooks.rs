//! The runner's one hook set: one method per point of a task's life, each called from one
//! line of the runner, each telling whoever listens: the add-ons (events), `tracing` (spans)
//! and the cancellation explorer's probe (feature `testing`). A new listener is added here,
//! and the runner does not change.
//!
//! Every method is cheap when nobody listens: the add-on event is built only if the manager
//! has add-ons (one `is_none`), the spans are touched only if a subscriber wanted the task's
//! span (one `is_none`), and the probe is an empty struct without the feature; see
//! `observe/live.rs`, `observe/trace.rs` and `explorer_hook.rs`.

use std::time::Duration;

use crate::cleanup::Cleanup;
use crate::compensation::Compensation;
use crate::flow::StepRef;
use crate::id::TaskId;
use crate::observe::{step_ref, EventKind, TaskSpans};
use crate::outcome::{Ending, TaskEnd};
use crate::passport::Passport;
use crate::reason::CancelReason;
use crate::report::StepEnd;
use crate::run::explorer_hook::Probe;
use crate::shared::TaskShared;

/// Held by the task's scope, in the task's future.
pub(crate) struct Hooks {
    spans: TaskSpans,
    /// The explorer's hook (feature `testing`); an empty struct otherwise.
    probe: Probe,
    /// Somebody listens to this task's steps: it has spans, or the manager has add-ons. Both
    /// are settled at submission, so the per-step events check this one byte.
    observed: bool,
    /// `CancelRequested` has been told (it is told once, wherever the task meets the cancel).
    cancel_told: bool,
    /// `Finished` has been told (if not when the scope drops, the runtime dropped the task).
    finish_told: bool,
    /// `Queued` has been told: the task waited in its flow's queue (queue add-on).
    queued: bool,
    /// `Started` has been told (it is told once, by the first step, or by the first step's
    /// wait for its resource).
    start_told: bool,
    /// The manager has a cluster, which hears each step and the ending (`claim.rs`). Kept
    /// with these flags, in their padding, rather than read through the registry per step.
    pub(super) clustered: bool,
    /// The store recorded the task's ending with its seal (`ClusterSeal::SealedEnded`,
    /// `claim.rs`): its ending is told only if it ends otherwise after all.
    pub(super) ended_with_seal: bool,
}

impl Hooks {
    /// Opens the task's span (on the submitter's thread: it nests under the submitter's span;
    /// the passport's payload type names it) and attaches the explorer's probe if the
    /// passport was armed.
    pub(crate) fn new<P>(
        id: TaskId,
        shared: &std::sync::Arc<TaskShared>,
        passport: &mut Passport<P>,
        clustered: bool,
    ) -> Self {
        let spans = TaskSpans::open(id, shared.flow(), std::any::type_name::<P>());
        Hooks {
            observed: spans.is_active() || shared.live().has_addons(),
            probe: Probe::attach(id, shared, passport),
            spans,
            cancel_told: false,
            finish_told: false,
            queued: false,
            start_told: false,
            clustered,
            ended_with_seal: false,
        }
    }

    /// The task is registered and about to be spawned. Called by `submit`, before the spawn,
    /// so that it comes before anything the task itself tells.
    pub(crate) fn submitted(&self, id: TaskId, shared: &TaskShared) {
        shared.emit(id, || EventKind::Submitted);
    }

    /// The task took a place in its flow's queue instead of starting at once (queue add-on).
    /// Called by `submit`, before the spawn, after `submitted`. A cancel while queued is then
    /// told when the first step meets it (`CancelRequested`, then `Finished`), with no
    /// `Started`: see [`started`](Self::started).
    pub(crate) fn queued(&mut self, id: TaskId, shared: &TaskShared) {
        self.queued = true;
        self.spans.queued();
        shared.emit(id, || EventKind::Queued);
    }

    /// The task's body has begun (at its first step, before that step's first poll or its
    /// wait for a resource). Told once; not told for a task that was queued and met its cancel
    /// there (it never started: its admission wait ended in the cancel, and the first step
    /// only sees it). A cancel that lands in the instant between its admission and its first
    /// step counts as one while queued: nothing of the task ran, and it ends the same way.
    #[inline]
    pub(crate) fn started(&mut self, id: TaskId, shared: &TaskShared) {
        if self.start_told {
            return;
        }
        self.start_told = true;
        if self.queued && shared.cell().is_cancel_requested() {
            return;
        }
        shared.emit(id, || EventKind::Started);
    }

    /// Step `index` is next (the runner is about to race it, or to wait for its resource):
    /// the task has started if it is the first.
    #[inline]
    pub(crate) fn step_next(&mut self, id: TaskId, shared: &TaskShared, index: usize) {
        if index == 0 {
            self.started(id, shared);
        }
        self.probe.before_step(index);
    }

    /// The poll of a wait for step `index`'s resource left it pending: an await point.
    #[inline(always)]
    pub(crate) fn resource_pending(&self, index: usize) {
        self.probe.resource_pending(index);
    }

    /// What the wait for admission calls when it stays pending: an await point. A share of
    /// the explorer's hook (nothing without the feature), for the spawned wait to hold.
    pub(crate) fn on_admission_pending(&self) -> impl Fn() + Send + 'static {
        let probe = self.probe.share();
        move || probe.admission_pending()
    }

    /// The poll of step `index` left it pending: an await point.
    #[inline(always)]
    pub(crate) fn step_pending(&self, index: usize) {
        self.probe.step_pending(index);
    }

    /// The poll of the wait between two attempts of step `index` left it pending: an await
    /// point with no attempt in progress.
    #[inline(always)]
    pub(crate) fn backoff_pending(&self, index: usize) {
        self.probe.backoff_pending(index);
    }

    /// A poll of step `index`'s compensation left it pending: an await point, after the
    /// task's ending was claimed.
    #[inline(always)]
    pub(crate) fn compensation_pending(&self, index: usize, steps_completed: usize) {
        self.probe.compensation_pending(index, steps_completed);
    }

    /// Step `index` panicked (its ending is raced for next).
    pub(crate) fn step_panicked(&self, index: usize) {
        self.probe.step_panicked(index);
    }

    /// The task is about to claim its own ending, `steps_completed` steps done.
    #[inline(always)]
    pub(crate) fn before_ending(&self, steps_completed: usize) {
        self.probe.before_ending(steps_completed);
    }

    /// Step `index` must wait for a permit of its resource before it begins (queue add-on).
    pub(crate) fn waiting_for_resource(
        &mut self,
        id: TaskId,
        shared: &TaskShared,
        index: usize,
        resource: &'static str,
    ) {
        self.probe.resource_wait_began();
        let step = step_ref(shared.flow(), index);
        self.spans.waiting_for_resource(step, resource);
        shared.emit(id, || EventKind::WaitingForResource { step, resource });
    }

    /// Step `index` is about to begin: told right before its first poll. Returns `false` if
    /// a cancel has been requested meanwhile (by whoever heard this, or from anywhere else):
    /// then the step must not begin, and this has already told the cancel and closed the
    /// step with `StepFinished { end: Cancelled }` and a zero duration.
    #[inline(always)]
    pub(crate) fn step_starting(&mut self, id: TaskId, shared: &TaskShared, index: usize) -> bool {
        // Per step: with no span and no add-on, one field check and nothing else (the rest
        // is out of line, so that it does not weigh on the unobserved task's code). Nobody
        // hears the event then, so nothing can slip a cancel in between the runner's check
        // and the step's first poll that the check did not already see.
        let begins = !self.observed || self.tell_step_starting(id, shared, index);
        if begins {
            self.probe.step_began(index);
        }
        begins
    }

    #[cold]
    #[inline(never)]
    fn tell_step_starting(&mut self, id: TaskId, shared: &TaskShared, index: usize) -> bool {
        let step = step_ref(shared.flow(), index);
        self.spans.step_started(step);
        shared.emit(id, || EventKind::StepStarted { step });
        if !shared.cell().is_cancel_requested() {
            return true;
        }
        // A listener (or anyone, meanwhile) cancelled the task: the step never begins.
        self.cancel_requested(id, shared);
        self.tell_step_finished(id, shared, index, StepEnd::Cancelled, Duration::ZERO);
        false
    }

    /// Runs `poll` (one poll of a step or a cleanup) inside the step's span, if the task has
    /// one. One branch per poll when it has none: no guard is built or dropped.
    #[inline(always)]
    pub(crate) fn in_step<R>(&self, poll: impl FnOnce() -> R) -> R {
        self.spans.in_step(poll)
    }

    /// Step `index`, which had begun, has ended.
    #[inline(always)]
    pub(crate) fn step_finished(
        &mut self,
        id: TaskId,
        shared: &TaskShared,
        index: usize,
        end: StepEnd,
        duration: Duration,
    ) {
        if self.observed {
            self.tell_step_finished(id, shared, index, end, duration);
        }
    }

    #[cold]
    #[inline(never)]
    fn tell_step_finished(
        &mut self,
        id: TaskId,
        shared: &TaskShared,
        index: usize,
        end: StepEnd,
        duration: Duration,
    ) {
        let step = step_ref(shared.flow(), index);
        self.spans.step_finished(step, end, duration);
        shared.emit(id, || EventKind::StepFinished {
            step,
            end,
            duration,
        });
    }

    /// An attempt of step `index` failed and another follows after `delay` (retry policy).
    pub(crate) fn step_retrying(
        &self,
        id: TaskId,
        shared: &TaskShared,
        index: usize,
        attempt: u32,
        delay: Duration,
        error: &str,
    ) {
        if !self.is_heard() {
            return;
        }
        let step = step_ref(shared.flow(), index);
        self.spans.step_retrying(step, attempt, delay, error);
        shared.emit(id, || EventKind::StepRetrying {
            step,
            attempt,
            delay,
            error,
        });
    }

    /// The compensation of step `index` has run, as `compensation` says.
    pub(crate) fn compensation_finished(
        &self,
        id: TaskId,
        shared: &TaskShared,
        index: usize,
        compensation: &Compensation,
    ) {
        if !self.is_heard() {
            return;
        }
        let step = step_ref(shared.flow(), index);
        self.spans.compensation_finished(step, compensation);
        shared.emit(id, || EventKind::CompensationFinished {
            step,
            compensation,
        });
    }

    /// The task has met a cancel (a step stopped, a seal lost, a queue left). Told once.
    pub(crate) fn cancel_requested(&mut self, id: TaskId, shared: &TaskShared) {
        if self.cancel_told {
            return;
        }
        self.cancel_told = true;
        // Reading the reason locks and clones it: only for someone who listens.
        if !self.is_heard() {
            return;
        }
        let reason = shared.cell().reason();
        let by = shared.cell().cancel_source();
        self.spans.cancel_requested(&reason, by);
        shared.emit(id, || EventKind::CancelRequested {
            reason: &reason,
            by,
        });
    }

    /// Whether an add-on or a span listens to this task's steps (settled at submission).
    pub(crate) fn is_observed(&self) -> bool {
        self.observed
    }

    /// Whether the task's cancel and ending may reach anyone: it is observed, or some
    /// subscriber is installed whose filter may want the events said without a span.
    fn is_heard(&self) -> bool {
        self.observed || self.spans.wants_events()
    }

    /// The cleanup of the step in progress starts, with `reason`.
    pub(crate) fn cleanup_started(&self, id: TaskId, shared: &TaskShared, reason: &CancelReason) {
        if let Some(step) = shared.step() {
            self.probe.cleanup_began(shared.flow().step_name(step));
        }
        self.tell_cleanup_started(id, shared, reason);
    }

    /// The cleanup of a timed-out attempt that is retried starts: told as any cleanup, but
    /// not to the explorer's probe, whose one cleanup per task is the stopped step's.
    pub(crate) fn attempt_cleanup_started(
        &self,
        id: TaskId,
        shared: &TaskShared,
        reason: &CancelReason,
    ) {
        self.tell_cleanup_started(id, shared, reason);
    }

    /// That cleanup has ended (see [`attempt_cleanup_started`](Self::attempt_cleanup_started)).
    pub(crate) fn attempt_cleanup_finished(
        &self,
        id: TaskId,
        shared: &TaskShared,
        cleanup: &Cleanup,
    ) {
        self.tell_cleanup_finished(id, shared, cleanup);
    }

    fn tell_cleanup_started(&self, id: TaskId, shared: &TaskShared, reason: &CancelReason) {
        let Some(step) = current_step(shared) else {
            return;
        };
        self.spans.cleanup_started(step, reason);
        shared.emit(id, || EventKind::CleanupStarted { step, reason });
    }

    /// That cleanup has ended as `cleanup` says.
    pub(crate) fn cleanup_finished(&self, id: TaskId, shared: &TaskShared, cleanup: &Cleanup) {
        self.probe.cleanup_ended(cleanup);
        self.tell_cleanup_finished(id, shared, cleanup);
    }

    fn tell_cleanup_finished(&self, id: TaskId, shared: &TaskShared, cleanup: &Cleanup) {
        let Some(step) = current_step(shared) else {
            return;
        };
        self.spans.cleanup_finished(step, cleanup);
        shared.emit(id, || EventKind::CleanupFinished { step, cleanup });
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
        // Building the ending's description reads the shared state: only for a listener.
        if !self.is_heard() {
            return;
        }
        let ending = task_end(shared, ending);
        self.spans.finished(&ending, duration);
        shared.emit(id, || EventKind::Finished { ending, duration });
    }

    /// Whether `Finished` has been told (the task ended, rather than being dropped).
    #[inline]
    pub(crate) fn finish_told(&self) -> bool {
        self.finish_told
    }

    /// The scope is being dropped, on every way out of the task: `leave` takes the task out
    /// of the registry and ends its cell. Listeners hear `Finished { Dropped }` before that if
    /// the task never finished (its runtime dropped it); the probe hears the end after.
    pub(crate) fn dropped(&mut self, id: TaskId, shared: &TaskShared, leave: impl FnOnce()) {
        self.tell_dropped(id, shared);
        leave();
        self.probe.task_ended();
    }

    fn tell_dropped(&mut self, id: TaskId, shared: &TaskShared) {
        // Add-ons are not called while a panic unwinds (a second panic would abort).
        if self.finish_told || std::thread::panicking() {
            return;
        }
        self.finish_told = true;
        let duration = shared.live().submitted_at.elapsed();
        self.spans.finished(&TaskEnd::Dropped, duration);
        shared.emit(id, || EventKind::Finished {
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
        Ending::TimedOut { limit, .. } => TaskEnd::TimedOut {
            step: step_or_first,
            limit: *limit,
        },
        Ending::Abandoned {
            step: stopped,
            steps_completed,
        } => TaskEnd::Abandoned {
            step: stopped.and(step),
            steps_completed: *steps_completed,
        },
    }
}
