//! A manager's view of every instance's tasks (core's `Cluster::status` and
//! `Cluster::snapshot`, behind `TaskManager::status_in_cluster` and `snapshot_in_cluster`):
//! the store's records, read as they are and told in core's words.
//!
//! Reads are not retried: while the server is down they answer
//! `ClusterErrorKind::Unavailable` at once, naming the task, and the next read reconnects.

use task_manager_core::{
    ClusterCancelRecord, ClusterError, ClusterFuture, ClusterTaskEnded, ClusterTaskState,
    ClusterTaskStatus, TaskId,
};

use crate::cluster::cluster_error;
use crate::record::{Ended, Listing, TaskRecord, TaskState};
use crate::store::PgCluster;

/// The states a snapshot lists: every one but `finished`.
const NOT_FINISHED: [TaskState; 4] = [
    TaskState::Queued,
    TaskState::Running,
    TaskState::Cancelling,
    TaskState::Finishing,
];

pub(crate) fn status(
    cluster: &PgCluster,
    id: TaskId,
) -> ClusterFuture<Result<Option<ClusterTaskStatus>, ClusterError>> {
    let cluster = cluster.clone();
    Box::pin(async move {
        let record = cluster
            .status(id)
            .await
            .map_err(|e| cluster_error(e, id, "reading a task's record"))?;
        Ok(record.map(told))
    })
}

pub(crate) fn snapshot(
    cluster: &PgCluster,
    limit: usize,
) -> ClusterFuture<Result<Vec<ClusterTaskStatus>, ClusterError>> {
    let cluster = cluster.clone();
    Box::pin(async move {
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        let records = cluster
            .list(&Listing::new().states(&NOT_FINISHED).limit(limit))
            .await
            .map_err(|e| {
                let mut error =
                    cluster_error(e, TaskId::from_u128(0), "listing the cluster's tasks");
                error.id = None;
                error
            })?;
        Ok(records.into_iter().map(told).collect())
    })
}

/// A record in core's words.
fn told(record: TaskRecord) -> ClusterTaskStatus {
    let state = match record.state {
        TaskState::Queued => ClusterTaskState::Queued,
        TaskState::Running => ClusterTaskState::Running,
        TaskState::Cancelling => ClusterTaskState::Cancelling,
        TaskState::Finishing => ClusterTaskState::Finishing,
        TaskState::Finished => ClusterTaskState::Finished,
    };
    let mut status = ClusterTaskStatus::new(
        record.id,
        record.flow,
        record.instance,
        state,
        record.submitted_at,
    )
    .with_steps_completed(record.steps_completed)
    .with_times(record.started_at, record.ended_at);
    if let Some((name, index)) = record.step {
        status = status.with_step(name, index, record.steps_completed);
    }
    if let Some(progress) = record.progress {
        status = status.with_progress(progress);
    }
    if let Some(cancel) = record.cancel {
        status = status.with_cancel(ClusterCancelRecord::new(
            cancel.reason,
            cancel.source,
            cancel.requested_by,
            cancel.requested_at,
        ));
    }
    if let Some(ending) = record.ending {
        let ended = match ending.ended {
            Ended::Completed => ClusterTaskEnded::Completed,
            Ended::Failed { step, error } => ClusterTaskEnded::Failed {
                step: Some(step).filter(|step| !step.is_empty()),
                error: Some(error).filter(|error| !error.is_empty()),
            },
            Ended::Cancelled { step } => ClusterTaskEnded::Cancelled { step },
            Ended::Panicked { step, message } => ClusterTaskEnded::Panicked { step, message },
        };
        status = status
            .with_ending(ended, ending.cleanup)
            .with_compensations(ending.compensations);
    }
    status
}
