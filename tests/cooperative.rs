//! Cooperative cancellation: the task context exposes the cancel signal as a non-blocking
//! check, a future that completes on cancel, and a handle to give to a sub-operation (a
//! spawned task, a blocking loop on another thread) that must stop itself.

use std::convert::Infallible;
use std::sync::{mpsc, Arc};

use task_manager_core::{
    flow, CancelReason, CancelSignal, Cleanup, HasTaskManager, Passport, Task, TaskManager,
};
use task_manager_support::{soon, Gate, Journal};

/// The runtime info of a crunching task: the blocking worker, so that the cleanup can wait
/// for it to stop.
#[derive(Default)]
struct Crunch {
    worker: Option<tokio::task::JoinHandle<()>>,
}

/// The payload: where the blocking worker takes its chunks of work from.
type Chunks = Option<mpsc::Receiver<u32>>;

type CrunchTask = Task<Chunks, Crunch>;

#[derive(HasTaskManager)]
struct Crunchers {
    tasks: TaskManager,
    journal: Journal,
    /// Announced by the worker after each chunk.
    chunk_done: Gate,
}

/// The blocking worker: between two chunks it checks the signal, and stops by itself.
fn crunch(chunks: mpsc::Receiver<u32>, signal: CancelSignal, journal: Journal, done: Gate) {
    for chunk in chunks {
        if signal.is_cancelled() {
            journal.record(format_args!("worker saw the cancel before chunk {chunk}"));
            return;
        }
        journal.record(format_args!("chunk {chunk} done"));
        done.announce();
    }
    journal.record("worker ran out of chunks");
}

#[flow(name = crunch)]
impl Crunchers {
    #[step(cancel = stop_crunching)]
    async fn crunch(&self, task: &mut CrunchTask) -> Result<(), Infallible> {
        let chunks = task
            .payload_mut()
            .take()
            .expect("a fresh task has its chunks");
        let (signal, journal, done) =
            (task.signal(), self.journal.clone(), self.chunk_done.clone());
        let worker = task
            .info_mut()
            .worker
            .insert(tokio::task::spawn_blocking(move || {
                crunch(chunks, signal, journal, done);
            }));
        let _ = worker.await;
        Ok(())
    }

    async fn stop_crunching(&self, task: &mut CrunchTask, _reason: CancelReason) {
        // The step was dropped, but its blocking worker runs on: wait until it has stopped.
        if let Some(worker) = task.info_mut().worker.take() {
            let _ = soon("the worker stopping", worker).await;
        }
        self.journal.record("cleanup: the worker has stopped");
    }
}

#[tokio::test(start_paused = true)]
async fn a_blocking_loop_given_the_signal_stops_itself_and_the_cleanup_waits_for_it() {
    let crunchers = Arc::new(Crunchers {
        tasks: TaskManager::new(),
        journal: Journal::new(),
        chunk_done: Gate::new(),
    });
    let (feed, chunks) = mpsc::channel();
    let passport = Passport::new(Some(chunks));
    let id = passport.id();
    let handle = crunchers.execute_crunch(passport).expect("submitted");
    for chunk in [1, 2] {
        feed.send(chunk).expect("the worker is running");
        crunchers.chunk_done.arrived().await;
    }

    let cancellation = crunchers.tasks.cancel(id, "enough");
    // Sent after the cancel: the worker, checking the signal before each chunk, must stop.
    feed.send(3).expect("the worker is still running");
    drop(feed); // a worker that missed the signal runs out of chunks instead of hanging
    let cleanup = soon("the cleanup", cancellation).await;

    assert!(matches!(
        cleanup,
        Some(Cleanup::Completed { step: "crunch", .. })
    ));
    assert_eq!(
        crunchers.journal.entries(),
        [
            "chunk 1 done",
            "chunk 2 done",
            "worker saw the cancel before chunk 3",
            "cleanup: the worker has stopped"
        ]
    );
    assert!(handle.await.is_cancelled());
}

#[derive(HasTaskManager)]
struct Watchers {
    tasks: TaskManager,
    journal: Journal,
    working: Gate,
}

#[flow(name = watch)]
impl Watchers {
    #[step(cancel = check_in_cleanup)]
    async fn watch(&self, task: &mut Task) -> Result<bool, Infallible> {
        self.journal
            .record(format_args!("step: is_cancelled = {}", task.is_cancelled()));
        // A sub-operation on its own tokio task, which must notice the cancel by itself.
        let (signal, journal) = (task.signal(), self.journal.clone());
        tokio::spawn(async move {
            signal.cancelled().await;
            journal.record("sub-operation: cancelled() completed");
        });
        self.working.pass().await;
        Ok(task.is_cancelled())
    }

    async fn check_in_cleanup(&self, task: &mut Task, _reason: CancelReason) {
        self.journal.record(format_args!(
            "cleanup: is_cancelled = {}",
            task.is_cancelled()
        ));
        // Already cancelled: completes at once.
        soon("cancelled() in the cleanup", task.cancelled()).await;
        soon("a fresh signal's cancelled()", task.signal().cancelled()).await;
        self.journal.record("cleanup: cancelled() completed");
    }
}

fn watchers() -> Arc<Watchers> {
    Arc::new(Watchers {
        tasks: TaskManager::new(),
        journal: Journal::new(),
        working: Gate::new(),
    })
}

#[tokio::test(start_paused = true)]
async fn the_check_and_the_future_report_a_cancel_to_the_step_s_sub_operations_and_cleanup() {
    let watchers = watchers();
    let passport = Passport::new(());
    let id = passport.id();
    let handle = watchers.execute_watch(passport).expect("submitted");
    watchers.working.arrived().await;
    tokio::task::yield_now().await; // let the sub-operation start waiting
    assert!(!watchers
        .journal
        .contains("sub-operation: cancelled() completed"));

    watchers.tasks.cancel(id, "stop");
    watchers
        .journal
        .wait_for("sub-operation: cancelled() completed")
        .await;
    let _ = handle.await;

    let mut entries = watchers.journal.entries();
    entries.sort(); // the sub-operation and the cleanup run independently
    assert_eq!(
        entries,
        [
            "cleanup: cancelled() completed",
            "cleanup: is_cancelled = true",
            "step: is_cancelled = false",
            "sub-operation: cancelled() completed",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_task_that_is_never_cancelled_never_signals() {
    let watchers = watchers();
    watchers.working.open();
    let outcome = watchers
        .execute_watch(Passport::new(()))
        .expect("submitted")
        .await;

    assert!(
        !outcome.into_result().expect("completed"),
        "is_cancelled() at the end"
    );
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        watchers.journal.entries(),
        ["step: is_cancelled = false"],
        "the sub-operation's cancelled() must not complete"
    );
}
