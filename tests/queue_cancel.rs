//! Contract line 3: a cancelled queued task never runs a step or a cleanup, ends "cancelled
//! before it started", frees its place at once, and the others move up. And the decided
//! semantics of a cancel while a task waits for a step's resource.

use task_manager_core::{
    CancelReason, CancelStatus, Cleanup, Ending, Limit, Passport, TaskManager, TaskState,
};
use task_manager_support::queue::{all_complete, job, settle, JobFailed, Jobs};
use task_manager_support::soon;

/// How a task the tests cancel with "not needed" ends when no step was in progress: after
/// `steps_completed` steps, none interrupted.
fn not_needed(steps_completed: usize) -> Ending<String, JobFailed> {
    Ending::Cancelled {
        reason: CancelReason::from("not needed"),
        step: None,
        steps_completed,
    }
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_queued_task_runs_nothing_and_ends_cancelled_before_it_started() {
    let jobs = Jobs::with_work_limit(1);
    let (a, release_a) = jobs.submit_gated(Jobs::execute_work, "a");
    let (b_id, b) = jobs.submit(Jobs::execute_work, job("b"));
    settle().await;
    assert_eq!(jobs.state(b_id), Some(TaskState::Queued { position: 0 }));

    let cancellation = jobs.tasks.cancel(b_id, "not needed");
    assert_eq!(cancellation.status(), CancelStatus::Requested);
    assert_eq!(
        soon("b's cancel", cancellation).await,
        Some(Cleanup::NoStepInProgress)
    );
    let outcome = soon("b's outcome", b).await;
    assert_eq!(outcome.ending(), &not_needed(0));
    assert!(outcome.report().steps().len() == 0, "no step began");
    assert_eq!(outcome.report().cleanup, Some(Cleanup::NoStepInProgress));
    assert!(!jobs.tasks.contains(b_id));

    release_a.release();
    a.await.into_result().unwrap();
    settle().await;
    assert_eq!(
        jobs.journal.entries(),
        ["start a", "end a"],
        "nothing of b ran"
    );
}

#[tokio::test(start_paused = true)]
async fn its_place_is_free_at_once_and_the_others_move_up() {
    let jobs = Jobs::with_work_limit(Limit::new(1).with_queue_capacity(2));
    let (a, release_a) = jobs.submit_gated(Jobs::execute_work, "a");
    let (b_id, b) = jobs.submit(Jobs::execute_work, job("b"));
    let (c_id, c) = jobs.submit(Jobs::execute_work, job("c"));
    assert!(
        jobs.execute_work(Passport::new(job("refused"))).is_err(),
        "the queue is full"
    );
    assert_eq!(jobs.state(c_id), Some(TaskState::Queued { position: 1 }));

    // No await between the cancel and what follows: the place is free at once, not once
    // the cancelled task has run.
    jobs.tasks.cancel(b_id, "not needed");
    assert_eq!(jobs.state(c_id), Some(TaskState::Queued { position: 0 }));
    assert_eq!(jobs.tasks.counts("work").queued, 1);
    let d = Passport::new(job("d"));
    let d_id = d.id();
    let d = jobs
        .execute_work(d)
        .expect("the cancelled task's place was given to the next submission");
    assert_eq!(jobs.state(d_id), Some(TaskState::Queued { position: 1 }));

    release_a.release();
    assert!(soon("b's outcome", b).await.is_cancelled());
    all_complete("a job's end", [a, c, d]).await;
    assert_eq!(
        jobs.journal.with_prefix("start"),
        ["start a", "start c", "start d"]
    );
    assert!(jobs.tasks.is_empty());
}

/// The same through the task's own handle: a cancel by `handle.cancel(..)`, or by dropping
/// the handle, frees the place at once too (the handle tells its manager's lines).
#[tokio::test(start_paused = true)]
async fn its_place_is_free_at_once_when_its_handle_cancels_it_or_is_dropped() {
    for by_drop in [false, true] {
        let jobs = Jobs::with_work_limit(Limit::new(1).with_queue_capacity(1));
        let (a, release_a) = jobs.submit_gated(Jobs::execute_work, "a");
        let (b_id, b) = jobs.submit(Jobs::execute_work, job("b"));
        assert!(
            jobs.execute_work(Passport::new(job("refused"))).is_err(),
            "the queue is full"
        );
        // No await between the cancel and the next submission.
        let b = if by_drop {
            drop(b);
            None
        } else {
            assert_eq!(b.cancel("not needed").status(), CancelStatus::Requested);
            Some(b)
        };
        let c = jobs
            .execute_work(Passport::new(job("c")))
            .expect("the cancelled task's place was given to the next submission");
        assert_eq!(jobs.tasks.counts("work").queued, 1, "by_drop: {by_drop}");

        release_a.release();
        if let Some(b) = b {
            assert!(soon("b's outcome", b).await.is_cancelled());
        }
        all_complete("a job's end", [a, c]).await;
        assert!(!jobs.tasks.contains(b_id));
        assert!(jobs.tasks.is_empty());
    }
}

#[tokio::test(start_paused = true)]
async fn it_takes_no_slot_from_anyone() {
    let jobs = Jobs::with_work_limit(2);
    let (a, release_a) = jobs.submit_gated(Jobs::execute_work, "a");
    let (b, release_b) = jobs.submit_gated(Jobs::execute_work, "b");
    let cancelled: Vec<_> = (0..5)
        .map(|n| jobs.submit(Jobs::execute_work, job(&format!("x{n}"))))
        .collect();
    let (c, release_c) = jobs.submit_gated(Jobs::execute_work, "c");
    let (d, release_d) = jobs.submit_gated(Jobs::execute_work, "d");
    for (id, _) in &cancelled {
        jobs.tasks.cancel(*id, "not needed");
    }
    release_a.release();
    release_b.release();
    // Both places go to the live waiters behind the cancelled ones.
    jobs.journal.wait_for("start c").await;
    jobs.journal.wait_for("start d").await;
    assert_eq!(jobs.working.now(), 2);
    for (_, handle) in cancelled {
        assert!(soon("a cancelled outcome", handle).await.is_cancelled());
    }
    release_c.release();
    release_d.release();
    all_complete("a job's end", [a, b, c, d]).await;
    // And the limit is whole again: two new tasks both start.
    let (e, release_e) = jobs.submit_gated(Jobs::execute_work, "e");
    let (f, release_f) = jobs.submit_gated(Jobs::execute_work, "f");
    jobs.journal.wait_for("start e").await;
    jobs.journal.wait_for("start f").await;
    release_e.release();
    release_f.release();
    e.await.into_result().unwrap();
    f.await.into_result().unwrap();
    assert!(jobs.journal.with_prefix("start x").is_empty());
}

#[tokio::test(start_paused = true)]
async fn dropping_the_handle_of_a_queued_task_cancels_it_before_it_starts() {
    let jobs = Jobs::with_work_limit(1);
    let (a, release_a) = jobs.submit_gated(Jobs::execute_work, "a");
    let (b_id, b) = jobs.submit(Jobs::execute_work, job("b"));
    drop(b);
    assert_eq!(
        soon("b's end", jobs.tasks.cancel(b_id, "again")).await,
        Some(Cleanup::NoStepInProgress)
    );
    assert!(!jobs.tasks.contains(b_id));
    release_a.release();
    a.await.into_result().unwrap();
    settle().await;
    assert_eq!(jobs.journal.entries(), ["start a", "end a"]);
}

#[tokio::test(start_paused = true)]
async fn cancel_all_empties_the_queue() {
    let jobs = Jobs::with_work_limit(1);
    let (a, _release_a) = jobs.submit_gated(Jobs::execute_work, "a");
    let mut handles = vec![a];
    for n in 0..10 {
        handles.push(
            jobs.execute_work(Passport::new(job(&format!("q{n}"))))
                .unwrap(),
        );
    }
    settle().await;
    assert_eq!(jobs.tasks.counts("work").queued, 10);
    let all = jobs.tasks.cancel_all("closing");
    assert_eq!(all.requested(), 11);
    assert_eq!(jobs.tasks.counts("work").queued, 0);
    soon("every task's end", all.finished()).await;
    for handle in handles {
        assert!(handle.await.is_cancelled());
    }
    assert!(jobs.tasks.is_empty());
    assert_eq!(
        jobs.journal.entries(),
        ["start a", "cleanup a (cancelled: closing)"],
        "only the running task had a step to clean up"
    );
}

#[tokio::test(start_paused = true)]
async fn a_task_cancelled_while_waiting_for_a_resource_ends_before_that_step() {
    let jobs = Jobs::new(TaskManager::builder().resource("db", 1).build().unwrap());
    let (a, release_a) = jobs.submit_gated(Jobs::execute_save, "a");
    jobs.journal.wait_for("store a").await;
    let (b_id, b) = jobs.submit(Jobs::execute_save, job("b"));
    jobs.journal.wait_for("load b").await;
    settle().await;
    assert_eq!(
        jobs.state(b_id),
        Some(TaskState::WaitingForResource { resource: "db" })
    );

    jobs.tasks.cancel(b_id, "not needed");
    let outcome = soon("b's outcome", b).await;
    // The step that waited never began: no cleanup, and `step: None` after the one step
    // that completed, exactly as a cancel between two steps.
    assert_eq!(outcome.ending(), &not_needed(1));
    assert_eq!(outcome.report().cleanup, Some(Cleanup::NoStepInProgress));
    let began: Vec<&str> = outcome.report().steps().map(|s| s.name).collect();
    assert_eq!(began, ["load"]);

    release_a.release();
    a.await.into_result().unwrap();
    // The waiting task held no permit: the resource is whole for the next one.
    let c = jobs.execute_save(Passport::new(job("c"))).unwrap();
    soon("c's end", c).await.into_result().unwrap();
    assert!(!jobs.journal.contains("store b"));
    assert!(jobs.journal.with_prefix("cleanup b").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_task_cancelled_in_its_flows_queue_never_asks_for_its_first_steps_resource() {
    // `fetch`'s only step needs "db"; the flow is limited too.
    let jobs = Jobs::new(
        TaskManager::builder()
            .limit_flow("fetch", 1)
            .resource("db", 1)
            .build()
            .unwrap(),
    );
    let (a, release_a) = jobs.submit_gated(Jobs::execute_fetch, "a");
    jobs.journal.wait_for("fetch a").await;
    let (b_id, b) = jobs.submit(Jobs::execute_fetch, job("b"));
    assert_eq!(jobs.state(b_id), Some(TaskState::Queued { position: 0 }));
    jobs.tasks.cancel(b_id, "not needed");
    let outcome = soon("b's outcome", b).await;
    assert_eq!(outcome.ending(), &not_needed(0));
    release_a.release();
    a.await.into_result().unwrap();
    // Both the flow's place and the "db" permit are free for the next one.
    let c = jobs.execute_fetch(Passport::new(job("c"))).unwrap();
    soon("c's end", c).await.into_result().unwrap();
    assert_eq!(jobs.journal.entries(), ["fetch a", "fetch c"]);
}

#[tokio::test(start_paused = true)]
async fn a_task_woken_by_its_permit_is_still_woken_by_a_cancel_in_its_step() {
    // The permit's hand-over wakes the queued task through its cancel signal's waker; the
    // step it then begins must still be woken by a cancel.
    let jobs = Jobs::with_work_limit(1);
    let (a, release_a) = jobs.submit_gated(Jobs::execute_work, "a");
    let (b, _release_b) = jobs.submit_gated(Jobs::execute_work, "b");
    let b_id = b.id();
    settle().await;
    assert_eq!(jobs.state(b_id), Some(TaskState::Queued { position: 0 }));
    release_a.release();
    a.await.into_result().unwrap();
    settle().await;
    assert!(matches!(jobs.state(b_id), Some(TaskState::Running)));

    let cancellation = jobs.tasks.cancel(b_id, "not needed");
    assert_eq!(cancellation.status(), CancelStatus::Requested);
    assert!(matches!(
        soon("b's cancel", cancellation).await,
        Some(Cleanup::Completed { .. })
    ));
}
