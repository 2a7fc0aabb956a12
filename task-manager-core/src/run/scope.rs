//! The runner behind every generated flow: races each step against the task's cancel
//! signal and deadline, runs the cleanup, records the report and seals the outcome.
//!
//! The `#[flow]` macro writes one `async` block per flow that calls [`Scope::step`] for each
//! step in turn and [`Scope::cleanup`] when one is stopped. rustc turns that block into the
//! task's state machine: one state per step, the steps' futures laid over one another in
//! the same bytes, no allocation and no boxed future per step. Everything that decides
//! anything lives here, where it is tested without the macro.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::time::{Instant, Sleep};

use crate::cleanup::Cleanup;
use crate::id::TaskId;
use crate::outcome::{Ending, Outcome};
use crate::passport::Passport;
use crate::queue::ResourcePermit;
use crate::reason::CancelReason;
use crate::registry::Registry;
use crate::report::timeline::Timeline;
use crate::report::{PolicyRecords, Report};
use crate::run::hooks::Hooks;
use crate::run::race::{CleanupBody, CleanupRun, StepRace, TimedStepRace};
use crate::run::step_timer::StepTimer;
use crate::shared::TaskShared;
use crate::task::Task;

/// One task's runner state. Owned by the task's future; see the module docs.
pub struct Scope {
    pub(super) id: TaskId,
    pub(super) shared: Arc<TaskShared>,
    pub(super) registry: Arc<Registry>,
    pub(super) deadline: Option<Pin<Box<Sleep>>>,
    /// When each begun step ran (the report's step records are derived from it).
    pub(super) timeline: Timeline,
    /// The waker last registered with the task's cancel signal (its data and vtable
    /// addresses): a step that stays pending under the same waker, as a tokio task always
    /// is, skips the registration's two atomic operations.
    pub(super) registered_waker: (usize, usize),
    /// Tells add-ons, `tracing` and the explorer's probe what happens (see `hooks.rs`).
    pub(super) hooks: Hooks,
}

/// How one step's run ended, as [`Scope::step`] reports it to the generated code.
pub enum StepRun<T, E> {
    /// The step returned `Ok`: feed the value to the next step.
    Completed(T),
    /// The step returned `Err`: end the task with [`Scope::failed`].
    Failed(E),
    /// The step was stopped (cancel, timeout, panic): run its cleanup with
    /// [`Scope::cleanup`], then end the task with [`Scope::stopped`].
    Stopped(Stop),
}

/// Why a step was stopped; see [`StepRun::Stopped`].
///
/// A few bytes, not boxed: a cancel's reason is in the task's cancel slot, where the cancel
/// put it, and a panic's message is put there too (both are cold), so a stopped task
/// allocates nothing for its stop.
pub struct Stop {
    index: u32,
    began: bool,
    kind: StopKind,
    /// The permit of the step's resource (queue add-on): held through the step's cleanup,
    /// which may still be using the resource, and released when the stop is consumed.
    pub(crate) resource: Option<ResourcePermit>,
}

/// What stopped a step: the task's cancel (its reason is in the cancel slot), a panic of
/// the step, or the step's own time limit. One byte in the [`Stop`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopKind {
    Cancelled,
    Panicked,
    TimedOut,
}

impl Stop {
    pub(super) fn new(index: usize, began: bool, kind: StopKind) -> Self {
        Stop {
            // A flow has at most `u16::MAX` steps (see `TaskShared::set_step`).
            index: index as u32,
            began,
            kind,
            resource: None,
        }
    }

    /// A cancel that landed before step `index` began (while the task waited in a queue, or
    /// between two attempts of a retrying step): the step's cleanup does not run.
    pub(crate) fn before(index: usize) -> Self {
        Stop::new(index, false, StopKind::Cancelled)
    }

    /// The reason a stopped step's cleanup receives.
    pub(super) fn reason(&self, shared: &TaskShared) -> CancelReason {
        match self.kind {
            StopKind::Panicked => CancelReason::StepPanicked,
            StopKind::TimedOut => CancelReason::StepTimeout {
                limit: shared.cell().step_limit(),
            },
            StopKind::Cancelled => shared.cell().reason(),
        }
    }

    /// The index of the step that was stopped (the generated code runs that step's cleanup).
    pub fn index(&self) -> usize {
        self.index as usize
    }

    /// Whether the stopped step had begun (only then does its cleanup run).
    pub fn began(&self) -> bool {
        self.began
    }
}

/// The timer of a task's deadline, `timeout` after `submitted_at`, if it has one.
///
/// Armed before the task is registered: tokio's timers panic on a runtime without them, and
/// that must not leave an id registered with no task behind it. A deadline too far for the
/// clock to represent never comes (as with `tokio::time::sleep`).
pub(crate) fn arm_deadline(
    submitted_at: Instant,
    timeout: Option<std::time::Duration>,
) -> Option<Pin<Box<Sleep>>> {
    let deadline = submitted_at.checked_add(timeout?)?;
    Some(Box::pin(tokio::time::sleep_until(deadline)))
}

