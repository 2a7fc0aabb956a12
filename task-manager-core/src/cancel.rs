//! What a cancel request answers, and how to wait for the cleanup it caused.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::FusedFuture;

use crate::id::TaskId;
use crate::shared::TaskShared;

/// What a cancel request found, decided at the moment of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CancelStatus {
    /// This request took effect: the task will end cancelled with this request's reason, and
    /// the cleanup of the step in progress (if one was in progress) runs.
    Requested,
    /// An earlier request already took effect; its reason stands and its cleanup runs once.
    AlreadyRequested,
    /// The task had already decided its own ending (it completed, failed or panicked) and is
    /// on its way out; this request changes nothing. (A panicked step's cleanup still runs,
    /// as it would have anyway; the outcome reports it, and awaiting this gives `None`.)
    AlreadyFinished,
    /// No running task has this id: it never existed, or it has finished and been forgotten.
    NotFound,
}

impl CancelStatus {
    /// Whether the task is (now or already) being cancelled.
    pub fn is_cancelling(self) -> bool {
        matches!(
            self,
            CancelStatus::Requested | CancelStatus::AlreadyRequested
        )
    }
}

/// What happened on the cleanup side when a task was cancelled (or a step panicked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cleanup {
    /// The step in progress was stopped and its cleanup ran to the end.
    Completed {
        /// The interrupted step.
        step: &'static str,
        /// How long the cleanup took.
        duration: Duration,
    },
    /// The step in progress was stopped; it declares no cleanup (`#[step]` without `cancel`).
    NotDeclared {
        /// The interrupted step.
        step: &'static str,
    },
    /// No step was in progress: the cancel landed before the first step, between two steps,
    /// or after the last; nothing needed cleaning up.
    NoStepInProgress,
    /// The cleanup panicked. The task still ended; the panic did not spread.
    Panicked {
        /// The interrupted step.
        step: &'static str,
        /// The panic's message.
        message: String,
    },
    /// The cleanup did not finish within its deadline (`#[flow(cleanup_timeout = "..")]` or
    /// [`TaskManager::with_cleanup_timeout`](crate::TaskManager::with_cleanup_timeout)): it
    /// was dropped where it stood, and the task ended.
    TimedOut {
        /// The interrupted step.
        step: &'static str,
        /// The deadline it overran.
        after: Duration,
    },
}

impl Cleanup {
    /// `Err` if the cleanup panicked or overran its deadline, so that a canceller can `?` it.
    pub fn into_result(self, id: TaskId) -> Result<Cleanup, CleanupError> {
        match self {
            Cleanup::Panicked { step, message } => {
                Err(CleanupError::Panicked { id, step, message })
            }
            Cleanup::TimedOut { step, after } => Err(CleanupError::TimedOut { id, step, after }),
            done => Ok(done),
        }
    }

    /// The step whose cleanup this is about; `None` for [`Cleanup::NoStepInProgress`].
    pub fn step(&self) -> Option<&'static str> {
        match self {
            Cleanup::Completed { step, .. }
            | Cleanup::NotDeclared { step }
            | Cleanup::Panicked { step, .. }
            | Cleanup::TimedOut { step, .. } => Some(step),
            Cleanup::NoStepInProgress => None,
        }
    }
}

/// A cleanup that did not finish properly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CleanupError {
    /// The cleanup panicked.
    #[error("the cleanup of step `{step}` of task {id} panicked: {message}")]
    Panicked {
        /// The task.
        id: TaskId,
        /// The step whose cleanup panicked.
        step: &'static str,
        /// The panic's message.
        message: String,
    },
    /// The cleanup overran its deadline and was dropped.
    #[error(
        "the cleanup of step `{step}` of task {id} did not finish within {after:?} and was dropped"
    )]
    TimedOut {
        /// The task.
        id: TaskId,
        /// The step whose cleanup overran.
        step: &'static str,
        /// The deadline.
        after: Duration,
    },
}

/// A cancel that found nothing to cancel, as an error: see [`Cancellation::found`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CancelError {
    /// No running task has this id.
    #[error("no running task has id {id}: it never existed, or it has already ended")]
    NotFound {
        /// The id asked for.
        id: TaskId,
    },
}

