//! A flow whose steps declare compensations (`#[step(compensate = undo_fn)]`): when the task
//! ends other than completed, the compensations of the steps that completed run, in reverse
//! order, after the interrupted step's cleanup.
//!
//! Such a flow claims its ending *before* the compensations run (the ending of a failed task
//! is decided when its step fails, that of a completed one when its last step returns): a
//! cancel that lands during a compensation finds the task finished, and does not interrupt
//! it; only the cleanup deadline does. The generated code (see `task-manager-macros/src/
//! step.rs`) keeps a clone of each compensated step's output in a local of its own, hands it
//! to the compensation by value, and ends the steps' block with a [`Halt`]:
//!
//! ```text
//! let halt = 'stopped: { ..steps: Failed(e) => break 'stopped scope.fail(i, e), ..
//!                        if let Some(stop) = scope.try_complete() { break 'stopped Halt::Stopped(stop) }
//!                        return scope.completed_sealed(task, out) };
//! if let Halt::Stopped(stop) = &halt { ..the stopped step's cleanup.. }
//! if let Some(kept) = kept_1.take() { scope.compensate(1, undo_1(task, kept)).await }
//! if let Some(kept) = kept_0.take() { scope.compensate(0, undo_0(task, kept)).await }
//! scope.halted(task, halt)
//! ```
//!
//! A flow without compensations never comes here and pays nothing for it.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use crate::compensation::Compensation;
use crate::outcome::{Ending, Outcome};
use crate::run::race::panic_message;
use crate::run::scope::{Scope, Stop};
use crate::task::Task;

/// How the steps' block of a flow with compensations ended, when not completed.
pub enum Halt<E> {
    /// A step was stopped (or a cancel won the task's ending): its cleanup runs first.
    Stopped(Stop),
    /// Step `index` returned this error, and the task's ending is claimed as failed.
    Failed(usize, E),
}

/// What a compensation returns: `()`, or `Result<(), E>` with `E: Display`.
#[diagnostic::on_unimplemented(
    message = "a compensation returns `()` or `Result<(), E>` with `E: Display`, not `{Self}`",
    label = "expected `()` or `Result<(), E>`",
    note = "write `async fn undo(&self, task: &mut Task<Payload, Info>, output: StepOutput) -> Result<(), MyError>`"
)]
pub trait CompensationResult {
    /// `None` if it succeeded, else the error's `Display`.
    fn into_error(self) -> Option<String>;
}

impl CompensationResult for () {
    fn into_error(self) -> Option<String> {
        None
    }
}

impl<E: std::fmt::Display> CompensationResult for Result<(), E> {
    fn into_error(self) -> Option<String> {
        self.err().map(|error| error.to_string())
    }
}

impl Scope {
    /// Step `index` returned `error`: the task claims its ending as failed (unless a cancel
    /// won it), before the compensations run.
    pub fn fail<E>(&mut self, index: usize, error: E) -> Halt<E> {
        self.hooks.before_ending(self.timeline.completed());
        if self.shared.cell().seal() {
            Halt::Failed(index, error)
        } else {
            // A cancel won: the task ends cancelled, no step in progress.
            Halt::Stopped(Stop::before(index))
        }
    }

    /// The last step returned: the task claims its ending as completed (`None`), unless a
    /// cancel won it (the stop to end with: the completed steps are then compensated).
    pub fn try_complete(&mut self) -> Option<Stop> {
        self.hooks.before_ending(self.timeline.completed());
        if self.shared.cell().seal() {
            return None;
        }
        let last = self.timeline.len().saturating_sub(1);
        Some(Stop::before(last))
    }

    /// Ends the task as completed, its ending already claimed by [`Scope::try_complete`].
    pub fn completed_sealed<P, R, T, E>(&mut self, task: Task<P, R>, value: T) -> Outcome<T, E, R> {
        self.finish(task, Ending::Completed(value))
    }

    /// Ends the task after its compensations ran.
    pub fn halted<P, R, T, E>(&mut self, task: Task<P, R>, halt: Halt<E>) -> Outcome<T, E, R> {
        match halt {
            Halt::Stopped(stop) => self.stopped(task, stop),
            Halt::Failed(_, _) if self.is_abandoned() => self.abandoned(task, None),
            Halt::Failed(index, error) => {
                let step = self.shared.flow().step_name(index);
                self.finish(task, Ending::Failed { step, error })
            }
        }
    }

    /// Runs the compensation of step `index`, `run`, to its end or the cleanup deadline,
    /// catching a panic, and records how it ended for the report.
    pub async fn compensate<F>(&mut self, index: usize, run: F)
    where
        F: Future,
        F::Output: CompensationResult,
    {
        if self.is_abandoned() {
            // Its instance lost the task: no compensation runs here (`abandon.rs`).
            return;
        }
        // Time passed: the task's end is read from the clock.
        self.timeline.interrupt();
        let step = self.shared.flow().step_name(index);
        let limit = self.cleanup_limit();
        let body = CompensationBody {
            started_at: Instant::now(),
            deadline: limit.map(tokio::time::sleep),
            run,
        };
        let completed = self.timeline.completed();
        let ended = {
            let mut body = std::pin::pin!(body);
            let this = &*self;
            std::future::poll_fn(|cx| {
                let hooks = &this.hooks;
                if this.abandoned_while_cleaning(cx) {
                    // Abandoned mid-compensation: dropped where it stands (`abandon.rs`).
                    return Poll::Ready(None);
                }
                let polled = hooks.in_step(|| body.as_mut().poll(cx)).map(Some);
                if polled.is_pending() {
                    // An await point: the explorer may cancel here (the ending is claimed).
                    hooks.compensation_pending(index, completed);
                }
                polled
            })
            .await
            // The compensation's future is dropped here, before its children are waited for.
        };
        // A compensation, like a step or a cleanup, does not leave children behind: those it
        // started and left running are cancelled and awaited before the next one runs.
        if self.has_children() {
            std::future::poll_fn(|cx| self.poll_children(cx)).await;
        }
        let Some(ended) = ended else {
            return;
        };
        let compensation = match ended {
            Ended::Returned(None, duration) => Compensation::Completed { step, duration },
            Ended::Returned(Some(error), _) => Compensation::Failed { step, error },
            Ended::Panicked(message) => Compensation::Panicked { step, message },
            Ended::TimedOut => Compensation::TimedOut {
                step,
                after: limit.unwrap_or_default(),
            },
        };
        self.hooks
            .compensation_finished(self.id, &self.shared, index, &compensation);
        self.timeline.compensated = true;
        self.shared.cell().record_compensation(compensation);
    }
}

enum Ended {
    Returned(Option<String>, std::time::Duration),
    Panicked(String),
    TimedOut,
}

pin_project! {
    struct CompensationBody<F> {
        started_at: Instant,
        #[pin]
        deadline: Option<Sleep>,
        #[pin]
        run: F,
    }
}

impl<F> Future for CompensationBody<F>
where
    F: Future,
    F::Output: CompensationResult,
{
    type Output = Ended;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Ended> {
        let this = self.project();
        let run = this.run;
        match catch_unwind(AssertUnwindSafe(|| run.poll(cx))) {
            Ok(Poll::Ready(result)) => {
                return Poll::Ready(Ended::Returned(
                    result.into_error(),
                    this.started_at.elapsed(),
                ))
            }
            Err(payload) => return Poll::Ready(Ended::Panicked(panic_message(payload))),
            Ok(Poll::Pending) => {}
        }
        match this.deadline.as_pin_mut().map(|sleep| sleep.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Ended::TimedOut),
            _ => Poll::Pending,
        }
    }
}
