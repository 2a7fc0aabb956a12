//! What an add-on is told: one [`TaskEvent`] per thing that happens to a task.

use std::any::Any;
use std::fmt;
use std::time::Duration;

use crate::cleanup::Cleanup;
use crate::compensation::Compensation;
use crate::flow::StepRef;
use crate::id::TaskId;
use crate::observe::steps::FlowStep;
use crate::outcome::TaskEnd;
use crate::reason::{CancelReason, CancelSource};
use crate::report::StepEnd;

/// One thing that happened to one task, as [`Addon::on_event`](crate::Addon::on_event)
/// receives it. It borrows from the task: copy out what you keep.
///
/// ```
/// use task_manager_core::{EventKind, TaskEvent};
///
/// fn describe(event: &TaskEvent<'_>) -> String {
///     match event.kind {
///         EventKind::StepFinished { step, end, duration } => {
///             format!("{} {}: step `{}` {end:?} in {duration:?}", event.flow, event.id, step.name)
///         }
///         EventKind::Finished { ref ending, .. } => format!("{} {}: {ending}", event.flow, event.id),
///         _ => format!("{} {}: {:?}", event.flow, event.id, event.kind),
///     }
/// }
/// # let _ = describe;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TaskEvent<'a> {
    /// The task.
    pub id: TaskId,
    /// Its flow's name.
    pub flow: &'static str,
    /// The task that started it, for a child (`Task::child`); `None` for a top-level task.
    pub parent: Option<TaskId>,
    /// What happened.
    pub kind: EventKind<'a>,
}

/// What happened; see [`TaskEvent`]. For one task, the events come in this order:
///
/// ```text
/// Submitted  [Queued]
///   [ Started
///     ( [WaitingForResource]  StepStarted  [Progress | Custom]*  [CancelRequested]  StepFinished )*
///     [WaitingForResource] ]
///   [CancelRequested]  [CleanupStarted  CleanupFinished]
/// Finished
/// ```
///
/// `CancelRequested` comes at most once, when the task meets the cancel: before the
/// interrupted step's `StepFinished`, or on its own when the cancel landed between steps,
/// before the first one, while a step waited for its resource, or while the task was queued
/// (then `Started` never comes). Every task that was `Submitted` gets exactly one
/// `Finished`; only one that its runtime dropped ([`TaskEnd::Dropped`]) may get it right
/// after a `StepStarted`, a `WaitingForResource` or a `CleanupStarted`. A task refused at
/// submission (a full queue, say) gets no event at all.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum EventKind<'a> {
    /// The task was registered and is about to be spawned (delivered on the submitter's
    /// thread, inside `execute_*`).
    Submitted,
    /// The task must wait in its flow's queue before it starts (queue add-on): its flow's
    /// limit had no free permit. A task admitted at once is not `Queued`. (On a manager whose
    /// cluster shares limits, every task of a limited flow is `Queued` at submission: it waits
    /// at least for the store's answer.)
    Queued,
    /// The task's future began to run (after its queue, if it had one): its first step is
    /// next, unless a cancel already came.
    Started,
    /// A step must wait for a permit of the resource it needs (queue add-on,
    /// `#[step(resource = "..")]`) before it begins: `StepStarted` comes once it has one. A
    /// step that finds a free permit is not told waiting.
    WaitingForResource {
        /// The step.
        step: StepRef,
        /// The resource's name.
        resource: &'static str,
    },
    /// A step is about to begin: told right before its first poll (the step's body has not
    /// run yet). A cancel requested while this is delivered (by the add-on that hears it, or
    /// from anywhere else) keeps the step from beginning: its body never runs, no cleanup
    /// runs, `CancelRequested` and then this step's `StepFinished` follow at once, with
    /// [`StepEnd::Cancelled`] and a zero duration, and the step is not in the task's report
    /// (it never ran); the outcome is `Cancelled` with no step.
    StepStarted {
        /// The step.
        step: StepRef,
    },
    /// A step that was started has ended, one way or another (every `StepStarted` gets one).
    StepFinished {
        /// The step.
        step: StepRef,
        /// How its run ended.
        end: StepEnd,
        /// From the step's start to its end (its cleanup not included).
        duration: Duration,
    },
    /// An attempt of a step with a retry policy (`#[step(retry = ..)]`) failed (an error the
    /// policy retries, or its time limit), and another attempt follows after `delay`. The
    /// step stays started: one `StepStarted` before its first attempt, one `StepFinished`
    /// after its last. A timed-out attempt's cleanup (`CleanupStarted`, `CleanupFinished`)
    /// comes after this, before the wait.
    StepRetrying {
        /// The step.
        step: StepRef,
        /// The attempt that failed (1 for the first).
        attempt: u32,
        /// The wait before the next attempt.
        delay: Duration,
        /// Why it failed: the error's `Display`, or the time limit it overran.
        error: &'a str,
    },
    /// The task met a cancel and is stopping: the first request that took effect.
    CancelRequested {
        /// Why.
        reason: &'a CancelReason,
        /// Who asked.
        by: CancelSource,
    },
    /// The cleanup of an interrupted (or panicked) step is starting.
    CleanupStarted {
        /// The step it cleans up after.
        step: StepRef,
        /// The reason the cleanup receives.
        reason: &'a CancelReason,
    },
    /// That cleanup has ended.
    CleanupFinished {
        /// The step it cleaned up after.
        step: StepRef,
        /// How it went (as the outcome's report and the canceller get it).
        cleanup: &'a Cleanup,
    },
    /// The compensation of a completed step (`#[step(compensate = ..)]`) has run: the task
    /// ended other than completed. Compensations run after the interrupted step's cleanup,
    /// in the reverse order of their steps, before `Finished`.
    CompensationFinished {
        /// The step it undid.
        step: StepRef,
        /// How it went (as the outcome's report has it).
        compensation: &'a Compensation,
    },
    /// A step reported progress with [`Task::set_progress`](crate::Task::set_progress).
    Progress {
        /// The step in progress.
        step: Option<StepRef>,
        /// What it reported.
        progress: Progress,
    },
    /// A step's own event, sent with [`Task::emit`](crate::Task::emit). Read it with
    /// [`TaskEvent::custom`].
    Custom {
        /// The step that sent it (the one in progress).
        step: Option<StepRef>,
        /// The event's type name, for add-ons that only log.
        type_name: &'static str,
        /// The event.
        event: &'a dyn Any,
    },
    /// The task has ended. Delivered before the handle gets the outcome (the task may still
    /// show in [`status`](crate::TaskManager::status) while add-ons hear this).
    Finished {
        /// How it ended.
        ending: TaskEnd<'a>,
        /// From submission to the end.
        duration: Duration,
    },
}

