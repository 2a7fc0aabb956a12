//! Cooperative cancellation of blocking work. A cancel stops a step at its next `.await`, but
//! a loop on a blocking thread has no `.await` to stop at: the step hands it the task's
//! `CancelSignal`, the loop checks it between two units of work and stops by itself, and the
//! step's cleanup waits until it has stopped, so that nothing outlives the task.
//!
//! Run it with `cargo run --example cooperative_blocking`.

use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{
    flow, CancelReason, CancelSignal, HasTaskManager, Passport, Task, TaskManager,
};
use tokio::task::JoinHandle;

/// The step's error: the worker thread itself failed (it panicked).
#[derive(Debug, thiserror::Error)]
#[error("the checksum worker failed")]
struct WorkerFailed(#[from] tokio::task::JoinError);

/// What the blocking worker did.
#[derive(Debug, Clone, Copy)]
struct Crunched {
    chunks: u32,
    checksum: u64,
    stopped_early: bool,
}

/// The task's runtime info: the worker, so that the cleanup can wait for it.
#[derive(Default)]
struct Worker {
    thread: Option<JoinHandle<Crunched>>,
}

type ChecksumTask = Task<u32, Worker>;

/// The blocking loop: one chunk at a time, and a look at the signal before each.
fn crunch(chunks: u32, signal: CancelSignal) -> Crunched {
    let mut checksum = 0u64;
    for chunk in 0..chunks {
        if signal.is_cancelled() {
            println!("  [worker] cancel seen before chunk {chunk}: stopping");
            return Crunched {
                chunks: chunk,
                checksum,
                stopped_early: true,
            };
        }
        std::thread::sleep(Duration::from_millis(5)); // stands for 5 ms of CPU-bound work
        checksum = checksum.wrapping_mul(31).wrapping_add(u64::from(chunk));
    }
    Crunched {
        chunks,
        checksum,
        stopped_early: false,
    }
}

#[derive(HasTaskManager)]
struct Checksums {
    tasks: TaskManager,
}

#[flow(name = checksum)]
impl Checksums {
    #[step(cancel = stop_worker)]
    async fn checksum(&self, task: &mut ChecksumTask) -> Result<Crunched, WorkerFailed> {
        let (chunks, signal) = (*task.payload(), task.signal());
        let worker = task
            .info_mut()
            .thread
            .insert(tokio::task::spawn_blocking(move || crunch(chunks, signal)));
        // Cancelling drops this await, not the blocking thread: the cleanup takes care of it.
        let crunched = worker.await?;
        task.info_mut().thread = None;
        Ok(crunched)
    }

    async fn stop_worker(&self, task: &mut ChecksumTask, reason: CancelReason) {
        println!("  [cleanup] {reason}: waiting for the worker to stop");
        if let Some(worker) = task.info_mut().thread.take() {
            match worker.await {
                Ok(crunched) => println!(
                    "  [cleanup] the worker has stopped after {} chunks (early: {})",
                    crunched.chunks, crunched.stopped_early
                ),
                Err(error) => println!("  [cleanup] the worker failed: {error}"),
            }
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let checksums = Arc::new(Checksums {
        tasks: TaskManager::new(),
    });

    println!("a small job, left alone:");
    let outcome = checksums.execute_checksum(Passport::new(10))?.await;
    println!("  {}", outcome.ending());
    let crunched = outcome.into_result()?;
    println!(
        "  {} chunks, checksum {:#x}, stopped early: {}",
        crunched.chunks, crunched.checksum, crunched.stopped_early
    );

    println!("a big job, cancelled after 60 ms from another task:");
    let passport = Passport::new(1_000);
    let id = passport.id();
    let handle = checksums.execute_checksum(passport)?;
    let tasks = checksums.tasks.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(60)).await;
        let cancellation = tasks.cancel(id, "no longer needed");
        println!("  [caller] cancel -> {:?}", cancellation.status());
        let cleanup = cancellation.await;
        println!("  [caller] cleanup finished: {cleanup:?}");
    });
    let outcome = handle.await;
    println!("  {}", outcome.ending());
    assert!(
        outcome.report().info.thread.is_none(),
        "the cleanup waited for the worker"
    );
    Ok(())
}
