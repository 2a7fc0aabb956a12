//! Contract line 4: a full queue refuses the next task at once with the typed error; nothing
//! already queued is lost.

use task_manager_core::{Limit, Passport, SubmitError, TaskManager};
use task_manager_support::queue::{all_complete, job, settle, Jobs};
use task_manager_support::soon;

#[tokio::test(start_paused = true)]
async fn a_full_queue_refuses_the_next_task_at_once_and_loses_nothing() {
    // `solo`: `#[flow(name = solo, limit = 1, queue = 2)]`.
    let jobs = Jobs::new(TaskManager::new());
    let (a, release_a) = jobs.submit_gated(Jobs::execute_solo, "a");
    let b = jobs.execute_solo(Passport::new(job("b"))).unwrap();
    let c = jobs.execute_solo(Passport::new(job("c"))).unwrap();

    let refused = Passport::new(job("d"));
    let refused_id = refused.id();
    let error = jobs.execute_solo(refused).unwrap_err();
    assert_eq!(
        error,
        SubmitError::QueueFull {
            id: refused_id,
            flow: "solo",
            capacity: 2,
        }
    );
    let message = error.to_string();
    assert!(message.contains(&refused_id.to_string()) && message.contains("`solo`"));
    assert!(
        !jobs.tasks.contains(refused_id),
        "a refused task is not registered"
    );
    assert_eq!(jobs.tasks.counts("solo").queued, 2);

    release_a.release();
    for (handle, name) in [(a, "a"), (b, "b"), (c, "c")] {
        assert_eq!(
            soon("a queued job's end", handle)
                .await
                .into_result()
                .unwrap(),
            name
        );
    }
    settle().await;
    assert_eq!(
        jobs.journal.entries(),
        ["start a", "start b", "start c"],
        "every queued task ran, the refused one did not"
    );
}

#[tokio::test(start_paused = true)]
async fn the_queue_takes_tasks_again_once_it_has_room() {
    let jobs = Jobs::with_work_limit(Limit::new(1).with_queue_capacity(1));
    let (a, release_a) = jobs.submit_gated(Jobs::execute_work, "a");
    let (b, release_b) = jobs.submit_gated(Jobs::execute_work, "b");
    assert!(matches!(
        jobs.execute_work(Passport::new(job("refused"))),
        Err(SubmitError::QueueFull { capacity: 1, .. })
    ));
    release_a.release();
    a.await.into_result().unwrap();
    jobs.journal.wait_for("start b").await;
    // b left the queue for a place: the queue has room again.
    let c = jobs.execute_work(Passport::new(job("c"))).unwrap();
    release_b.release();
    b.await.into_result().unwrap();
    soon("c's end", c).await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_default_capacity_is_bounded() {
    let jobs = Jobs::with_work_limit(1);
    let (a, release_a) = jobs.submit_gated(Jobs::execute_work, "a");
    let mut handles = vec![a];
    for n in 0..Limit::DEFAULT_QUEUE_CAPACITY {
        handles.push(
            jobs.execute_work(Passport::new(job(&format!("q{n}"))))
                .unwrap(),
        );
    }
    assert!(matches!(
        jobs.execute_work(Passport::new(job("one too many"))),
        Err(SubmitError::QueueFull {
            capacity: Limit::DEFAULT_QUEUE_CAPACITY,
            ..
        })
    ));
    release_a.release();
    all_complete("a job's end", handles).await;
    assert!(jobs.tasks.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_task_admitted_at_once_takes_no_place_in_the_queue() {
    let jobs = Jobs::with_work_limit(Limit::new(2).with_queue_capacity(1));
    let (a, release_a) = jobs.submit_gated(Jobs::execute_work, "a");
    let (b, release_b) = jobs.submit_gated(Jobs::execute_work, "b");
    let (c, release_c) = jobs.submit_gated(Jobs::execute_work, "c");
    assert!(jobs.execute_work(Passport::new(job("d"))).is_err());
    for release in [release_a, release_b, release_c] {
        release.release();
    }
    all_complete("a job's end", [a, b, c]).await;
}
