//! `Cancellation` is itself a future: awaited, polled by another executor from outside any
//! runtime, raced in `tokio::select!` or `futures::select!`, it waits for the task's end and
//! answers with what became of the cleanup.

use std::convert::Infallible;
use std::sync::Arc;

use futures::FutureExt;
use task_manager_core::{
    flow, CancelReason, CancelStatus, Cleanup, HasTaskManager, Passport, Task, TaskManager,
};
use task_manager_support::{Gate, Journal};

#[derive(HasTaskManager)]
struct Job {
    tasks: TaskManager,
    journal: Journal,
    working: Gate,
    cleaning: Gate,
}

#[flow(name = job)]
impl Job {
    #[step(cancel = undo)]
    async fn work(&self, _task: &mut Task) -> Result<(), Infallible> {
        self.working.park().await
    }

    async fn undo(&self, _task: &mut Task, reason: CancelReason) {
        self.cleaning.pass().await;
        self.journal.record(format_args!("undone: {reason}"));
    }
}

fn job() -> Arc<Job> {
    Arc::new(Job {
        tasks: TaskManager::new(),
        journal: Journal::new(),
        working: Gate::new(),
        cleaning: Gate::new(),
    })
}

#[test]
fn block_on_from_a_thread_outside_any_runtime_waits_for_the_cleanup() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .expect("a runtime");
    let job = job();
    let handle = {
        let _entered = runtime.enter();
        job.execute_job(Passport::new(())).expect("submitted")
    };
    runtime.block_on(job.working.arrived());
    job.cleaning.open();

    // This thread is in no runtime: the cancel and the wait need none.
    let cancellation = job.tasks.cancel(handle.id(), "from a plain thread");
    assert_eq!(cancellation.status(), CancelStatus::Requested);
    let cleanup = futures::executor::block_on(cancellation);

    assert!(matches!(
        cleanup,
        Some(Cleanup::Completed { step: "work", .. })
    ));
    assert_eq!(
        job.journal.entries(),
        ["undone: cancelled: from a plain thread"]
    );
    assert!(runtime.block_on(handle).is_cancelled());
}

#[tokio::test(start_paused = true)]
async fn tokio_select_over_a_cancellation_and_a_timer() {
    let job = job();
    let handle = job.execute_job(Passport::new(())).expect("submitted");
    job.working.arrived().await;

    let mut cancellation = job.tasks.cancel(handle.id(), "user left");
    // The cleanup waits at its gate: the timer wins, and the cancellation can be awaited again.
    tokio::select! {
        _ = &mut cancellation => panic!("the cleanup is still waiting at its gate"),
        () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
    }
    job.cleaning.open();
    let cleanup = tokio::select! {
        cleanup = &mut cancellation => cleanup,
        () = tokio::time::sleep(std::time::Duration::from_secs(3600)) => panic!("the cleanup ran"),
    };
    assert!(matches!(
        cleanup,
        Some(Cleanup::Completed { step: "work", .. })
    ));
    assert!(handle.await.is_cancelled());
}

#[tokio::test(start_paused = true)]
async fn futures_select_over_a_cancellation() {
    let job = job();
    let handle = job.execute_job(Passport::new(())).expect("submitted");
    job.working.arrived().await;
    job.cleaning.open();

    let mut cancellation = job.tasks.cancel(handle.id(), "user left");
    let mut never = futures::future::pending::<()>().fuse();
    let cleanup = futures::select! {
        cleanup = cancellation => cleanup,
        () = never => unreachable!(),
    };
    assert!(matches!(
        cleanup,
        Some(Cleanup::Completed { step: "work", .. })
    ));
    // A fused future that has answered says so, and `select!` skips it from then on.
    assert!(futures::future::FusedFuture::is_terminated(&cancellation));
    assert!(handle.await.is_cancelled());
}

#[tokio::test]
async fn an_unknown_id_answers_at_once() {
    let tasks = TaskManager::new();
    let cancellation = tasks.cancel(task_manager_core::TaskId::new(), "nothing there");
    assert_eq!(cancellation.status(), CancelStatus::NotFound);
    assert_eq!(cancellation.now_or_never(), Some(None));
}
