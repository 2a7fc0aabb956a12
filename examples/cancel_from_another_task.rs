//! Cancel a running task from somewhere else entirely: here, a second "request" that knows
//! only the task's id, as text (it could come from a URL, a log line, another service).
//!
//! The first request starts an export and awaits it; the second, arriving while the export
//! is uploading, cancels it by id and waits until the upload's cleanup has run.
//!
//! Run it with `cargo run --example cancel_from_another_task`.

use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{flow, CancelReason, HasTaskManager, Passport, Task, TaskId, TaskManager};

/// What the steps learn while they run.
#[derive(Debug, Default)]
struct ExportInfo {
    rows: usize,
    upload_id: Option<String>,
}

type ExportTask = Task<&'static str, ExportInfo>;

#[derive(Debug, thiserror::Error)]
#[error("the export failed")]
struct ExportError;

#[derive(HasTaskManager)]
struct Exports {
    tasks: TaskManager,
}

#[flow(name = export)]
impl Exports {
    #[step]
    async fn query(&self, task: &mut ExportTask) -> Result<Vec<u8>, ExportError> {
        println!("  [export] querying `{}`", task.payload());
        tokio::time::sleep(Duration::from_millis(30)).await;
        task.info_mut().rows = 1_000;
        Ok(vec![0; 4096])
    }

    #[step(cancel = abort_upload)]
    async fn upload(&self, task: &mut ExportTask, csv: Vec<u8>) -> Result<String, ExportError> {
        task.info_mut().upload_id = Some("upload-7".to_string());
        println!("  [export] uploading {} bytes as upload-7", csv.len());
        tokio::time::sleep(Duration::from_secs(5)).await; // a slow upload
        Ok("https://files.example/export.csv".to_string())
    }

    async fn abort_upload(&self, task: &mut ExportTask, reason: CancelReason) {
        println!(
            "  [export] cleanup: aborting {:?} ({reason})",
            task.info().upload_id
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // tell the storage to drop it
        println!("  [export] cleanup: done");
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let exports = Arc::new(Exports {
        tasks: TaskManager::new(),
    });

    // Request 1 starts the export and hands its id to the client.
    let passport = Passport::new("SELECT * FROM orders");
    let id_for_the_client = passport.id().to_string();
    let handle = exports.execute_export(passport)?;
    println!("request 1: started export {id_for_the_client}");

    // Request 2, on another task, cancels it by id a little later.
    let canceller = tokio::spawn({
        let tasks = exports.tasks.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let id: TaskId = id_for_the_client.parse()?;
            if let Some(status) = tasks.status(id) {
                println!("request 2: task is at step {:?}, cancelling", status.step);
            }
            let cancellation = tasks.cancel(id, "the user closed the tab");
            println!("request 2: cancel -> {:?}", cancellation.status());
            let cleanup = cancellation.await;
            println!("request 2: the cleanup has finished: {cleanup:?}");
            Ok::<_, task_manager_core::ParseTaskIdError>(())
        }
    });

    let outcome = handle.await;
    canceller.await??;
    println!("request 1: {}", outcome.ending());
    for step in outcome.report().steps() {
        println!(
            "  step {:<7} {:?} after {:?}",
            step.name, step.end, step.duration
        );
    }
    println!("  info: {:?}", outcome.report().info);
    match outcome.into_result() {
        Ok(url) => println!("  exported to {url}"),
        Err(error) => println!("  as an error: {error}"),
    }
    assert!(exports.tasks.is_empty(), "the task has left the registry");
    Ok(())
}
