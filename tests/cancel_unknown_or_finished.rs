//! Contract 7: cancel of an unknown or finished id has no effect and says so.

use task_manager_core::{CancelStatus, Passport, TaskId};
use task_manager_support::named_jobs::NamedJobs;

// `execute_job`: the step records "<name> began" and waits at `jobs.working`, then returns the
// name; a cancel's cleanup records "cleanup <name>: <reason>".

#[tokio::test(start_paused = true)]
async fn an_unknown_id_is_not_found_and_the_running_task_is_untouched() {
    let jobs = NamedJobs::new();
    let handle = jobs
        .execute_job(Passport::new("running"))
        .expect("submitted");
    jobs.working.arrived().await;

    let cancellation = jobs.tasks.cancel(TaskId::new(), "wrong id");
    assert_eq!(cancellation.status(), CancelStatus::NotFound);
    assert_eq!(cancellation.await, None);
    assert_eq!(jobs.tasks.len(), 1);

    jobs.working.open();
    let outcome = handle.await;
    assert_eq!(outcome.into_result().expect("completed"), "running");
    assert_eq!(jobs.journal.entries(), ["running began"]);
}

#[tokio::test(start_paused = true)]
async fn a_finished_id_is_not_found_and_nothing_is_cleaned_up() {
    let jobs = NamedJobs::new();
    jobs.working.open();
    let passport = Passport::new("done");
    let id = passport.id();
    let outcome = jobs.execute_job(passport).expect("submitted").await;
    assert!(outcome.is_completed());

    let cancellation = jobs.tasks.cancel(id, "too late");
    assert_eq!(cancellation.status(), CancelStatus::NotFound);
    assert_eq!(cancellation.await, None);
    assert_eq!(jobs.journal.entries(), ["done began"]);
    assert!(jobs.tasks.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_and_ended_id_is_not_found_the_second_time() {
    let jobs = NamedJobs::new();
    let passport = Passport::new("cancelled");
    let id = passport.id();
    let handle = jobs.execute_job(passport).expect("submitted");
    jobs.working.arrived().await;
    let _ = jobs.tasks.cancel(id, "once").await;
    assert!(handle.await.is_cancelled());

    let again = jobs.tasks.cancel(id, "twice");
    assert_eq!(again.status(), CancelStatus::NotFound);
    assert_eq!(again.await, None);
    assert_eq!(jobs.journal.count("cleanup cancelled: cancelled: once"), 1);
    assert_eq!(jobs.journal.entries().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_cancel_of_an_id_not_yet_used_does_not_wait_for_a_task_to_take_it() {
    let jobs = NamedJobs::new();
    let request_id = TaskId::new();
    let early = jobs.tasks.cancel(request_id, "before it existed");
    assert_eq!(early.status(), CancelStatus::NotFound);

    jobs.working.open();
    let outcome = jobs
        .execute_job(Passport::new("later").with_id(request_id))
        .expect("submitted")
        .await;
    assert_eq!(outcome.into_result().expect("not cancelled"), "later");
}

#[tokio::test(start_paused = true)]
async fn cancel_all_on_an_empty_manager_finds_nothing() {
    let jobs = NamedJobs::new();
    let all = jobs.tasks.cancel_all("shutdown");
    assert_eq!(all.requested(), 0);
    assert!(all.cancellations().is_empty());
    assert!(all.finished().await.is_empty());
}
