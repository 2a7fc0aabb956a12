//! The manager's doors to its cluster: a submission whose id is refused cluster-wide, and a
//! cancel decided in the store, whichever instance runs the task.

use std::sync::Arc;

use crate::cluster::{ClusterLink, Entered, Staged};
use crate::cluster_cancellation::ClusterCancellation;
use crate::error::{ClusterError, ClusterErrorKind, SubmitError};
use crate::id::TaskId;
use crate::manager::TaskManager;
use crate::passport::Passport;
use crate::reason::{CancelReason, CancelSource, CancelStatus};
use crate::registry::Registry;

impl TaskManager {
    /// Whether this manager was built with a [`Cluster`](crate::Cluster).
    ///
    /// ```
    /// assert!(!task_manager_core::TaskManager::new().is_clustered());
    /// ```
    pub fn is_clustered(&self) -> bool {
        self.registry.cluster.is_some()
    }

    /// Submits a task whose id is refused if any instance of the cluster has a record of it:
    /// reserves the id in the store (one round trip), then calls `submit` (your flow's
    /// `execute_<flow>`, on a struct whose manager is this one) with the passport. On a
    /// manager without a cluster it calls `submit` at once.
    ///
    /// A clustered manager takes tasks only this way: `execute_<flow>` called directly is
    /// refused ([`SubmitError::NotReserved`]). Why a reservation before the synchronous
    /// submission rather than an insert by the spawned task: the refusal of a duplicate id
    /// is an `Err` here, before anything runs, as it is in one process; and once `submit`
    /// returns, the task is registered and cancellable, from here synchronously and from any
    /// instance through the store, as a task of one process is. A cancel decided between the
    /// reservation and the submission stops the task before its first step. For a flow with
    /// `#[flow(on_owner_lost = resume)]`, it returns once the store has recorded the task's
    /// payload and runtime info with its flow ([`Cluster::submitted_resumable`](crate::Cluster::submitted_resumable)):
    /// a task whose instance is lost from then on is resumed from its first step if it had not
    /// begun it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use task_manager_core::{flow, HasTaskManager, Passport, Task, TaskManager};
    ///
    /// #[derive(HasTaskManager)]
    /// struct Jobs { tasks: TaskManager }
    ///
    /// #[flow(name = job)]
    /// impl Jobs {
    ///     #[step]
    ///     async fn run(&self, _task: &mut Task<u32>) -> Result<u32, std::io::Error> { Ok(7) }
    /// }
    ///
    /// let jobs = Arc::new(Jobs { tasks: TaskManager::new() });
    /// let handle = jobs.tasks.submit_in_cluster(Passport::new(1), |p| jobs.execute_job(p)).await?;
    /// assert_eq!(handle.await.into_result()?, 7);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`SubmitError::DuplicateInCluster`] if the id has a record anywhere in the cluster,
    /// [`SubmitError::Cluster`] if the store failed, and whatever `submit` returns (the
    /// reservation is then released).
    pub async fn submit_in_cluster<P, H>(
        &self,
        passport: Passport<P>,
        submit: impl FnOnce(Passport<P>) -> Result<H, SubmitError>,
    ) -> Result<H, SubmitError> {
        let Some(link) = self.registry.cluster.as_ref() else {
            return submit(passport);
        };
        let id = passport.id();
        if !link.hold(id) {
            return Err(SubmitError::DuplicateInCluster { id });
        }
        // Releases the reservation on every way out but a submission (a refused one, an
        // error of the store, this future dropped mid-way).
        let guard = Reservation {
            registry: Arc::clone(&self.registry),
            id,
        };
        link.cluster
            .reserve(id)
            .await
            .map_err(|error| match error.kind {
                ClusterErrorKind::Duplicate => SubmitError::DuplicateInCluster { id },
                _ => SubmitError::Cluster {
                    id,
                    error: Box::new(error),
                },
            })
            .inspect_err(|_| {
                // Nothing was written: only the local hold goes.
                guard.forget_hold();
            })?;
        let submitted = submit(passport);
        drop(guard);
        let handle = submitted?;
        // A resumable flow's task: its payload and info are recorded with its flow before
        // this returns, so that a loss of this instance from now on resumes it (an `Err`
        // leaves it running: lost before its first step, it then ends cancelled).
        if let Some(written) = link.take_submission(id) {
            let _ = written.await;
        }
        match link.take_staged(id) {
            None => Ok(handle),
            Some(staged) => enter_flow_line(link, staged).await.map(|()| handle),
        }
    }

    /// Cancels task `id` wherever it runs in the cluster, decided atomically in the store
    /// against the task's own ending: the answer is `Requested` (this request won: the
    /// owner stops the task and runs the step's cleanup once), `AlreadyRequested`,
    /// `AlreadyFinished` or `NotFound`. Await the returned [`ClusterCancellation`] for the
    /// cleanup as the owner recorded it. On a manager without a cluster this is
    /// [`cancel`](Self::cancel).
    ///
    /// ```no_run
    /// # async fn demo(tasks: task_manager_core::TaskManager, id: task_manager_core::TaskId) -> Result<(), task_manager_core::ClusterError> {
    /// let cancellation = tasks.cancel_in_cluster(id, "user left").await?;
    /// println!("{:?}; cleanup: {:?}", cancellation.status(), cancellation.await?);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The store could not be asked ([`ClusterErrorKind::Unavailable`]) or refused the
    /// request: then nothing was decided.
    pub async fn cancel_in_cluster(
        &self,
        id: TaskId,
        reason: impl Into<CancelReason>,
    ) -> Result<ClusterCancellation, ClusterError> {
        let Some(link) = self.registry.cluster.as_ref() else {
            return Ok(ClusterCancellation::local(self.cancel(id, reason)));
        };
        let status = link
            .cluster
            .request_cancel(id, reason.into(), CancelSource::Request)
            .await?;
        let end = (status != CancelStatus::NotFound).then(|| link.cluster.ended_cleanup(id));
        Ok(ClusterCancellation::stored(id, status, end))
    }
}

/// Makes a submitted task's staged entry into its flow's cluster-wide line, and hands the
/// store's answer to the task. Refused (the line is full, the store failed): the task is
/// told nothing but that, and ends as if its handle were dropped, which it then is.
async fn enter_flow_line(link: &ClusterLink, staged: Staged) -> Result<(), SubmitError> {
    let id = staged.entry.task;
    match link.cluster.enter_line(staged.entry).await {
        Ok(Entered::Full { capacity }) => Err(SubmitError::QueueFull {
            id,
            flow: staged.flow,
            capacity,
        }),
        Ok(entered) => {
            // A task cancelled meanwhile has dropped its gate: the answer (a permit or a
            // place in the line) is dropped here, which gives it back.
            let _ = staged.gate.send(entered);
            Ok(())
        }
        Err(error) => Err(SubmitError::Cluster {
            id,
            error: Box::new(error),
        }),
    }
}

/// A reservation not yet turned into a submission; see `submit_in_cluster`.
struct Reservation {
    registry: Arc<Registry>,
    id: TaskId,
}

impl Reservation {
    fn forget_hold(&self) {
        if let Some(link) = self.registry.cluster.as_ref() {
            link.unhold(self.id);
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(link) = self.registry.cluster.as_ref() {
            // Still held: the task was not registered (refused, or never submitted).
            if link.unhold(self.id) {
                link.cluster.release(self.id);
            }
        }
    }
}
