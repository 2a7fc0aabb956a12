//! Several `#[flow]` blocks share one manager struct and its registry; the struct says where
//! its `TaskManager` is with `#[derive(HasTaskManager)]`.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;

use task_manager_core::{
    flow, CancelReason, CancelStatus, HasTaskManager, Passport, Task, TaskId, TaskManager,
    TaskState, TaskStatus,
};
use task_manager_support::{Gate, Journal};

#[derive(HasTaskManager)]
struct Storage {
    tasks: TaskManager,
    journal: Journal,
    uploading: Gate,
    downloading: Gate,
}

#[flow(name = upload)]
impl Storage {
    #[step]
    async fn compress(&self, task: &mut Task<&'static str>) -> Result<usize, Infallible> {
        Ok(task.payload().len())
    }

    #[step(cancel = abort_put)]
    async fn put(&self, _task: &mut Task<&'static str>, size: usize) -> Result<usize, Infallible> {
        self.uploading.pass().await;
        Ok(size)
    }

    async fn abort_put(&self, task: &mut Task<&'static str>, reason: CancelReason) {
        self.journal
            .record(format_args!("abort upload of {}: {reason}", task.payload()));
    }
}

#[flow(name = download)]
impl Storage {
    #[step(cancel = abort_get)]
    async fn get(&self, task: &mut Task<u32>) -> Result<Vec<u8>, Infallible> {
        self.downloading.pass().await;
        Ok(vec![0; *task.payload() as usize])
    }

    async fn abort_get(&self, task: &mut Task<u32>, reason: CancelReason) {
        self.journal.record(format_args!(
            "abort download of {}: {reason}",
            task.payload()
        ));
    }
}

fn storage() -> Arc<Storage> {
    Arc::new(Storage {
        tasks: TaskManager::new(),
        journal: Journal::new(),
        uploading: Gate::new(),
        downloading: Gate::new(),
    })
}

#[tokio::test(start_paused = true)]
async fn tasks_of_both_flows_are_in_the_one_registry() {
    let storage = storage();
    let upload = Passport::new("photo.png");
    let download = Passport::new(3);
    let (up_id, down_id) = (upload.id(), download.id());
    let up = storage.execute_upload(upload).expect("submitted");
    let down = storage.execute_download(download).expect("submitted");
    storage.uploading.arrived().await;
    storage.downloading.arrived().await;

    assert_eq!(storage.tasks.len(), 2);
    assert_eq!(
        storage
            .tasks
            .running_ids()
            .into_iter()
            .collect::<HashSet<TaskId>>(),
        HashSet::from([up_id, down_id])
    );
    assert_eq!(
        storage.tasks.status(up_id),
        Some(TaskStatus {
            flow: "upload",
            step: Some("put"),
            step_index: Some(1),
            state: TaskState::Running,
            progress: None,
            parent: None,
        })
    );
    assert_eq!(
        storage.tasks.status(down_id),
        Some(TaskStatus {
            flow: "download",
            step: Some("get"),
            step_index: Some(0),
            state: TaskState::Running,
            progress: None,
            parent: None,
        })
    );

    // Cancelling the upload leaves the download alone.
    let _ = storage.tasks.cancel(up_id, "disk full").await;
    assert_eq!(storage.tasks.running_ids(), [down_id]);
    storage.downloading.open();
    assert_eq!(down.await.into_result().expect("completed"), [0, 0, 0]);
    assert!(up.await.is_cancelled());
    assert_eq!(
        storage.journal.entries(),
        ["abort upload of photo.png: cancelled: disk full"]
    );
}

#[tokio::test(start_paused = true)]
async fn cancel_all_reaches_the_tasks_of_every_flow() {
    let storage = storage();
    let up = storage
        .execute_upload(Passport::new("a.txt"))
        .expect("submitted");
    let down = storage
        .execute_download(Passport::new(1))
        .expect("submitted");
    storage.uploading.arrived().await;
    storage.downloading.arrived().await;

    let all = storage.tasks.cancel_all(CancelReason::Shutdown);
    assert_eq!(all.requested(), 2);
    assert!(all
        .cancellations()
        .iter()
        .all(|cancellation| cancellation.status() == CancelStatus::Requested));
    let _ = all.finished().await;

    assert!(up.await.is_cancelled());
    assert!(down.await.is_cancelled());
    let mut entries = storage.journal.entries();
    entries.sort();
    assert_eq!(
        entries,
        [
            "abort download of 1: the task manager is shutting down",
            "abort upload of a.txt: the task manager is shutting down"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_clone_of_the_manager_handed_elsewhere_reaches_the_same_tasks() {
    let storage = storage();
    let passport = Passport::new(9);
    let id = passport.id();
    let handle = storage.execute_download(passport).expect("submitted");
    storage.downloading.arrived().await;

    let elsewhere = storage.tasks.clone();
    assert!(elsewhere.contains(id));
    let canceller = tokio::spawn(async move { elsewhere.cancel(id, "from elsewhere").await });
    let cleanup = canceller.await.expect("the canceller ran");

    assert!(cleanup.is_some());
    assert!(handle.await.is_cancelled());
    assert_eq!(
        storage.journal.entries(),
        ["abort download of 9: cancelled: from elsewhere"]
    );
}

/// A struct with two managers marks the one its flows use.
#[derive(HasTaskManager)]
struct TwoManagers {
    #[task_manager]
    foreground: TaskManager,
    background: TaskManager,
}

#[flow(name = ping)]
impl TwoManagers {
    #[step]
    async fn ping(&self, _task: &mut Task) -> Result<&'static str, Infallible> {
        Ok("pong")
    }
}

#[tokio::test(start_paused = true)]
async fn the_marked_manager_is_the_one_the_flows_use() {
    let managers = Arc::new(TwoManagers {
        foreground: TaskManager::new(),
        background: TaskManager::new(),
    });
    let passport = Passport::new(());
    let id = passport.id();
    let handle = managers.execute_ping(passport).expect("submitted");

    assert!(managers.foreground.contains(id));
    assert!(!managers.background.contains(id));
    assert_eq!(handle.await.into_result().expect("completed"), "pong");
}
