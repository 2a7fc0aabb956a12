//! `status_in_cluster` and `snapshot_in_cluster`, the core's side: the manager asks its
//! store and hands back what the store said; a store that does not implement the reads, and a
//! manager without a cluster, answer `ClusterErrorKind::Unsupported`, naming the task. The
//! real store's reads are tested across processes in `task-manager-postgres`.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use task_manager_core::{
    CancelDelivery, Cluster, ClusterError, ClusterErrorKind, ClusterFuture, ClusterTaskState,
    ClusterTaskStatus, RecordedCleanup, TaskId, TaskManager,
};

/// A store that records nothing of its own but may answer reads with `records`.
#[derive(Clone, Default)]
struct Store {
    records: Option<Arc<Mutex<Vec<ClusterTaskStatus>>>>,
}

impl Cluster for Store {
    fn attach(&self, _delivery: CancelDelivery) -> Result<(), ClusterError> {
        Ok(())
    }
    task_manager_support::quiet_cluster_methods!(
        reserve,
        release,
        submitted,
        step_began,
        seal,
        ended,
        request_cancel,
        ended_cleanup
    );

    fn status(&self, id: TaskId) -> ClusterFuture<Result<Option<ClusterTaskStatus>, ClusterError>> {
        let found = self.records.as_ref().map(|records| {
            let records = records.lock().unwrap();
            records.iter().find(|record| record.id == id).cloned()
        });
        Box::pin(async move {
            match found {
                Some(found) => Ok(found),
                None => Err(ClusterError::new(
                    ClusterErrorKind::Unavailable,
                    Some(id),
                    "reading a task's record",
                    "scripted",
                )),
            }
        })
    }

    fn snapshot(
        &self,
        limit: usize,
    ) -> ClusterFuture<Result<Vec<ClusterTaskStatus>, ClusterError>> {
        let records = self.records.as_ref().map(|records| {
            records
                .lock()
                .unwrap()
                .iter()
                .take(limit)
                .cloned()
                .collect()
        });
        Box::pin(async move { Ok(records.unwrap_or_default()) })
    }
}

/// The same store, without the two reads: the trait's defaults answer.
struct Blind;

impl Cluster for Blind {
    fn attach(&self, _delivery: CancelDelivery) -> Result<(), ClusterError> {
        Ok(())
    }
    task_manager_support::quiet_cluster_methods!(
        reserve,
        release,
        submitted,
        step_began,
        seal,
        ended,
        request_cancel
    );
    fn ended_cleanup(
        &self,
        _id: TaskId,
    ) -> ClusterFuture<Result<Option<RecordedCleanup>, ClusterError>> {
        Box::pin(async { Ok(None) })
    }
}

#[tokio::test]
async fn the_manager_hands_back_what_its_store_read() {
    let elsewhere = ClusterTaskStatus::new(
        TaskId::new(),
        "query",
        "api-2",
        ClusterTaskState::Running,
        SystemTime::now(),
    )
    .with_step("send", 1, 1);
    let records = Arc::new(Mutex::new(vec![elsewhere.clone()]));
    let tasks = TaskManager::builder()
        .cluster(Store {
            records: Some(records),
        })
        .build()
        .unwrap();
    assert_eq!(
        tasks.status_in_cluster(elsewhere.id).await.unwrap(),
        Some(elsewhere.clone())
    );
    // Not this instance's: its own view does not have it.
    assert!(tasks.status(elsewhere.id).is_none());
    assert_eq!(tasks.status_in_cluster(TaskId::new()).await.unwrap(), None);
    assert_eq!(tasks.snapshot_in_cluster(10).await.unwrap(), [elsewhere]);
    assert!(tasks.snapshot_in_cluster(0).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_store_error_names_the_task() {
    let tasks = TaskManager::builder()
        .cluster(Store { records: None })
        .build()
        .unwrap();
    let id = TaskId::new();
    let error = tasks.status_in_cluster(id).await.unwrap_err();
    assert_eq!(
        (error.kind, error.id),
        (ClusterErrorKind::Unavailable, Some(id))
    );
}

#[tokio::test]
async fn a_store_without_the_reads_and_a_manager_without_a_store_say_so() {
    let id = TaskId::new();
    let blind = TaskManager::builder().cluster(Blind).build().unwrap();
    let error = blind.status_in_cluster(id).await.unwrap_err();
    assert_eq!(
        (error.kind, error.id),
        (ClusterErrorKind::Unsupported, Some(id))
    );
    let error = blind.snapshot_in_cluster(10).await.unwrap_err();
    assert_eq!(
        (error.kind, error.id),
        (ClusterErrorKind::Unsupported, None)
    );

    let alone = TaskManager::new();
    let error = alone.status_in_cluster(id).await.unwrap_err();
    assert_eq!(
        (error.kind, error.id),
        (ClusterErrorKind::Unsupported, Some(id))
    );
    assert!(error.to_string().contains("no cluster"), "{error}");
    let error = alone.snapshot_in_cluster(10).await.unwrap_err();
    assert_eq!(error.kind, ClusterErrorKind::Unsupported);
}
