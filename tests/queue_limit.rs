//! Contract line 1, one task at a time: with a limit of N, never more than N tasks of the flow
//! run at once; the others wait and start as places free up. Where a limit comes from: the
//! builder, the flow's own `#[flow(limit)]`, `limit_all`; and that a flow without one is not
//! queued at all.

use task_manager_core::{Limit, Passport, TaskManager, TaskState};
use task_manager_support::queue::{all_complete, gated, job, settle, Jobs};

#[tokio::test(start_paused = true)]
async fn a_limit_of_two_runs_two_and_starts_the_others_as_places_free() {
    let jobs = Jobs::with_work_limit(2);
    let mut releases = Vec::new();
    let mut handles = Vec::new();
    for name in ["a", "b", "c", "d", "e"] {
        let (job, release) = gated(name);
        handles.push(jobs.execute_work(Passport::new(job)).unwrap());
        releases.push(release);
    }
    settle().await;
    assert_eq!(jobs.journal.entries(), ["start a", "start b"]);
    assert_eq!(jobs.working.now(), 2);

    let mut releases = releases.into_iter();
    releases.next().unwrap().release(); // a ends: c takes its place
    jobs.journal.wait_for("start c").await;
    settle().await;
    assert_eq!(
        jobs.journal.with_prefix("start"),
        ["start a", "start b", "start c"]
    );
    assert_eq!(jobs.working.now(), 2);

    for release in releases {
        release.release();
    }
    all_complete("a job's end", handles).await;
    assert_eq!(jobs.working.most(), 2, "never more than the limit at once");
    assert!(jobs.tasks.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_flow_without_a_limit_is_not_queued() {
    let jobs = Jobs::new(TaskManager::new());
    let mut gates = Vec::new();
    for name in ["a", "b", "c", "d", "e"] {
        let (job, release) = gated(name);
        gates.push((jobs.execute_work(Passport::new(job)).unwrap(), release));
    }
    settle().await;
    assert_eq!(jobs.working.now(), 5);
    for (handle, release) in gates {
        release.release();
        handle.await.into_result().unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn a_flows_own_limit_applies_on_a_plain_manager() {
    // `solo` is declared `#[flow(name = solo, limit = 1, queue = 2)]`.
    let jobs = Jobs::new(TaskManager::new());
    let (a, release_a) = jobs.submit_gated(Jobs::execute_solo, "a");
    let (b, release_b) = gated("b");
    let (b_id, b) = jobs.submit(Jobs::execute_solo, b);
    settle().await;
    assert_eq!(jobs.journal.entries(), ["start a"]);
    assert_eq!(jobs.state(b_id), Some(TaskState::Queued { position: 0 }));
    release_a.release();
    a.await.into_result().unwrap();
    jobs.journal.wait_for("start b").await;
    release_b.release();
    b.await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_builder_replaces_a_flows_own_limit() {
    let jobs = Jobs::new(
        TaskManager::builder()
            .limit_flow("solo", 2)
            .build()
            .unwrap(),
    );
    let (a, release_a) = jobs.submit_gated(Jobs::execute_solo, "a");
    let (b, release_b) = jobs.submit_gated(Jobs::execute_solo, "b");
    let (c, release_c) = jobs.submit_gated(Jobs::execute_solo, "c");
    settle().await;
    assert_eq!(jobs.journal.entries(), ["start a", "start b"]);
    for release in [release_a, release_b, release_c] {
        release.release();
    }
    all_complete("a solo job's end", [a, b, c]).await;
}

#[tokio::test(start_paused = true)]
async fn limit_all_is_one_line_for_every_flow_without_a_limit_of_its_own() {
    let jobs = Jobs::new(
        TaskManager::builder()
            .limit_all(1)
            .resource("db", 1)
            .build()
            .unwrap(),
    );
    let (work, release_work) = jobs.submit_gated(Jobs::execute_work, "w");
    // `save` has no limit of its own: it waits behind `work` in the shared line.
    let (save_id, save) = jobs.submit(Jobs::execute_save, job("s"));
    // `solo` has its own limit: it does not wait for the shared line.
    let (solo, release_solo) = jobs.submit_gated(Jobs::execute_solo, "o");
    settle().await;
    assert_eq!(jobs.journal.entries(), ["start w", "start o"]);
    assert_eq!(jobs.state(save_id), Some(TaskState::Queued { position: 0 }));
    release_work.release();
    release_solo.release();
    work.await.into_result().unwrap();
    solo.await.into_result().unwrap();
    assert_eq!(save.await.into_result().unwrap(), "s");
    assert_eq!(
        jobs.journal.entries(),
        ["start w", "start o", "end w", "load s", "store s", "notify s"]
    );
}

#[tokio::test(start_paused = true)]
async fn limits_are_per_manager() {
    let first = Jobs::new(TaskManager::new());
    let second = Jobs::new(TaskManager::new());
    let (a, release_a) = first.submit_gated(Jobs::execute_solo, "a");
    let (b, release_b) = second.submit_gated(Jobs::execute_solo, "b");
    settle().await;
    assert_eq!(first.journal.entries(), ["start a"]);
    assert_eq!(second.journal.entries(), ["start b"]);
    release_a.release();
    release_b.release();
    a.await.into_result().unwrap();
    b.await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_limit_given_as_a_limit_value_reads_the_same() {
    let jobs = Jobs::with_work_limit(Limit::new(1).with_queue_capacity(10));
    let (a, release_a) = jobs.submit_gated(Jobs::execute_work, "a");
    let (b, release_b) = jobs.submit_gated(Jobs::execute_work, "b");
    settle().await;
    assert_eq!(jobs.journal.entries(), ["start a"]);
    release_a.release();
    release_b.release();
    a.await.into_result().unwrap();
    b.await.into_result().unwrap();
    assert_eq!(jobs.working.most(), 1);
}