/// The answer to [`TaskManager::cancel`](crate::TaskManager::cancel). The cancel has already
/// happened when you hold this: drop it if you do not need to wait. It is also a future:
/// await it (or poll it from any executor, `select!` over it) to wait until the task has
/// ended and its cleanup has run.
///
/// ```
/// # use task_manager_core::{TaskManager, TaskId, CancelStatus};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let tasks = TaskManager::new();
/// let cancellation = tasks.cancel(TaskId::new(), "user left");
/// assert_eq!(cancellation.status(), CancelStatus::NotFound);
/// assert_eq!(cancellation.await, None);   // nothing ran
/// # }
/// ```
///
/// Outside a runtime, any executor will do (the future needs no tokio context):
///
/// ```
/// # use task_manager_core::{TaskManager, TaskId};
/// let tasks = TaskManager::new();
/// let cleanup = futures::executor::block_on(tasks.cancel(TaskId::new(), "user left"));
/// assert_eq!(cleanup, None);
/// ```
// Not `#[must_use]`: the cancel has taken effect when this is returned, so a statement
// `tasks.cancel(id, "user left");` that does not wait for the cleanup is a complete use.
pub struct Cancellation {
    id: TaskId,
    status: CancelStatus,
    task: Option<Arc<TaskShared>>,
    /// It has returned its answer (for [`FusedFuture`]).
    done: bool,
}

impl Cancellation {
    pub(crate) fn new(id: TaskId, status: CancelStatus, task: Option<Arc<TaskShared>>) -> Self {
        Cancellation {
            id,
            status,
            task,
            done: false,
        }
    }

    /// The task this request was for.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// What the request found.
    pub fn status(&self) -> CancelStatus {
        self.status
    }

    /// `Err` if no running task had this id, for callers to whom an unknown id is an error
    /// (say, an API that cancels a request by the id its client gave).
    ///
    /// ```
    /// # use task_manager_core::{TaskManager, TaskId, CancelError};
    /// let tasks = TaskManager::new();
    /// let id = TaskId::new();
    /// let error = tasks.cancel(id, "client asked").found().unwrap_err();
    /// assert_eq!(error, CancelError::NotFound { id });
    /// ```
    ///
    /// # Errors
    /// [`CancelError::NotFound`] if the status is [`CancelStatus::NotFound`].
    pub fn found(self) -> Result<Self, CancelError> {
        match self.status {
            CancelStatus::NotFound => Err(CancelError::NotFound { id: self.id }),
            _ => Ok(self),
        }
    }

    /// The task's shared state, while it was found (for the shutdown's report).
    pub(crate) fn task(&self) -> Option<&Arc<TaskShared>> {
        self.task.as_ref()
    }
}

impl fmt::Debug for Cancellation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancellation")
            .field("id", &self.id)
            .field("status", &self.status)
            .finish()
    }
}

/// Waits until the task has ended. `Some(cleanup)` if the task ended cancelled (by this
/// request or an earlier one), `None` if there was nothing to cancel (unknown id, or the
/// task ended by itself). Polling it again after that gives the same answer.
impl Future for Cancellation {
    type Output = Option<Cleanup>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let answer = match &self.task {
            None => Poll::Ready(None),
            Some(task) => task.poll_ended(cx),
        };
        if answer.is_ready() {
            self.done = true;
        }
        answer
    }
}

impl FusedFuture for Cancellation {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

/// The answer to [`TaskManager::cancel_all`](crate::TaskManager::cancel_all): one
/// [`Cancellation`] per task that was running.
#[must_use = "the cancels have happened; await this to wait for every cleanup, or drop it"]
#[derive(Debug)]
pub struct CancelAll {
    pub(crate) cancellations: Vec<Cancellation>,
}

impl CancelAll {
    /// How many tasks this request cancelled (status [`CancelStatus::Requested`]).
    pub fn requested(&self) -> usize {
        self.cancellations
            .iter()
            .filter(|c| c.status == CancelStatus::Requested)
            .count()
    }

    /// Every task found, with what the request found for each.
    pub fn cancellations(&self) -> &[Cancellation] {
        &self.cancellations
    }

    /// Waits until every task found has ended; returns each id with its cleanup.
    pub async fn finished(self) -> Vec<(TaskId, Option<Cleanup>)> {
        let mut ended = Vec::with_capacity(self.cancellations.len());
        for cancellation in self.cancellations {
            let id = cancellation.id;
            ended.push((id, cancellation.await));
        }
        ended
    }
}
