//! Contract line 2: among tasks of equal priority, start order equals submission order; a
//! higher priority goes first (strictly: see the crate docs on starvation). The same holds in
//! a resource's line.

use task_manager_core::{Passport, TaskManager};
use task_manager_support::queue::{all_complete, gated, job, settle, Jobs};

#[tokio::test(start_paused = true)]
async fn equal_priorities_start_in_submission_order() {
    let jobs = Jobs::with_work_limit(1);
    let (first, release) = jobs.submit_gated(Jobs::execute_work, "j00");
    let mut handles = vec![first];
    let names: Vec<String> = (1..40).map(|n| format!("j{n:02}")).collect();
    for name in &names {
        handles.push(jobs.execute_work(Passport::new(job(name))).unwrap());
    }
    release.release();
    all_complete("a job's end", handles).await;
    let expected: Vec<String> = std::iter::once("start j00".to_string())
        .chain(names.iter().map(|name| format!("start {name}")))
        .collect();
    assert_eq!(jobs.journal.with_prefix("start"), expected);
}

#[tokio::test(start_paused = true)]
async fn a_higher_priority_goes_first_and_equals_keep_their_order() {
    let jobs = Jobs::with_work_limit(1);
    let (running, release) = jobs.submit_gated(Jobs::execute_work, "running");
    let mut handles = vec![running];
    for (name, priority) in [
        ("low1", -1),
        ("zero1", 0),
        ("high1", 5),
        ("zero2", 0),
        ("top", 9),
        ("high2", 5),
        ("low2", -1),
        ("zero3", 0),
    ] {
        let passport = Passport::new(job(name)).with_priority(priority);
        handles.push(jobs.execute_work(passport).unwrap());
    }
    settle().await;
    release.release();
    all_complete("a job's end", handles).await;
    assert_eq!(
        jobs.journal.with_prefix("start"),
        [
            "start running",
            "start top",
            "start high1",
            "start high2",
            "start zero1",
            "start zero2",
            "start zero3",
            "start low1",
            "start low2",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_later_higher_priority_overtakes_the_waiting_but_not_the_running() {
    let jobs = Jobs::with_work_limit(1);
    let (a, release_a) = jobs.submit_gated(Jobs::execute_work, "a");
    let (b, release_b) = jobs.submit_gated(Jobs::execute_work, "b");
    settle().await;
    let (urgent, release_urgent) = gated("urgent");
    let urgent = jobs
        .execute_work(Passport::new(urgent).with_priority(1))
        .unwrap();
    settle().await;
    assert_eq!(jobs.journal.with_prefix("start"), ["start a"]);
    release_a.release();
    jobs.journal.wait_for("start urgent").await;
    settle().await;
    assert_eq!(
        jobs.journal.with_prefix("start"),
        ["start a", "start urgent"]
    );
    release_urgent.release();
    release_b.release();
    all_complete("a job's end", [a, b, urgent]).await;
    assert_eq!(
        jobs.journal.with_prefix("start"),
        ["start a", "start urgent", "start b"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_resources_line_is_served_by_priority_then_submission_order() {
    let jobs = Jobs::new(TaskManager::builder().resource("db", 1).build().unwrap());
    let (holder, release) = jobs.submit_gated(Jobs::execute_save, "holder");
    let mut handles = vec![holder];
    jobs.journal.wait_for("store holder").await;
    for (name, priority) in [("b", 0), ("c", 3), ("d", 0), ("e", 3)] {
        let passport = Passport::new(job(name)).with_priority(priority);
        handles.push(jobs.execute_save(passport).unwrap());
    }
    settle().await;
    // Every task ran its first step at once: only the step that needs "db" waits.
    assert_eq!(
        jobs.journal.with_prefix("load"),
        ["load holder", "load b", "load c", "load d", "load e"]
    );
    release.release();
    all_complete("a save's end", handles).await;
    assert_eq!(
        jobs.journal.with_prefix("store"),
        ["store holder", "store c", "store e", "store b", "store d"]
    );
}

#[tokio::test(start_paused = true)]
async fn the_order_is_the_submission_order_not_the_order_the_runtime_first_polls_tasks() {
    let jobs = Jobs::with_work_limit(1);
    let (holder, release) = jobs.submit_gated(Jobs::execute_work, "holder");
    settle().await;
    // Submitted first, from another thread: tokio puts the task in its shared queue, which a
    // current-thread runtime polls after its own. Submitted second, from here: polled first.
    let runtime = tokio::runtime::Handle::current();
    let from_outside = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let _inside = runtime.enter();
                jobs.execute_work(Passport::new(job("outside"))).unwrap()
            })
            .join()
            .unwrap()
    });
    let from_inside = jobs.execute_work(Passport::new(job("inside"))).unwrap();
    settle().await;
    release.release();
    all_complete("a job's end", [holder, from_outside, from_inside]).await;
    assert_eq!(
        jobs.journal.with_prefix("start"),
        ["start holder", "start outside", "start inside"]
    );
}
