//! The handles a canceller holds: the answer to one cancel, which is also the future of the
//! task's end ([`Cancellation`]), and the answers to a cancel of every task ([`CancelAll`]).
//! The values they carry (`CancelStatus`, `Cleanup`) sit below, in `reason.rs` and
//! `cleanup.rs`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::FusedFuture;

use crate::cleanup::Cleanup;
use crate::id::TaskId;
use crate::reason::{CancelError, CancelStatus};
use crate::shared::TaskShared;

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
    /// The compensations that ran when the task ended (`#[step(compensate = ..)]`), in order:
    /// read it once this cancellation has given its answer (await it through `&mut`). Empty
    /// if none ran, or if no running task had the id.
    ///
    /// ```no_run
    /// # async fn demo(tasks: &task_manager_core::TaskManager, id: task_manager_core::TaskId) {
    /// let mut cancellation = tasks.cancel(id, "user left");
    /// let cleanup = (&mut cancellation).await;
    /// for compensation in cancellation.compensations() {
    ///     println!("{compensation}");
    /// }
    /// # let _ = cleanup;
    /// # }
    /// ```
    pub fn compensations(&self) -> Vec<crate::Compensation> {
        self.task
            .as_ref()
            .map(|task| task.cell().compensations())
            .unwrap_or_default()
    }

    /// What became of the cleanups of the task's descendants (children made with
    /// [`Task::child`](crate::Task::child), theirs, and so on) that ended cancelled: read it
    /// once this cancellation has given its answer (await it through `&mut`). A task ends
    /// only after its children have, so by then the list is the whole tree's. Empty for a
    /// task without children, or if no running task had the id.
    ///
    /// ```no_run
    /// # async fn demo(tasks: &task_manager_core::TaskManager, id: task_manager_core::TaskId) {
    /// let mut cancellation = tasks.cancel(id, "user left");
    /// let own = (&mut cancellation).await;
    /// for child in cancellation.descendants() {
    ///     println!("child {} of {}: {:?}", child.id, child.parent, child.cleanup);
    /// }
    /// # let _ = own;
    /// # }
    /// ```
    pub fn descendants(&self) -> Vec<crate::DescendantCleanup> {
        self.task
            .as_ref()
            .and_then(|task| task.family().map(|family| family.records()))
            .unwrap_or_default()
    }

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
            Some(task) => task.cell().poll_ended(cx),
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
