//! How a task ended, in one file: as its handle delivers it ([`Outcome`], [`Ending`]), as
//! an error ([`TaskError`]), and as an event tells it ([`TaskEnd`]); all three say it in the
//! same words (`Said`).

use std::fmt;
use std::time::Duration;

use crate::flow::StepRef;
use crate::id::TaskId;
use crate::reason::CancelReason;
use crate::report::Report;

/// Everything a finished task hands back: how it ended, and the report.
///
/// `T` is the last step's output, `E` the steps' error type, `R` the runtime info.
/// [`into_result`](Self::into_result) turns it into a plain `Result` for `?`.
#[derive(Debug)]
pub struct Outcome<T, E, R> {
    id: TaskId,
    // The flow's name is the report's flow's: not kept twice (16 bytes in every outcome,
    // which tokio moves through the task's cell and the join handle).
    ending: Ending<T, E>,
    report: Report<R>,
}

/// How a task ended. Exactly one of these per task.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ending<T, E> {
    /// Every step ran; the value is the last step's output.
    Completed(T),
    /// A step returned `Err`; no later step ran, and no cleanup ran (the step was in
    /// control when it failed).
    Failed {
        /// The step that failed.
        step: &'static str,
        /// Its error, as it returned it.
        error: E,
    },
    /// The task was cancelled (by a request, a timeout, its dropped handle or shutdown).
    Cancelled {
        /// Why; the first reason given wins.
        reason: CancelReason,
        /// The step that was interrupted, whose cleanup ran. `None` if no step was in
        /// progress: the cancel landed before the first step (a task waiting in its flow's
        /// queue included: "cancelled before it started"), between two steps (a step waiting
        /// for its resource has not begun), or after the last step returned but before the
        /// task sealed its result.
        step: Option<&'static str>,
        /// How many steps had completed.
        steps_completed: usize,
    },
    /// A step panicked. The panic was caught, the step's cleanup ran (a panic leaves the
    /// step's resources held, so the cleanup gets [`CancelReason::StepPanicked`]) and the
    /// manager went on.
    Panicked {
        /// The step that panicked.
        step: &'static str,
        /// The panic's message.
        message: String,
    },
    /// An attempt of a step ran longer than the step's time limit (`#[step(timeout = "..")]`)
    /// and was dropped; the step's cleanup ran with [`CancelReason::StepTimeout`], and its
    /// retry policy, if it has one, gave no further attempt. Distinct from the step's own
    /// error type and from the flow's deadline ([`CancelReason::Timeout`]).
    TimedOut {
        /// The step that timed out.
        step: &'static str,
        /// Its time limit.
        limit: Duration,
    },
    /// A clustered task whose instance lost its lease in the cluster's store (say, the
    /// process was paused or cut off from the store for longer than the lease) while the
    /// task ran: another instance may have claimed it, so this instance stopped it where it
    /// stood, ran no cleanup and no compensation, and wrote nothing more about it. How the
    /// task ended for the cluster is in its record (`CancelReason::OwnerLost`, decided by
    /// the instance that claimed it).
    Abandoned {
        /// The step that was in progress, if one had begun and not finished.
        step: Option<&'static str>,
        /// How many steps had completed here.
        steps_completed: usize,
    },
}