/// How far a task has got, as a step reports it with
/// [`Task::set_progress`](crate::Task::set_progress) ("37 of 120 files").
///
/// ```
/// use task_manager_core::Progress;
///
/// let progress = Progress { done: 30, total: 120 };
/// assert_eq!(progress.fraction(), Some(0.25));
/// assert_eq!(progress.to_string(), "30/120");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Progress {
    /// Units done.
    pub done: u64,
    /// Units in all; 0 if unknown.
    pub total: u64,
}

impl Progress {
    /// `done / total`, or `None` if the total is unknown (0).
    pub fn fraction(self) -> Option<f64> {
        (self.total != 0).then(|| self.done as f64 / self.total as f64)
    }
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.total == 0 {
            write!(f, "{}", self.done)
        } else {
            write!(f, "{}/{}", self.done, self.total)
        }
    }
}

impl<'a> TaskEvent<'a> {
    /// The step this event is about, if it is about one.
    pub fn step(&self) -> Option<StepRef> {
        match self.kind {
            EventKind::StepStarted { step }
            | EventKind::WaitingForResource { step, .. }
            | EventKind::StepFinished { step, .. }
            | EventKind::StepRetrying { step, .. }
            | EventKind::CompensationFinished { step, .. }
            | EventKind::CleanupStarted { step, .. }
            | EventKind::CleanupFinished { step, .. } => Some(step),
            EventKind::Progress { step, .. } | EventKind::Custom { step, .. } => step,
            EventKind::Finished { ending, .. } => match ending {
                TaskEnd::Failed { step }
                | TaskEnd::Panicked { step, .. }
                | TaskEnd::TimedOut { step, .. } => Some(step),
                TaskEnd::Cancelled { step, .. } | TaskEnd::Abandoned { step, .. } => step,
                TaskEnd::Completed | TaskEnd::Dropped => None,
            },
            EventKind::Submitted
            | EventKind::Queued
            | EventKind::Started
            | EventKind::CancelRequested { .. } => None,
        }
    }

    /// The step this event is about, as flow `S`'s generated step enum; `None` if the event
    /// is about no step or about another flow.
    ///
    /// ```
    /// # use task_manager_core::*;
    /// # #[derive(HasTaskManager)] struct Queries { tasks: TaskManager }
    /// # #[flow(name = query)]
    /// # impl Queries {
    /// #     #[step] async fn prepare(&self, _t: &mut Task) -> Result<(), std::io::Error> { Ok(()) }
    /// #     #[step] async fn send(&self, _t: &mut Task) -> Result<(), std::io::Error> { Ok(()) }
    /// # }
    /// fn on_event(event: &TaskEvent<'_>) {
    ///     if let (Some(QueryStep::Send), EventKind::StepFinished { duration, .. }) =
    ///         (event.step_as::<QueryStep>(), event.kind)
    ///     {
    ///         println!("a query was sent in {duration:?}");
    ///     }
    /// }
    /// # let _ = on_event;
    /// ```
    pub fn step_as<S: FlowStep>(&self) -> Option<S> {
        if self.flow != S::FLOW {
            return None;
        }
        S::from_index(self.step()?.index)
    }

    /// The step's own event, if this is a [`EventKind::Custom`] event of type `E`.
    ///
    /// ```
    /// use task_manager_core::{Addon, TaskEvent};
    ///
    /// /// What the step sends: `task.emit(RowsFetched { rows: 120 })`.
    /// struct RowsFetched { rows: usize }
    ///
    /// struct RowCounter;
    /// impl Addon for RowCounter {
    ///     fn on_event(&self, event: &TaskEvent<'_>) {
    ///         if let Some(fetched) = event.custom::<RowsFetched>() {
    ///             println!("{} fetched {} rows", event.id, fetched.rows);
    ///         }
    ///     }
    /// }
    /// ```
    pub fn custom<E: Any>(&self) -> Option<&'a E> {
        match self.kind {
            EventKind::Custom { event, .. } => event.downcast_ref(),
            _ => None,
        }
    }
}
