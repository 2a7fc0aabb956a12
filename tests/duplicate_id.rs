//! Contract 11: running a task whose id is already running is refused with a clear error, and
//! the running one stays cancellable (the original silently overwrote it).

use task_manager_core::{CancelReason, CancelStatus, Ending, Passport, SubmitError, TaskId};
use task_manager_support::named_jobs::NamedJobs;

// `execute_job`: the step records "<name> began" and waits at `jobs.working`, then returns the
// name; a cancel's cleanup records "cleanup <name>: <reason>". `execute_other_job`, a second
// flow on the same manager: records "<name> began" and ends.

#[tokio::test(start_paused = true)]
async fn a_second_task_with_a_running_id_is_refused_and_the_first_stays_cancellable() {
    let jobs = NamedJobs::new();
    let id: TaskId = "67e55044-10b1-426f-9247-bb680e5fe0c8"
        .parse()
        .expect("a UUID");
    let first = jobs
        .execute_job(Passport::new("first").with_id(id))
        .expect("submitted");
    jobs.working.arrived().await;

    let refused = jobs
        .execute_job(Passport::new("second").with_id(id))
        .expect_err("the id is taken");
    assert_eq!(refused, SubmitError::DuplicateId { id, flow: "job" });
    let message = refused.to_string();
    assert!(
        message.contains("67e55044-10b1-426f-9247-bb680e5fe0c8"),
        "{message}"
    );
    assert!(message.contains("already running"), "{message}");
    assert_eq!(jobs.tasks.len(), 1);

    // The id still reaches the first task, not the refused one.
    let cancellation = jobs.tasks.cancel(id, "stop the first");
    assert_eq!(cancellation.status(), CancelStatus::Requested);
    let outcome = first.await;
    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::from("stop the first"),
            step: Some("work"),
            steps_completed: 0
        }
    );
    assert_eq!(
        jobs.journal.entries(),
        ["first began", "cleanup first: cancelled: stop the first"],
        "the refused task never ran"
    );
}

#[tokio::test(start_paused = true)]
async fn the_refusal_holds_across_flows_that_share_a_manager() {
    let jobs = NamedJobs::new();
    let passport = Passport::new("first");
    let id = passport.id();
    let first = jobs.execute_job(passport).expect("submitted");
    jobs.working.arrived().await;

    let refused = jobs
        .execute_other_job(Passport::new("other").with_id(id))
        .expect_err("the id is taken by the other flow's task");
    assert_eq!(
        refused,
        SubmitError::DuplicateId {
            id,
            flow: "other_job"
        }
    );

    jobs.working.open();
    assert_eq!(first.await.into_result().expect("completed"), "first");
    assert_eq!(jobs.journal.entries(), ["first began"]);
}

#[tokio::test(start_paused = true)]
async fn once_the_first_task_has_ended_its_id_can_be_used_again() {
    let jobs = NamedJobs::new();
    jobs.working.open();
    jobs.working.open();
    let id = TaskId::new();
    let first = jobs
        .execute_job(Passport::new("first").with_id(id))
        .expect("submitted")
        .await;
    assert!(first.is_completed());

    let second = jobs
        .execute_job(Passport::new("second").with_id(id))
        .expect("the id is free again")
        .await;
    assert_eq!(second.into_result().expect("completed"), "second");
}

#[tokio::test(start_paused = true)]
async fn the_refused_task_does_not_unregister_the_running_one() {
    // A refused submission must leave the registry entry alone: if it removed the id on its
    // way out, the running task could no longer be reached by id.
    let jobs = NamedJobs::new();
    let passport = Passport::new("first");
    let id = passport.id();
    let first = jobs.execute_job(passport).expect("submitted");
    jobs.working.arrived().await;

    for _ in 0..3 {
        let _ = jobs
            .execute_job(Passport::new("again").with_id(id))
            .expect_err("refused");
        tokio::task::yield_now().await;
    }
    assert!(jobs.tasks.contains(id));
    assert_eq!(jobs.tasks.running_ids(), [id]);
    assert_eq!(
        jobs.tasks.status(id).map(|status| status.step),
        Some(Some("work"))
    );
    jobs.working.open();
    assert_eq!(first.await.into_result().expect("completed"), "first");
}