/// A task that did not complete, as an error: [`Outcome::into_result`] gives it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError<E> {
    /// A step returned `Err`.
    #[error("task {id} of flow `{flow}` {}", Said::Failed { step })]
    Failed {
        /// The task.
        id: TaskId,
        /// Its flow.
        flow: &'static str,
        /// The step that failed.
        step: &'static str,
        /// The step's own error.
        #[source]
        error: E,
    },
    /// The task was cancelled.
    #[error("task {id} of flow `{flow}` {}", Said::Cancelled { reason, step: *step, steps_completed: *steps_completed })]
    Cancelled {
        /// The task.
        id: TaskId,
        /// Its flow.
        flow: &'static str,
        /// Why.
        reason: CancelReason,
        /// The interrupted step, if one was in progress.
        step: Option<&'static str>,
        /// How many steps had completed.
        steps_completed: usize,
    },
    /// A step panicked.
    #[error("task {id} of flow `{flow}` {}", Said::Panicked { step, message })]
    Panicked {
        /// The task.
        id: TaskId,
        /// Its flow.
        flow: &'static str,
        /// The step that panicked.
        step: &'static str,
        /// The panic's message.
        message: String,
    },
    /// An attempt of a step ran longer than the step's time limit.
    #[error("task {id} of flow `{flow}` {}", Said::TimedOut { step, limit: *limit })]
    TimedOut {
        /// The task.
        id: TaskId,
        /// Its flow.
        flow: &'static str,
        /// The step that timed out.
        step: &'static str,
        /// Its time limit.
        limit: Duration,
    },
    /// This instance lost the task to another instance of its cluster
    /// ([`Ending::Abandoned`]).
    #[error("task {id} of flow `{flow}` {}", Said::Abandoned { step: *step, steps_completed: *steps_completed })]
    Abandoned {
        /// The task.
        id: TaskId,
        /// Its flow.
        flow: &'static str,
        /// The step in progress, if one was.
        step: Option<&'static str>,
        /// How many steps had completed here.
        steps_completed: usize,
    },
}

impl<E> TaskError<E> {
    /// Whether the task was cancelled (for any reason).
    pub fn is_cancelled(&self) -> bool {
        matches!(self, TaskError::Cancelled { .. })
    }

    /// Whether the task was cancelled by its deadline.
    pub fn is_timeout(&self) -> bool {
        matches!(self, TaskError::Cancelled { reason, .. } if reason.is_timeout())
    }

    /// Whether a step ran longer than its own time limit (`#[step(timeout = "..")]`).
    pub fn is_step_timeout(&self) -> bool {
        matches!(self, TaskError::TimedOut { .. })
    }

    /// Whether the task was refused for waiting too long in its queue (queue add-on).
    pub fn is_queue_wait_exceeded(&self) -> bool {
        matches!(self, TaskError::Cancelled { reason, .. } if reason.is_queue_wait_exceeded())
    }
}

impl<T, E, R> Outcome<T, E, R> {
    pub(crate) fn new(id: TaskId, ending: Ending<T, E>, report: Report<R>) -> Self {
        Outcome { id, ending, report }
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The flow's name.
    pub fn flow(&self) -> &'static str {
        self.report.flow_name()
    }

    /// How the task ended.
    pub fn ending(&self) -> &Ending<T, E> {
        &self.ending
    }

    /// What happened, step by step, and the final runtime info.
    pub fn report(&self) -> &Report<R> {
        &self.report
    }

    /// Whether every step ran.
    pub fn is_completed(&self) -> bool {
        matches!(self.ending, Ending::Completed(_))
    }

    /// Whether the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.ending, Ending::Cancelled { .. })
    }

    /// The ending and the report, by value.
    pub fn into_parts(self) -> (Ending<T, E>, Report<R>) {
        (self.ending, self.report)
    }

    /// The last step's output, or why there is none.
    pub fn into_result(self) -> Result<T, TaskError<E>> {
        let (id, flow) = (self.id, self.report.flow_name());
        match self.ending {
            Ending::Completed(value) => Ok(value),
            Ending::Failed { step, error } => Err(TaskError::Failed {
                id,
                flow,
                step,
                error,
            }),
            Ending::Cancelled {
                reason,
                step,
                steps_completed,
            } => Err(TaskError::Cancelled {
                id,
                flow,
                reason,
                step,
                steps_completed,
            }),
            Ending::Panicked { step, message } => Err(TaskError::Panicked {
                id,
                flow,
                step,
                message,
            }),
            Ending::TimedOut { step, limit } => Err(TaskError::TimedOut {
                id,
                flow,
                step,
                limit,
            }),
            Ending::Abandoned {
                step,
                steps_completed,
            } => Err(TaskError::Abandoned {
                id,
                flow,
                step,
                steps_completed,
            }),
        }
    }
}

impl<T, E> fmt::Display for Ending<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let said = match self {
            Ending::Completed(_) => Said::Completed,
            Ending::Failed { step, .. } => Said::Failed { step },
            Ending::Cancelled {
                reason,
                step,
                steps_completed,
            } => Said::Cancelled {
                reason,
                step: *step,
                steps_completed: *steps_completed,
            },
            Ending::Panicked { step, message } => Said::Panicked { step, message },
            Ending::TimedOut { step, limit } => Said::TimedOut {
                step,
                limit: *limit,
            },
            Ending::Abandoned {
                step,
                steps_completed,
            } => Said::Abandoned {
                step: *step,
                steps_completed: *steps_completed,
            },
        };
        said.fmt(f)
    }
}

