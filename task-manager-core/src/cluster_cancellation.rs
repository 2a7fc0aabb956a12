//! [`ClusterCancellation`]: the answer to a cancel decided in the cluster's store, and the
//! future of the cleanup its owner records.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::cancel::Cancellation;
use crate::cluster::{ClusterFuture, RecordedCleanup};
use crate::error::ClusterError;
use crate::id::TaskId;
use crate::reason::CancelStatus;

/// The answer to [`TaskManager::cancel_in_cluster`](crate::TaskManager::cancel_in_cluster):
/// what the store decided ([`status`](Self::status)), and a future of the task's end. Await
/// it to wait until the owner, on whichever instance, has recorded the task's ending: it
/// yields the cleanup the owner recorded if a cancel ended the task (this one or an earlier
/// one), `None` if the task ended by itself or no task had the id.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), task_manager_core::ClusterError> {
/// use task_manager_core::{CancelStatus, TaskId, TaskManager};
///
/// // A manager without a cluster answers from its own registry.
/// let tasks = TaskManager::new();
/// let cancellation = tasks.cancel_in_cluster(TaskId::new(), "user left").await?;
/// assert_eq!(cancellation.status(), CancelStatus::NotFound);
/// assert_eq!(cancellation.await?, None);
/// # Ok(()) }
/// ```
pub struct ClusterCancellation {
    id: TaskId,
    status: CancelStatus,
    end: End,
}

enum End {
    /// A manager without a cluster: the local answer.
    Local(Cancellation),
    /// The store's record of the task's ending, while it is awaited.
    Store(Option<ClusterFuture<Result<Option<RecordedCleanup>, ClusterError>>>),
}

impl ClusterCancellation {
    pub(crate) fn local(cancellation: Cancellation) -> Self {
        ClusterCancellation {
            id: cancellation.id(),
            status: cancellation.status(),
            end: End::Local(cancellation),
        }
    }

    pub(crate) fn stored(
        id: TaskId,
        status: CancelStatus,
        end: Option<ClusterFuture<Result<Option<RecordedCleanup>, ClusterError>>>,
    ) -> Self {
        ClusterCancellation {
            id,
            status,
            end: End::Store(end),
        }
    }

    /// The task this request was for.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// What the store decided: `Requested` (this request won), `AlreadyRequested`,
    /// `AlreadyFinished` or `NotFound`.
    pub fn status(&self) -> CancelStatus {
        self.status
    }
}

impl fmt::Debug for ClusterCancellation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterCancellation")
            .field("id", &self.id)
            .field("status", &self.status)
            .finish()
    }
}

impl Future for ClusterCancellation {
    type Output = Result<Option<RecordedCleanup>, ClusterError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.end {
            End::Local(cancellation) => Pin::new(cancellation)
                .poll(cx)
                .map(|cleanup| Ok(cleanup.as_ref().map(RecordedCleanup::from))),
            End::Store(None) => Poll::Ready(Ok(None)),
            End::Store(Some(end)) => {
                let answer = std::task::ready!(end.as_mut().poll(cx));
                self.end = End::Store(None);
                Poll::Ready(answer)
            }
        }
    }
}
