//! What `status` and `counts` say about queued tasks, running ones, and those waiting for a
//! resource.

use task_manager_core::{FlowCounts, Passport, TaskManager, TaskState, TaskStatus};
use task_manager_support::queue::{all_complete, gated, job, settle, Jobs};
use task_manager_support::soon;

fn counts(queued: usize, running: usize, waiting_for_resource: usize) -> FlowCounts {
    let mut counts = FlowCounts::default();
    counts.queued = queued;
    counts.running = running;
    counts.waiting_for_resource = waiting_for_resource;
    counts
}

#[tokio::test(start_paused = true)]
async fn a_queued_task_says_where_it_is_in_line_and_moves_up() {
    let jobs = Jobs::with_work_limit(1);
    let (a, release_a) = gated("a");
    let (a_id, a) = jobs.submit(Jobs::execute_work, a);
    let mut queued = Vec::new();
    let mut releases = Vec::new();
    for name in ["b", "c", "d"] {
        let (job, release) = gated(name);
        queued.push(jobs.submit(Jobs::execute_work, job));
        releases.push(release);
    }
    settle().await;
    assert_eq!(
        jobs.tasks.status(a_id),
        Some(TaskStatus {
            flow: "work",
            step: Some("work"),
            step_index: Some(0),
            state: TaskState::Running,
            progress: None,
            parent: None,
        })
    );
    for (position, (id, _)) in queued.iter().enumerate() {
        assert_eq!(
            jobs.tasks.status(*id),
            Some(TaskStatus {
                flow: "work",
                step: None,
                step_index: None,
                state: TaskState::Queued { position },
                progress: None,
                parent: None,
            })
        );
    }
    assert_eq!(jobs.tasks.counts("work"), counts(3, 1, 0));

    release_a.release();
    a.await.into_result().unwrap();
    jobs.journal.wait_for("start b").await;
    assert_eq!(jobs.state(queued[0].0), Some(TaskState::Running));
    assert_eq!(
        jobs.state(queued[1].0),
        Some(TaskState::Queued { position: 0 })
    );
    assert_eq!(jobs.tasks.counts("work"), counts(2, 1, 0));

    for release in releases {
        release.release();
    }
    all_complete("a job's end", queued.into_iter().map(|(_, handle)| handle)).await;
    assert_eq!(jobs.tasks.counts("work"), FlowCounts::default());
}

#[tokio::test(start_paused = true)]
async fn counts_are_per_flow_and_say_who_waits_for_a_resource() {
    let jobs = Jobs::new(
        TaskManager::builder()
            .limit_flow("work", 1)
            .resource("db", 1)
            .build()
            .unwrap(),
    );
    let (w1, release_w1) = jobs.submit_gated(Jobs::execute_work, "w1");
    let w2 = jobs.execute_work(Passport::new(job("w2"))).unwrap();
    let (s1, release_s1) = jobs.submit_gated(Jobs::execute_save, "s1");
    let (s2_id, s2) = jobs.submit(Jobs::execute_save, job("s2"));
    settle().await;
    assert_eq!(jobs.tasks.counts("work"), counts(1, 1, 0));
    assert_eq!(jobs.tasks.counts("save"), counts(0, 2, 1));
    assert_eq!(jobs.tasks.counts("unknown"), FlowCounts::default());
    assert_eq!(
        jobs.tasks.status(s2_id),
        Some(TaskStatus {
            flow: "save",
            step: Some("store"),
            step_index: Some(1),
            state: TaskState::WaitingForResource { resource: "db" },
            progress: None,
            parent: None,
        })
    );
    release_w1.release();
    release_s1.release();
    all_complete("a job's end", [w1, w2]).await;
    all_complete("a save's end", [s1, s2]).await;
    assert!(jobs.tasks.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_queued_task_is_cancelling_not_queued() {
    let jobs = Jobs::with_work_limit(1);
    let (a, release_a) = jobs.submit_gated(Jobs::execute_work, "a");
    let (b_id, b) = jobs.submit(Jobs::execute_work, job("b"));
    jobs.tasks.cancel(b_id, "not needed");
    assert_eq!(jobs.state(b_id), Some(TaskState::Cancelling));
    assert_eq!(jobs.tasks.counts("work"), counts(0, 1, 0));
    assert!(soon("b's end", b).await.is_cancelled());
    release_a.release();
    a.await.into_result().unwrap();
}
