//! A manager's view of every instance's tasks (core's `Cluster::status` and
//! `Cluster::snapshot`, behind `TaskManager::status_in_cluster` and `snapshot_in_cluster`):
//! the store's records, read as they are and told in core's words.
//!
//! Reads are not retried: while the server is down they answer
//! `ClusterErrorKind::Unavailable` at once, naming the task, and the next read reconnects.

use task_manager_core::{
    ClusterCancelRecord, ClusterError, ClusterFuture, ClusterTaskEnded, ClusterTaskState,
    ClusterTaskStatus, OutcomeRecord, TaskId,
};
use tokio::time::sleep;

use crate::cluster::{cluster_error, ENDED_POLL_FIRST, ENDED_POLL_MAX};
use crate::error::StoreError;
use crate::id::PgId;
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

/// Core's `Cluster::outcome`: the record with its kept output; `wait`: read again, as
/// `ended_cleanup` does (backing off from 1 ms to 50 ms, and through the server's absence),
/// until the record is finished or gone.
pub(crate) fn outcome(
    cluster: &PgCluster,
    id: TaskId,
    wait: bool,
) -> ClusterFuture<Result<Option<OutcomeRecord>, ClusterError>> {
    let cluster = cluster.clone();
    Box::pin(async move {
        let mut pause = ENDED_POLL_FIRST;
        loop {
            match cluster.read_outcome(id).await {
                Ok(None) => return Ok(None),
                Ok(Some((record, output))) => {
                    if !wait || record.state == TaskState::Finished {
                        return Ok(Some(OutcomeRecord::new(told(record), output)));
                    }
                }
                Err(StoreError::Unavailable { .. }) if wait => {}
                Err(e) => return Err(cluster_error(e, id, "reading a task's outcome")),
            }
            sleep(pause).await;
            pause = (pause * 2).min(ENDED_POLL_MAX);
        }
    })
}

impl PgCluster {
    /// Task `id`'s record and the output its seal kept (one read).
    async fn read_outcome(
        &self,
        id: TaskId,
    ) -> Result<Option<(TaskRecord, Option<Vec<u8>>)>, StoreError> {
        let session = self.inner.link.session().await?;
        let row = session
            .client
            .query_opt(&session.sql.read_outcome, &[&PgId(id)])
            .await
            .map_err(|e| StoreError::from_client("reading a task's outcome", e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let record = crate::sql::decode_record(&row)?;
        let output = row
            .try_get::<_, Option<Vec<u8>>>(crate::sql::RECORD_COLUMN_COUNT)
            .map_err(|e| StoreError::Corrupt {
                id: Some(id),
                detail: e.to_string(),
            })?;
        Ok(Some((record, output)))
    }
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
