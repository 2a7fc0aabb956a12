//! Time and the queue: a task's deadline counts from submission, time spent queued included;
//! the limit's max wait refuses a task that waited too long, with its own typed reason.

use std::time::Duration;

use task_manager_core::{CancelReason, Cleanup, Ending, Limit, Passport, TaskError};
use task_manager_support::queue::{job, Jobs};
use task_manager_support::soon;

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test(start_paused = true)]
async fn a_task_that_waits_longer_than_the_max_wait_is_refused_with_its_own_reason() {
    let jobs = Jobs::with_work_limit(Limit::new(1).with_max_wait(5 * SECOND));
    let (a, release_a) = jobs.submit_gated(Jobs::execute_work, "a");
    let (b_id, b) = jobs.submit(Jobs::execute_work, job("b"));

    let outcome = soon("b's refusal", b).await;
    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::QueueWaitExceeded {
                max_wait: 5 * SECOND
            },
            step: None,
            steps_completed: 0,
        }
    );
    assert_eq!(outcome.report().cleanup, Some(Cleanup::NoStepInProgress));
    // On the paused clock: refused when the max wait, counted from submission, ran out.
    assert_eq!(outcome.report().duration(), 5 * SECOND);
    let error = outcome.into_result().unwrap_err();
    assert!(error.is_queue_wait_exceeded() && !error.is_timeout());
    assert!(matches!(
        &error,
        TaskError::Cancelled { id, flow: "work", .. } if *id == b_id
    ));
    assert!(error.to_string().contains("in the queue"), "{error}");

    release_a.release();
    a.await.into_result().unwrap();
    assert_eq!(jobs.journal.entries(), ["start a", "end a"]);
}

#[tokio::test(start_paused = true)]
async fn the_max_wait_no_longer_applies_once_the_task_is_admitted() {
    let jobs = Jobs::with_work_limit(Limit::new(1).with_max_wait(5 * SECOND));
    let a = jobs
        .execute_work(Passport::new(job("a").pausing(3 * SECOND)))
        .unwrap();
    // Admitted after 3 s of waiting, then runs 10 s: past the max wait, but admitted.
    let b = jobs
        .execute_work(Passport::new(job("b").pausing(10 * SECOND)))
        .unwrap();
    soon("a's end", a).await.into_result().unwrap();
    let outcome = soon("b's end", b).await;
    assert_eq!(outcome.report().duration(), 13 * SECOND);
    outcome.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_deadline_counts_from_submission_including_the_time_spent_queued() {
    let jobs = Jobs::with_work_limit(1);
    let a = jobs
        .execute_work(Passport::new(job("a").pausing(6 * SECOND)))
        .unwrap();
    // Queued for 6 s, then its step would take 10 s: its 10 s deadline passes 4 s in.
    let b = jobs
        .execute_work(Passport::new(job("b").pausing(10 * SECOND)).with_timeout(10 * SECOND))
        .unwrap();
    soon("a's end", a).await.into_result().unwrap();
    let outcome = soon("b's end", b).await;
    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::Timeout,
            step: Some("work"),
            steps_completed: 0,
        }
    );
    assert_eq!(outcome.report().duration(), 10 * SECOND);
    let work = outcome.report().step("work").unwrap();
    assert_eq!(
        work.duration,
        4 * SECOND,
        "it ran for what was left of its deadline"
    );
    assert!(jobs.journal.contains("cleanup b (timed out)"));
}

#[tokio::test(start_paused = true)]
async fn a_deadline_that_passes_while_queued_stops_the_task_before_it_starts() {
    let jobs = Jobs::with_work_limit(1);
    let (a, release_a) = jobs.submit_gated(Jobs::execute_work, "a");
    let b = jobs
        .execute_work(Passport::new(job("b")).with_timeout(2 * SECOND))
        .unwrap();
    let outcome = soon("b's end", b).await;
    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::Timeout,
            step: None,
            steps_completed: 0,
        }
    );
    assert_eq!(outcome.report().duration(), 2 * SECOND);
    release_a.release();
    a.await.into_result().unwrap();
    assert_eq!(jobs.journal.entries(), ["start a", "end a"]);
}

#[tokio::test(start_paused = true)]
async fn a_deadline_shorter_than_the_max_wait_wins() {
    let jobs = Jobs::with_work_limit(Limit::new(1).with_max_wait(5 * SECOND));
    let (a, release_a) = jobs.submit_gated(Jobs::execute_work, "a");
    let b = jobs
        .execute_work(Passport::new(job("b")).with_timeout(SECOND))
        .unwrap();
    let outcome = soon("b's end", b).await;
    assert!(outcome.into_result().unwrap_err().is_timeout());
    release_a.release();
    a.await.into_result().unwrap();
}