impl Scope {
    pub(crate) fn new<P>(
        id: TaskId,
        shared: Arc<TaskShared>,
        registry: Arc<Registry>,
        deadline: Option<Pin<Box<Sleep>>>,
        passport: &mut Passport<P>,
        // The task is one of the store's (a top-level task of a clustered manager).
        clustered: bool,
    ) -> Self {
        let hooks = Hooks::new(id, &shared, passport, clustered);
        // Step times are for the report and for whoever listens (their events carry them).
        let timed = shared.flow().times_steps() || hooks.is_observed();
        Scope {
            hooks,
            id,
            deadline,
            shared,
            registry,
            timeline: Timeline::new(timed),
            registered_waker: (0, 0),
        }
    }

    /// Runs step `index` to its end, unless the task's cancel or deadline comes first.
    ///
    /// The cancel flag is checked before every poll of the step, so a cancel that lands
    /// between two steps is seen before the next step's first poll: that step never begins.
    /// The returned future holds the step's future inline, once (an `async fn` here would
    /// hold it twice, and every byte counts in every parked task).
    pub fn step<F, T, E>(&mut self, index: usize, run: F) -> StepRace<'_, F>
    where
        F: Future<Output = Result<T, E>>,
    {
        self.hooks.step_next(self.id, &self.shared, index);
        self.shared.set_step(index);
        self.tell_step(index);
        StepRace::new(self, index, run)
    }

