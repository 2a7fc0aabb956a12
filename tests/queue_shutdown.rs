//! `shutdown` and the queue add-on: a task waiting in its flow's queue, or waiting for its
//! step's resource, is registered like any other, so the shutdown cancels it too. It leaves
//! its line at once, runs nothing more (no step begins, no cleanup runs), and ends cancelled
//! with reason `Shutdown`; the queue is empty afterwards and takes no new task.

use std::pin::pin;
use std::time::Duration;

use task_manager_core::{
    CancelReason, Cleanup, Ending, FlowCounts, Limit, Passport, SubmitError, TaskManager, TaskState,
};
use task_manager_support::queue::{gated, job, settle, JobFailed, Jobs};

const GRACE: Duration = Duration::from_secs(10);

fn shut_down(steps_completed: usize) -> Ending<String, JobFailed> {
    Ending::Cancelled {
        reason: CancelReason::Shutdown,
        step: None,
        steps_completed,
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_cancels_the_queued_tasks_and_they_run_nothing() {
    let jobs = Jobs::with_work_limit(1);
    let (a, _release_a) = gated("a");
    let (a_id, a) = jobs.submit(Jobs::execute_work, a);
    let (b_id, b) = jobs.submit(Jobs::execute_work, job("b"));
    let (c_id, c) = jobs.submit(Jobs::execute_work, job("c"));
    settle().await;
    assert_eq!(jobs.state(c_id), Some(TaskState::Queued { position: 1 }));
    assert_eq!(jobs.tasks.counts("work").queued, 2);

    let report = jobs.tasks.shutdown(GRACE).await;

    assert!(report.is_clean(), "{report:?}");
    assert_eq!((report.cancelled, report.already_ending), (3, 0));
    let cleanup_of = |id| {
        report
            .finished
            .iter()
            .find(|(finished, _)| *finished == id)
            .map(|(_, cleanup)| cleanup.clone())
    };
    assert!(matches!(
        cleanup_of(a_id),
        Some(Some(Cleanup::Completed { step: "work", .. }))
    ));
    for queued in [b_id, c_id] {
        assert_eq!(
            cleanup_of(queued),
            Some(Some(Cleanup::NoStepInProgress)),
            "a queued task had nothing to clean up"
        );
    }

    assert!(matches!(
        a.await.ending(),
        Ending::Cancelled {
            reason: CancelReason::Shutdown,
            step: Some("work"),
            ..
        }
    ));
    for queued in [b, c] {
        let outcome = queued.await;
        assert_eq!(outcome.ending(), &shut_down(0));
        assert!(outcome.report().steps().len() == 0, "no step began");
        assert_eq!(outcome.report().cleanup, Some(Cleanup::NoStepInProgress));
    }
    settle().await;
    assert_eq!(
        jobs.journal.entries(),
        ["start a", "cleanup a (the task manager is shutting down)"],
        "nothing of the queued tasks ran, not even once a place was free"
    );
    assert_eq!(jobs.tasks.counts("work"), FlowCounts::default());
    assert!(jobs.tasks.is_empty());
}

#[tokio::test(start_paused = true)]
async fn once_shutdown_began_a_full_queue_says_shutting_down_not_full() {
    let jobs = Jobs::with_work_limit(Limit::new(1).with_queue_capacity(1));
    let (a, _release_a) = jobs.submit_gated(Jobs::execute_work, "a");
    let b = jobs.execute_work(Passport::new(job("b"))).unwrap();
    settle().await;
    assert!(matches!(
        jobs.execute_work(Passport::new(job("refused"))),
        Err(SubmitError::QueueFull { capacity: 1, .. })
    ));

    // Poll the shutdown once: from then on it refuses new tasks, and it has cancelled both,
    // but neither has run since (`b` has not left its line yet). The refusal must be the
    // shutdown's, whatever the queue's state.
    let mut shutdown = pin!(jobs.tasks.shutdown(GRACE));
    assert!(futures::poll!(shutdown.as_mut()).is_pending());
    let late = Passport::new(job("late"));
    let late_id = late.id();
    assert!(matches!(
        jobs.execute_work(late),
        Err(SubmitError::ShuttingDown { id, flow: "work" }) if id == late_id
    ));

    assert!(shutdown.await.is_clean());
    assert_eq!(b.await.ending(), &shut_down(0));
    a.await;
    assert_eq!(jobs.tasks.counts("work"), FlowCounts::default());
    assert!(jobs.tasks.is_empty());
}

#[tokio::test(start_paused = true)]
async fn shutdown_cancels_a_task_waiting_for_its_steps_resource_before_that_step_begins() {
    let jobs = Jobs::new(TaskManager::builder().resource("db", 1).build().unwrap());
    let (holder, _release_holder) = jobs.submit_gated(Jobs::execute_fetch, "holder");
    let (waiter_id, waiter) = jobs.submit(Jobs::execute_save, job("waiter"));
    settle().await;
    assert_eq!(
        jobs.state(waiter_id),
        Some(TaskState::WaitingForResource { resource: "db" })
    );

    let report = jobs.tasks.shutdown(GRACE).await;

    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.cancelled, 2);
    assert!(matches!(
        holder.await.ending(),
        Ending::Cancelled {
            reason: CancelReason::Shutdown,
            step: Some("fetch"),
            ..
        }
    ));
    let outcome = waiter.await;
    assert_eq!(
        outcome.ending(),
        &shut_down(1),
        "after `load`, before `store`"
    );
    assert_eq!(outcome.report().cleanup, Some(Cleanup::NoStepInProgress));
    settle().await;
    assert_eq!(
        jobs.journal.entries(),
        [
            "fetch holder",
            "load waiter",
            "cleanup holder (the task manager is shutting down)"
        ],
        "the waiting step never began and its cleanup did not run"
    );
    assert!(jobs.tasks.is_empty());
}
