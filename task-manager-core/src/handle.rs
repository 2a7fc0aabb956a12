//! The caller's side of a running task.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::task::JoinHandle;

use crate::cancel::Cancellation;
use crate::id::TaskId;
use crate::outcome::Outcome;
use crate::queue::{self, Abandonments};
use crate::reason::{CancelReason, CancelSource, CancelStatus};
use crate::shared::TaskShared;

/// A running task, as its submitter holds it. Await it for the [`Outcome`].
///
/// **Dropping the handle cancels the task** with [`CancelReason::HandleDropped`]: when a
/// request handler gives up (its future is dropped), the work it started stops too. The
/// cleanup of the step in progress still runs to the end, on the runtime, without the
/// handle. Call [`detach`](Self::detach) to let a task run on unobserved.
///
/// If the tokio runtime itself shuts down under a running task, tokio drops the task
/// without letting it finish and no outcome exists: awaiting the handle (from another
/// runtime) then panics with a message saying so.
#[must_use = "dropping a TaskHandle cancels its task; call .detach() to let it run on"]
pub struct TaskHandle<T, E, R> {
    id: TaskId,
    join: JoinHandle<Outcome<T, E, R>>,
    /// `Some` while dropping the handle should cancel the task.
    cancel_on_drop: Option<Arc<TaskShared>>,
    /// The lines of the task's manager, if the task may wait in one (queue add-on): a cancel
    /// made here tells them, as the manager's own cancel does.
    lines: Option<Abandonments>,
}

impl<T, E, R> TaskHandle<T, E, R> {
    pub(crate) fn new(
        id: TaskId,
        join: JoinHandle<Outcome<T, E, R>>,
        task: Arc<TaskShared>,
        lines: Option<Abandonments>,
    ) -> Self {
        TaskHandle {
            id,
            join,
            cancel_on_drop: Some(task),
            lines,
        }
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// Cancels this task; the same as [`TaskManager::cancel`](crate::TaskManager::cancel)
    /// with its id, without the lookup.
    pub fn cancel(&self, reason: impl Into<CancelReason>) -> Cancellation {
        match &self.cancel_on_drop {
            Some(task) => Cancellation::new(
                self.id,
                queue::cancel(
                    task,
                    reason.into(),
                    CancelSource::Request,
                    self.lines.as_ref(),
                ),
                Some(Arc::clone(task)),
            ),
            None => Cancellation::new(self.id, CancelStatus::AlreadyFinished, None),
        }
    }

    /// Lets the task run to its end without anyone awaiting it; dropping what this returns
    /// does nothing. The task stays cancellable by id.
    pub fn detach(mut self) {
        self.cancel_on_drop = None;
    }

    /// Whether the task has ended (its outcome is ready).
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }
}

impl<T, E, R> Future for TaskHandle<T, E, R> {
    type Output = Outcome<T, E, R>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let joined = std::task::ready!(Pin::new(&mut self.join).poll(cx));
        self.cancel_on_drop = None;
        match joined {
            Ok(outcome) => Poll::Ready(outcome),
            // Steps and cleanups run under `catch_unwind`; only a panic in a payload's or an
            // info's `Drop` can get here. Let it go on, as tokio would.
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => panic!(
                "task {} was dropped by its tokio runtime shutting down before it finished; it has no outcome",
                self.id
            ),
        }
    }
}

impl<T, E, R> Drop for TaskHandle<T, E, R> {
    fn drop(&mut self) {
        if let Some(task) = self.cancel_on_drop.take() {
            queue::cancel(
                &task,
                CancelReason::HandleDropped,
                CancelSource::HandleDropped,
                self.lines.as_ref(),
            );
        }
    }
}

impl<T, E, R> fmt::Debug for TaskHandle<T, E, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("id", &self.id)
            .field("detached", &self.cancel_on_drop.is_none())
            .finish()
    }
}