    /// Runs step `index`, which has a time limit (`#[step(timeout = "..")]`) and no other
    /// policy, as [`Scope::step`] does: at its limit, counted from its first poll, its
    /// future is dropped and it ends `Stopped` (the step's cleanup gets
    /// [`CancelReason::StepTimeout`]). `timer` is the task's one, shared by its timed steps.
    pub fn timed_step<'a, F, T, E>(
        &'a mut self,
        index: usize,
        timer: &'a mut StepTimer,
        run: F,
    ) -> TimedStepRace<'a, F>
    where
        F: Future<Output = Result<T, E>>,
    {
        self.hooks.step_next(self.id, &self.shared, index);
        self.shared.set_step(index);
        self.tell_step(index);
        TimedStepRace::new(self, timer, index, run)
    }

    /// Runs a stopped step's cleanup to its end, if the step had begun: `cleanup` is called
    /// with the reason and returns the cleanup's future (it is not called for a step that
    /// never began, which has nothing to clean up). A second cancel does not interrupt the
    /// cleanup, and a panic in it is caught and reported. Only its deadline, if the flow or
    /// the manager sets one, cuts it short: then it is dropped where it stands.
    ///
    /// Like [`Scope::step`], a named future rather than an `async fn`; the cleanup's future
    /// is boxed with its start and deadline (see [`CleanupRun`]). Taking a closure rather
    /// than the future keeps the reason out of the task's state machine.
    pub fn cleanup<'a, C, F>(&'a mut self, stop: &Stop, cleanup: C) -> CleanupRun<'a>
    where
        C: FnOnce(CancelReason) -> F,
        F: Future<Output = ()> + Send + 'a,
    {
        if !stop.began || self.is_abandoned() {
            return CleanupRun::new(self, None);
        }
        let reason = stop.reason(&self.shared);
        self.hooks.cleanup_started(self.id, &self.shared, &reason);
        // The task's end comes after the cleanup, not at the stopped step's end.
        self.timeline.interrupt();
        let step = self.shared.flow().step_name(stop.index());
        let body = CleanupBody::new(step, self.cleanup_limit(), cleanup(reason));
        CleanupRun::new(self, Some(Box::pin(body)))
    }

    /// How long a cleanup may run: the flow's `cleanup_timeout`, else the manager's default.
    pub(super) fn cleanup_limit(&self) -> Option<std::time::Duration> {
        self.shared
            .flow()
            .cleanup_timeout()
            .or_else(|| self.registry.cleanup_timeout())
    }

    /// The end of a cleanup: records it for the report, the events and the cancellers.
    pub(crate) fn end_cleanup(&mut self, cleanup: Cleanup) {
        self.hooks.cleanup_finished(self.id, &self.shared, &cleanup);
        // Kept in the shared state's cold slot (the cancel allocated it), not in the future.
        self.shared.cell().record_cleanup(cleanup);
    }

    /// Ends the task after a stopped step (and its cleanup, if it ran).
    /// The stop's permit (queue add-on) is released after the ending is sealed.
    pub fn stopped<P, R, T, E>(&mut self, task: Task<P, R>, stop: Stop) -> Outcome<T, E, R> {
        let step = self.shared.flow().step_name(stop.index());
        if self.is_abandoned() {
            return self.abandoned(task, stop.began.then_some(step));
        }
        if stop.kind == StopKind::Cancelled {
            // Already told if a step met the cancel; not if the task left a queue.
            self.hooks.cancel_requested(self.id, &self.shared);
        }
        // Unless the step's cleanup ran and recorded itself.
        self.shared.cell().record_cleanup_if_none(if stop.began {
            Cleanup::NotDeclared { step }
        } else {
            Cleanup::NoStepInProgress
        });
        let ending = match stop.kind {
            StopKind::Panicked => Ending::Panicked {
                step,
                message: self.shared.cell().take_panic(),
            },
            StopKind::TimedOut => Ending::TimedOut {
                step,
                limit: self.shared.cell().step_limit(),
            },
            StopKind::Cancelled => Ending::Cancelled {
                reason: self.shared.cell().reason(),
                step: stop.began.then_some(step),
                steps_completed: self.timeline.completed(),
            },
        };
        self.finish(task, ending)
    }

    /// Ends the task after step `index` returned `Err`.
    pub fn failed<P, R, T, E>(
        &mut self,
        task: Task<P, R>,
        index: usize,
        error: E,
    ) -> Outcome<T, E, R> {
        self.hooks.before_ending(self.timeline.completed());
        let ending = match self.seal_or_cancelled() {
            None => Ending::Failed {
                step: self.shared.flow().step_name(index),
                error,
            },
            Some(cancelled) => cancelled,
        };
        self.finish(task, ending)
    }

    /// Ends the task after its last step returned `value`.
    pub fn completed<P, R, T, E>(&mut self, task: Task<P, R>, value: T) -> Outcome<T, E, R> {
        self.hooks.before_ending(self.timeline.completed());
        let ending = self.seal_or_cancelled().unwrap_or(Ending::Completed(value));
        self.finish(task, ending)
    }

    /// Claims the task's ending; if a cancel won the race, the cancelled ending instead
    /// (no step is in progress, so there is nothing to clean up).
    fn seal_or_cancelled<T, E>(&mut self) -> Option<Ending<T, E>> {
        if self.shared.cell().seal() {
            return None;
        }
        if self.is_abandoned() {
            return Some(self.abandoned_between_steps());
        }
        self.hooks.cancel_requested(self.id, &self.shared);
        self.shared.cell().record_cleanup(Cleanup::NoStepInProgress);
        Some(Ending::Cancelled {
            reason: self.shared.cell().reason(),
            step: None,
            steps_completed: self.timeline.completed(),
        })
    }

    pub(super) fn finish<P, R, T, E>(
        &mut self,
        task: Task<P, R>,
        ending: Ending<T, E>,
    ) -> Outcome<T, E, R> {
        // Kept by the shared state (the snapshot reads it there), not twice.
        let submitted_at = self.shared.live().submitted_at;
        // Most tasks end in the poll where their last step ended: that instant, no clock read.
        let duration = std::time::Duration::from_nanos(self.timeline.now(submitted_at));
        let finished_at = submitted_at + duration;
        self.hooks
            .finished(self.id, &self.shared, &ending, duration);
        // A task stopped by a cancel or a panic has recorded what became of its cleanup; one
        // that completed or failed by itself ran none (and does not lock its slot for this).
        let cleanup = match ending {
            Ending::Cancelled { .. } | Ending::Panicked { .. } | Ending::TimedOut { .. } => {
                self.shared.cell().recorded_cleanup()
            }
            Ending::Completed(_) | Ending::Failed { .. } | Ending::Abandoned { .. } => None,
        };
        if self.hooks.clustered {
            self.tell_ended(&ending, cleanup.as_ref());
        }
        // Only a task whose steps retried or were compensated reads its cell for them.
        let policies = (self.timeline.retried || self.timeline.compensated).then(|| {
            Box::new(PolicyRecords {
                attempts: self.shared.cell().take_attempts(),
                compensations: self.shared.cell().compensations(),
            })
        });
        let report = Report::new(
            self.shared.flow(),
            submitted_at,
            finished_at,
            std::mem::take(&mut self.timeline),
            cleanup,
            task.into_info(),
            policies,
        );
        Outcome::new(self.id, ending, report)
    }
}

impl Drop for Scope {
    /// Runs on every way out of the task: its end, a panic that escaped, or the runtime
    /// dropping it. The id leaves the registry before the outcome reaches the handle (the
    /// task's future drops its scope before tokio hands its output over).
    fn drop(&mut self) {
        if self.hooks.clustered && !self.hooks.finish_told() {
            self.tell_dropped();
        }
        let (id, shared, registry) = (self.id, &self.shared, &self.registry);
        self.hooks.dropped(id, shared, || {
            let family = if shared.has_family() {
                shared.family()
            } else {
                None
            };
            if let Some(family) = &family {
                family.cancel_left_behind();
            }
            registry.remove(id);
            shared.cell().end();
            // After its end: the parent's records read the cleanup it recorded.
            if let Some(family) = &family {
                crate::run::submit::leave_parent(id, shared, family);
            }
        });
    }
}
