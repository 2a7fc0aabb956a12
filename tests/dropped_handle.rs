//! Contract 10: dropping the handle cancels the task (reason: dropped) and its cleanup still
//! runs to completion; an explicit `detach` lets a task run on unobserved.

use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{CancelStatus, Cleanup, Passport};
use task_manager_support::pipeline::{Pipeline, Script};

/// A pipeline with the gates of the steps `open` open, whose cleanups take five seconds over
/// five awaits: a dropped handle must not cut them short.
fn pipeline(open: &[usize]) -> Arc<Pipeline> {
    let script = Script {
        cleanup_seconds: 5,
        ..Script::default()
    };
    Pipeline::scripted(open, script)
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
            "a dropped",
            "b began",
            "b dropped",
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
            "a dropped",
            "b began",
            "b returned",
            "b dropped",
            "c began",
            "c returned",
            "c dropped"
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
            "a dropped",
            "cleanup a began: cancelled: no longer needed",
            "cleanup a finished"
        ]
    );
}
