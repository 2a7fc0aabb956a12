//! A task whose cancel signal's waker was taken by a wake that did not stop it (a resource's
//! permit handed over) is still woken by a cancel in its next step.

use std::sync::Arc;

use task_manager_core::{
    flow, CancelReason, Cleanup, HasTaskManager, Passport, Task, TaskManager, TaskState,
};
use task_manager_support::soon;
use tokio::sync::{oneshot, Mutex};

#[derive(HasTaskManager)]
struct Db {
    tasks: TaskManager,
}

/// The payload: a gate the `store` step waits on (never opened for the cancelled task).
struct Gate(Mutex<Option<oneshot::Receiver<()>>>);

#[flow(name = save)]
impl Db {
    /// Goes pending once, so that the task's waker is registered before the resource wait.
    #[step]
    async fn load(&self, _task: &mut Task<Gate>) -> Result<(), String> {
        tokio::task::yield_now().await;
        Ok(())
    }

    #[step(cancel = undo_store, resource = "db")]
    async fn store(&self, task: &mut Task<Gate>) -> Result<(), String> {
        let gate = task.payload().0.lock().await.take();
        if let Some(gate) = gate {
            let _ = gate.await;
        }
        Ok(())
    }

    async fn undo_store(&self, _task: &mut Task<Gate>, _reason: CancelReason) {}
}

fn gate() -> (Gate, oneshot::Sender<()>) {
    let (open, wait) = oneshot::channel();
    (Gate(Mutex::new(Some(wait))), open)
}

#[tokio::test(start_paused = true)]
async fn a_task_handed_a_resource_permit_is_still_woken_by_a_cancel_in_that_step() {
    let db = Arc::new(Db {
        tasks: TaskManager::builder().resource("db", 1).build().unwrap(),
    });
    let (holder_gate, open_holder) = gate();
    let holder = db.execute_save(Passport::new(holder_gate)).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    let (next_gate, _never_opened) = gate();
    let next = db.execute_save(Passport::new(next_gate)).unwrap();
    let next_id = next.id();
    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    // The holder has the permit; `next` waits for it, then gets it and waits at its gate.
    assert_eq!(
        db.tasks.status(next_id).map(|status| status.state),
        Some(TaskState::WaitingForResource { resource: "db" })
    );
    open_holder.send(()).unwrap();
    soon("the holder's end", holder)
        .await
        .into_result()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    let status = db.tasks.status(next_id).expect("next runs");
    assert_eq!(status.step, Some("store"));

    let cancellation = db.tasks.cancel(next_id, "not needed");
    assert!(matches!(
        soon("next's cancel", cancellation).await,
        Some(Cleanup::Completed { .. })
    ));
    let outcome = soon("next's outcome", next).await;
    assert!(outcome.into_result().is_err());
}