/// How a task ended, as [`EventKind::Finished`](crate::EventKind::Finished) reports it: the
/// [`Ending`] without its typed value and error, with the steps' positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskEnd<'a> {
    /// Every step ran.
    Completed,
    /// A step returned `Err`.
    Failed {
        /// The step.
        step: StepRef,
    },
    /// The task was cancelled.
    Cancelled {
        /// Why.
        reason: &'a CancelReason,
        /// The interrupted step, if one was in progress.
        step: Option<StepRef>,
        /// How many steps had completed.
        steps_completed: usize,
    },
    /// A step panicked.
    Panicked {
        /// The step.
        step: StepRef,
        /// The panic's message.
        message: &'a str,
    },
    /// An attempt of a step ran longer than the step's time limit (`#[step(timeout = "..")]`).
    TimedOut {
        /// The step.
        step: StepRef,
        /// Its time limit.
        limit: Duration,
    },
    /// The tokio runtime dropped the task before it finished (it was shutting down): the
    /// task has no outcome.
    Dropped,
    /// This instance lost the task to another instance of its cluster
    /// ([`Ending::Abandoned`]).
    Abandoned {
        /// The step in progress, if one was.
        step: Option<StepRef>,
        /// How many steps had completed here.
        steps_completed: usize,
    },
}

impl fmt::Display for TaskEnd<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let said = match self {
            TaskEnd::Completed => Said::Completed,
            TaskEnd::Failed { step } => Said::Failed { step: step.name },
            TaskEnd::Cancelled {
                reason,
                step,
                steps_completed,
            } => Said::Cancelled {
                reason,
                step: step.map(|step| step.name),
                steps_completed: *steps_completed,
            },
            TaskEnd::Panicked { step, message } => Said::Panicked {
                step: step.name,
                message,
            },
            TaskEnd::TimedOut { step, limit } => Said::TimedOut {
                step: step.name,
                limit: *limit,
            },
            TaskEnd::Dropped => Said::Dropped,
            TaskEnd::Abandoned {
                step,
                steps_completed,
            } => Said::Abandoned {
                step: step.map(|step| step.name),
                steps_completed: *steps_completed,
            },
        };
        said.fmt(f)
    }
}

/// How a task ended, in words: the one text that [`Ending`], [`TaskEnd`] and [`TaskError`]
/// all show ("failed at step `send`", "cancelled: user left at step `send`", ...).
enum Said<'a> {
    Completed,
    Failed {
        step: &'a str,
    },
    Cancelled {
        reason: &'a CancelReason,
        step: Option<&'a str>,
        steps_completed: usize,
    },
    Panicked {
        step: &'a str,
        message: &'a str,
    },
    TimedOut {
        step: &'a str,
        limit: Duration,
    },
    Dropped,
    Abandoned {
        step: Option<&'a str>,
        steps_completed: usize,
    },
}

impl fmt::Display for Said<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Said::Completed => f.write_str("completed"),
            Said::Failed { step } => write!(f, "failed at step `{step}`"),
            Said::Cancelled {
                reason,
                step: Some(step),
                ..
            } => write!(f, "{reason} at step `{step}`"),
            Said::Cancelled {
                reason,
                step: None,
                steps_completed,
            } => write!(f, "{reason} after {steps_completed} step(s)"),
            Said::Panicked { step, message } => write!(f, "panicked at step `{step}`: {message}"),
            Said::TimedOut { step, limit } => {
                write!(f, "timed out at step `{step}` (limit {limit:?})")
            }
            Said::Dropped => f.write_str("dropped by its runtime"),
            Said::Abandoned {
                step: Some(step),
                ..
            } => write!(
                f,
                "abandoned at step `{step}`: its instance lost its lease in the cluster"
            ),
            Said::Abandoned {
                step: None,
                steps_completed,
            } => write!(
                f,
                "abandoned after {steps_completed} step(s): its instance lost its lease in the cluster"
            ),
        }
    }
}
