//! Contract 10: dropping the handle cancels the task (reason: dropped) and its cleanup still
//! runs to completion; an explicit `detach` lets a task run on unobserved.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{
    flow, CancelReason, CancelStatus, Cleanup, HasTaskManager, Passport, Task, TaskManager,
};
use task_manager_support::{Gate, Journal};

#[derive(HasTaskManager)]
struct Pipeline {
    tasks: TaskManager,
    journal: Journal,
    gates: [Gate; 3],
}

impl Pipeline {
    async fn run(&self, name: &str, index: usize) {
        self.journal.record(format_args!("{name} began"));
        self.gates[index].pass().await;
        self.journal.record(format_args!("{name} returned"));
    }

    /// A cleanup that takes five seconds over several awaits: it must not be cut short.
    async fn clean(&self, name: &str, reason: CancelReason) {
        self.journal
            .record(format_args!("cleanup {name} began: {reason}"));
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        self.journal.record(format_args!("cleanup {name} finished"));
    }
}

#[flow(name = pipeline)]
impl Pipeline {
    #[step(cancel = clean_a)]
    async fn a(&self, _task: &mut Task) -> Result<(), Infallible> {
        self.run("a", 0).await;
        Ok(())
    }

    #[step(cancel = clean_b)]
    async fn b(&self, _task: &mut Task) -> Result<(), Infallible> {
        self.run("b", 1).await;
        Ok(())
    }

    #[step(cancel = clean_c)]
    async fn c(&self, _task: &mut Task) -> Result<(), Infallible> {
        self.run("c", 2).await;
        Ok(())
    }

    async fn clean_a(&self, _task: &mut Task, reason: CancelReason) {
        self.clean("a", reason).await;
    }

    async fn clean_b(&self, _task: &mut Task, reason: CancelReason) {
        self.clean("b", reason).await;
    }

    async fn clean_c(&self, _task: &mut Task, reason: CancelReason) {
        self.clean("c", reason).await;
    }
}

fn pipeline(open: &[usize]) -> Arc<Pipeline> {
    let pipeline = Arc::new(Pipeline {
        tasks: TaskManager::new(),
        journal: Journal::new(),
        gates: Default::default(),
    });
    for &index in open {
        pipeline.gates[index].open();
    }
    pipeline
}

#[tokio::test(start_paused = true)]
async fn dropping_the_handle_cancels_and_the_cleanup_runs_to_its_end_unobserved() {
    let pipeline = pipeline(&[0]);
    let passport = Passport::new(());
    let id = passport.id();
    let handle = pipeline.execute_pipeline(passport).expect("submitted");
    pipeline.gates[1].arrived().await;

    drop(handle);
    pipeline
        .journal
        .wait_for("cleanup b began: its handle was dropped")
        .await;
    // While the cleanup runs, the task is still registered and already being cancelled.
    let watcher = pipeline.tasks.cancel(id, "just watching");
    assert_eq!(watcher.status(), CancelStatus::AlreadyRequested);

    let cleanup = watcher.await;
    assert_eq!(
        cleanup,
        Some(Cleanup::Completed {
            step: "b",
            duration: Duration::from_secs(5)
        })
    );
    assert_eq!(
        pipeline.journal.entries(),
        [
            "a began",
            "a returned",
            "b began",
            "cleanup b began: its handle was dropped",
            "cleanup b finished"
        ]
    );
    assert!(pipeline.tasks.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_caller_that_gives_up_waiting_cancels_the_task_it_started() {
    let pipeline = pipeline(&[0]);
    let handle = pipeline
        .execute_pipeline(Passport::new(()))
        .expect("submitted");

    // A request handler waits a second for the result, then gives up: the handle is dropped
    // with the losing branch of the select.
    tokio::select! {
        outcome = handle => panic!("the task cannot finish: `b` waits for its gate ({:?})", outcome.ending()),
        () = tokio::time::sleep(Duration::from_secs(1)) => {}
    }

    pipeline.journal.wait_for("cleanup b finished").await;
    assert!(pipeline
        .journal
        .contains("cleanup b began: its handle was dropped"));
    assert!(!pipeline.journal.contains("c began"));
    assert!(pipeline.tasks.is_empty());
}

#[tokio::test(start_paused = true)]
async fn dropping_the_handle_before_the_task_starts_runs_nothing() {
    let pipeline = pipeline(&[0, 1, 2]);
    let passport = Passport::new(());
    let id = passport.id();
    let handle = pipeline.execute_pipeline(passport).expect("submitted");

    drop(handle);
    let watcher = pipeline.tasks.cancel(id, "just watching");
    assert_eq!(watcher.status(), CancelStatus::AlreadyRequested);
    assert_eq!(watcher.await, Some(Cleanup::NoStepInProgress));
    assert_eq!(pipeline.journal.entries(), Vec::<String>::new());
    assert!(pipeline.tasks.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_detached_task_runs_on_to_its_end() {
    let pipeline = pipeline(&[0]);
    let passport = Passport::new(());
    let id = passport.id();
    let handle = pipeline.execute_pipeline(passport).expect("submitted");
    pipeline.gates[1].arrived().await;

    handle.detach();
    tokio::time::sleep(Duration::from_secs(60)).await; // a minute later, nobody has awaited it
    assert!(
        pipeline.tasks.contains(id),
        "still running, still registered"
    );
    pipeline.gates[1].open();
    pipeline.gates[2].open();

    pipeline.journal.wait_for("c returned").await;
    assert_eq!(
        pipeline.journal.entries(),
        [
            "a began",
            "a returned",
            "b began",
            "b returned",
            "c began",
            "c returned"
        ]
    );
    assert!(pipeline.tasks.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_detached_task_stays_cancellable_by_id() {
    let pipeline = pipeline(&[]);
    let passport = Passport::new(());
    let id = passport.id();
    pipeline
        .execute_pipeline(passport)
        .expect("submitted")
        .detach();
    pipeline.gates[0].arrived().await;

    let cancellation = pipeline.tasks.cancel(id, "no longer needed");
    assert_eq!(cancellation.status(), CancelStatus::Requested);
    assert!(matches!(
        cancellation.await,
        Some(Cleanup::Completed { step: "a", .. })
    ));
    assert_eq!(
        pipeline.journal.entries(),
        [
            "a began",
            "cleanup a began: cancelled: no longer needed",
            "cleanup a finished"
        ]
    );
}
