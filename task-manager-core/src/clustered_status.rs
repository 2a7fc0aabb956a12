//! The manager's view of every instance's tasks: what its cluster's store records of them.
//! [`TaskManager::status`] and [`TaskManager::snapshot`] stay this instance's own, read from
//! the registry without a round trip.

use crate::cluster::ClusterTaskStatus;
use crate::error::{ClusterError, ClusterErrorKind};
use crate::id::TaskId;
use crate::manager::TaskManager;

impl TaskManager {
    /// Task `id` as the cluster's store records it, whichever instance runs it: its flow,
    /// instance, state, step, progress, winning cancel, times and, once it ended, how (one
    /// read of the store). `None`: no instance has a record of it (never submitted, or
    /// finished and purged).
    ///
    /// The record is written by the owner at the task's reservation, at each step boundary
    /// and at its ending, some of it queued (see the store's docs): it may lag the owner's
    /// own [`status`](Self::status) by those writes, but its state never goes back.
    ///
    /// ```no_run
    /// # async fn demo(tasks: task_manager_core::TaskManager, id: task_manager_core::TaskId) -> Result<(), task_manager_core::ClusterError> {
    /// if let Some(status) = tasks.status_in_cluster(id).await? {
    ///     println!("{} on {}: {:?} at {:?}", status.flow, status.instance, status.state, status.step);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The store could not be read ([`ClusterErrorKind::Unavailable`], naming the task), or
    /// keeps no readable records, or this manager has no cluster
    /// ([`ClusterErrorKind::Unsupported`]: use [`status`](Self::status)).
    pub async fn status_in_cluster(
        &self,
        id: TaskId,
    ) -> Result<Option<ClusterTaskStatus>, ClusterError> {
        let Some(link) = self.registry.cluster.as_ref() else {
            return Err(no_cluster(Some(id), "reading a task's record"));
        };
        link.cluster.status(id).await
    }

    /// Every instance's tasks not yet finished (queued, running, cancelling, finishing), as
    /// the cluster's store records them, oldest submission first, at most `limit` of them
    /// (one read of the store). Finished tasks are left out, as
    /// [`snapshot`](Self::snapshot) leaves them out; read one with
    /// [`status_in_cluster`](Self::status_in_cluster).
    ///
    /// ```no_run
    /// # async fn demo(tasks: task_manager_core::TaskManager) -> Result<(), task_manager_core::ClusterError> {
    /// for status in tasks.snapshot_in_cluster(1_000).await? {
    ///     println!("{} {} on {}: {:?}", status.id, status.flow, status.instance, status.state);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`status_in_cluster`](Self::status_in_cluster), without a task.
    pub async fn snapshot_in_cluster(
        &self,
        limit: usize,
    ) -> Result<Vec<ClusterTaskStatus>, ClusterError> {
        let Some(link) = self.registry.cluster.as_ref() else {
            return Err(no_cluster(None, "listing the cluster's tasks"));
        };
        link.cluster.snapshot(limit).await
    }
}

fn no_cluster(id: Option<TaskId>, during: &'static str) -> ClusterError {
    ClusterError::new(
        ClusterErrorKind::Unsupported,
        id,
        during,
        "this manager has no cluster: `status` and `snapshot` see all its tasks",
    )
}
