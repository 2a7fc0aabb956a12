//! A flow with `#[flow(on_owner_lost = cancel)]` (`run/recover.rs`), against a store in
//! memory: its payload and runtime info are handed to the store at each step boundary, before
//! the step begins, and a task the store claimed from a lost instance is cleaned up by the
//! flow registered on the claimant (`register_<flow>`), from that state, with the store's
//! reason. The real store is `task-manager-postgres` (`tests/store/crash.rs`).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use task_manager_core::{
    flow, CancelDelivery, CancelReason, Cluster, ClusterError, ClusterFuture, HasTaskManager,
    LostTask, Passport, RecordedCleanup, Task, TaskId, TaskManager,
};
use task_manager_support::Journal;

#[derive(Clone, Default)]
struct Store {
    calls: Journal,
    delivery: Arc<Mutex<Option<CancelDelivery>>>,
}

impl Store {
    fn delivery(&self) -> CancelDelivery {
        self.delivery.lock().unwrap().clone().expect("attached")
    }
}

impl Cluster for Store {
    fn attach(&self, delivery: CancelDelivery) -> Result<(), ClusterError> {
        *self.delivery.lock().unwrap() = Some(delivery);
        Ok(())
    }
    task_manager_support::quiet_cluster_methods!(
        reserve,
        release,
        submitted,
        seal,
        ended,
        request_cancel,
        ended_cleanup
    );
    fn step_began(&self, _id: TaskId, index: usize, _step: &'static str) {
        self.calls.record(format!("step {index}"));
    }
    fn persist_step(
        &self,
        _id: TaskId,
        index: usize,
        step: &'static str,
        payload: Option<Vec<u8>>,
        info: Option<Vec<u8>>,
        outputs: Vec<(usize, Vec<u8>)>,
    ) -> ClusterFuture<Result<(), ClusterError>> {
        let text = |bytes: Option<Vec<u8>>| String::from_utf8(bytes.unwrap_or_default()).unwrap();
        let outputs: Vec<String> = outputs
            .into_iter()
            .map(|(index, bytes)| format!(" out {index}={}", text(Some(bytes))))
            .collect();
        self.calls.record(format!(
            "persist {index} {step} {} {}{}",
            text(payload),
            text(info),
            outputs.concat()
        ));
        Box::pin(async { Ok(()) })
    }
}

#[derive(HasTaskManager)]
struct Uploads {
    tasks: TaskManager,
    journal: Journal,
}

#[flow(name = upload, on_owner_lost = cancel)]
impl Uploads {
    #[step(cancel = unprepare)]
    async fn prepare(&self, task: &mut Task<String, u32>) -> Result<(), Infallible> {
        *task.info_mut() = 7;
        Ok(())
    }

    #[step]
    async fn send(&self, _task: &mut Task<String, u32>) -> Result<(), Infallible> {
        Ok(())
    }

    #[step(cancel = unstore)]
    async fn store(&self, _task: &mut Task<String, u32>) -> Result<u8, Infallible> {
        Ok(3)
    }

    async fn unprepare(&self, task: &mut Task<String, u32>, reason: CancelReason) {
        self.journal.record(format!(
            "unprepare {} info {} ({reason})",
            task.payload(),
            task.info()
        ));
    }

    async fn unstore(&self, task: &mut Task<String, u32>, _reason: CancelReason) {
        if task.payload() == "boom" {
            panic!("the cleanup failed");
        }
    }
}

fn uploads(store: &Store) -> Arc<Uploads> {
    let tasks = TaskManager::builder()
        .cluster(store.clone())
        .build()
        .expect("builds");
    let uploads = Arc::new(Uploads {
        tasks,
        journal: Journal::new(),
    });
    uploads.register_upload();
    uploads
}

#[tokio::test(start_paused = true)]
async fn each_step_boundary_hands_the_store_the_payload_and_info_before_the_step_begins() {
    let store = Store::default();
    let uploads = uploads(&store);
    let handle = uploads
        .tasks
        .submit_in_cluster(Passport::new("report.pdf".to_owned()), |p| {
            uploads.execute_upload(p)
        })
        .await
        .expect("submitted");
    assert_eq!(handle.await.into_result().expect("completed"), 3);
    assert_eq!(
        store.calls.entries(),
        [
            r#"persist 0 prepare "report.pdf" 0"#,
            "step 0",
            r#"persist 1 send "report.pdf" 7"#,
            "step 1",
            r#"persist 2 store "report.pdf" 7"#,
            "step 2",
        ]
    );
}

fn lost(flow: &str, index: usize, step: &str, payload: &str) -> LostTask {
    LostTask::new(TaskId::new(), flow, CancelReason::owner_lost("api-1"))
        .at_step(index, step)
        .with_state(Some(payload.as_bytes().to_vec()), Some(b"7".to_vec()))
}

#[tokio::test(start_paused = true)]
async fn a_claimed_task_is_cleaned_up_by_its_registered_flow_from_its_persisted_state() {
    let store = Store::default();
    let uploads = uploads(&store);
    let delivery = store.delivery();
    let recovered = delivery
        .recover(lost("upload", 0, "prepare", r#""report.pdf""#))
        .expect("a registered flow")
        .await;
    assert!(recovered.compensations.is_empty(), "{recovered:?}");
    let cleanup = recovered.cleanup;
    assert!(
        matches!(&cleanup, RecordedCleanup::Completed { step, .. } if step == "prepare"),
        "{cleanup:?}"
    );
    assert_eq!(
        uploads.journal.entries(),
        ["unprepare report.pdf info 7 (its instance `api-1` was lost)"]
    );
    // A step without a cleanup, a panicking cleanup, an unknown flow, unreadable state.
    let none = delivery
        .recover(lost("upload", 1, "send", r#""x""#))
        .unwrap()
        .await
        .cleanup;
    assert_eq!(
        none,
        RecordedCleanup::NotDeclared {
            step: "send".into()
        }
    );
    let panicked = delivery
        .recover(lost("upload", 2, "store", r#""boom""#))
        .unwrap()
        .await
        .cleanup;
    assert!(
        matches!(&panicked, RecordedCleanup::Panicked { step, message } if step == "store" && message == "the cleanup failed"),
        "{panicked:?}"
    );
    assert!(delivery
        .recover(lost("other", 0, "prepare", r#""x""#))
        .is_none());
    assert!(delivery
        .recover(lost("upload", 0, "prepare", "not json"))
        .is_none());
    assert_eq!(uploads.journal.entries().len(), 1);
}
