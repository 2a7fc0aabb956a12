//! Contract line 6, and the step half of line 1: at most N steps hold a resource of N permits
//! at once, only the step that needs it waits, and its permit comes back on every path:
//! success, error, panic, cancel (after the cleanup), and the runtime dropping the task. The
//! task-level permit comes back when the runtime drops the task too.

use task_manager_core::{Cleanup, Ending, Passport, TaskManager, TaskState};
use task_manager_support::queue::{gated, gated_then, job, settle, JobFailed, Jobs, Then};
use task_manager_support::soon;

fn db(permits: usize) -> TaskManager {
    TaskManager::builder()
        .resource("db", permits)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn at_most_n_steps_hold_the_resource_and_only_that_step_waits() {
    let jobs = Jobs::new(db(2));
    let mut gates = Vec::new();
    for name in ["a", "b", "c", "d", "e"] {
        let (job, release) = gated(name);
        let (id, handle) = jobs.submit(Jobs::execute_save, job);
        gates.push((id, handle, release));
    }
    settle().await;
    assert_eq!(
        jobs.journal.with_prefix("load").len(),
        5,
        "the free step never waits"
    );
    assert_eq!(jobs.journal.with_prefix("store"), ["store a", "store b"]);
    assert_eq!(jobs.in_db.now(), 2);
    for (id, _, _) in &gates[2..] {
        assert_eq!(
            jobs.tasks
                .status(*id)
                .map(|status| (status.step, status.state)),
            Some((
                Some("store"),
                TaskState::WaitingForResource { resource: "db" }
            ))
        );
    }
    for (_, handle, release) in gates {
        release.release();
        soon("a save's end", handle).await.into_result().unwrap();
    }
    assert_eq!(jobs.in_db.most(), 2);
}

/// Runs `holder` (which takes the only "db" permit and then ends as the test makes it), and
/// checks that a task waiting for the permit gets it afterwards.
async fn the_next_one_gets_the_permit_after(
    jobs: &std::sync::Arc<Jobs>,
    then: Then,
) -> Ending<String, JobFailed> {
    let (holder, release) = gated_then("holder", then);
    let holder = jobs.execute_save(Passport::new(holder)).unwrap();
    jobs.journal.wait_for("store holder").await;
    let next = jobs.execute_save(Passport::new(job("next"))).unwrap();
    settle().await;
    assert!(!jobs.journal.contains("store next"), "the permit is held");
    release.release();
    let ending = soon("the holder's end", holder).await.into_parts().0;
    soon("the next one's end", next)
        .await
        .into_result()
        .expect("the next task got the permit");
    ending
}

#[tokio::test(start_paused = true)]
async fn the_permit_comes_back_when_the_step_succeeds() {
    let jobs = Jobs::new(db(1));
    let ending = the_next_one_gets_the_permit_after(&jobs, Then::Succeed).await;
    assert_eq!(ending, Ending::Completed("holder".to_string()));
}

#[tokio::test(start_paused = true)]
async fn the_permit_comes_back_when_the_step_fails() {
    let jobs = Jobs::new(db(1));
    let ending = the_next_one_gets_the_permit_after(&jobs, Then::Fail).await;
    assert!(matches!(ending, Ending::Failed { step: "store", .. }));
}

#[tokio::test(start_paused = true)]
async fn the_permit_comes_back_when_the_step_panics() {
    let jobs = Jobs::new(db(1));
    let ending = the_next_one_gets_the_permit_after(&jobs, Then::Panic).await;
    assert!(matches!(ending, Ending::Panicked { step: "store", .. }));
    // The panicking step's cleanup ran while it still held the permit.
    let entries = jobs.journal.entries();
    let cleaned = entries.iter().position(|e| e == "cleaned holder").unwrap();
    let next = entries.iter().position(|e| e == "store next").unwrap();
    assert!(cleaned < next, "{entries:?}");
}

#[tokio::test(start_paused = true)]
async fn the_permit_comes_back_after_the_cleanup_when_the_step_is_cancelled() {
    let jobs = Jobs::new(db(1));
    let (holder, _release) = gated("holder");
    let (holder_id, holder) = jobs.submit(Jobs::execute_save, holder);
    jobs.journal.wait_for("store holder").await;
    let next = jobs.execute_save(Passport::new(job("next"))).unwrap();
    settle().await;

    let cleanup = soon("the holder's cleanup", jobs.tasks.cancel(holder_id, "stop")).await;
    assert!(matches!(
        cleanup,
        Some(Cleanup::Completed { step: "store", .. })
    ));
    assert!(soon("the holder's end", holder).await.is_cancelled());
    soon("the next one's end", next)
        .await
        .into_result()
        .unwrap();
    // The cleanup still used the database: the next step waited for it to finish, so "db"
    // never had two users.
    let entries = jobs.journal.with_prefix("");
    let cleaned = entries.iter().position(|e| e == "cleaned holder").unwrap();
    let next = entries.iter().position(|e| e == "store next").unwrap();
    assert!(cleaned < next, "{entries:?}");
    assert_eq!(jobs.in_db.most(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_permit_comes_back_when_the_step_is_stopped_by_its_deadline() {
    let jobs = Jobs::new(db(1));
    let (holder, _release) = gated("holder");
    let holder = jobs
        .execute_save(Passport::new(holder).with_timeout(std::time::Duration::from_secs(1)))
        .unwrap();
    jobs.journal.wait_for("store holder").await;
    let next = jobs.execute_save(Passport::new(job("next"))).unwrap();
    assert!(soon("the holder's end", holder)
        .await
        .into_result()
        .unwrap_err()
        .is_timeout());
    soon("the next one's end", next)
        .await
        .into_result()
        .unwrap();
}

#[test]
fn the_permits_come_back_when_the_runtime_drops_the_task() {
    let paused_runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
    };
    let jobs = Jobs::new(
        TaskManager::builder()
            .limit_flow("save", 1)
            .resource("db", 1)
            .build()
            .unwrap(),
    );
    let doomed = paused_runtime();
    let (holder, release) = gated("holder");
    doomed.block_on(async {
        jobs.execute_save(Passport::new(holder)).unwrap().detach();
        jobs.journal.wait_for("store holder").await;
    });
    // The task holds the flow's only place and the only "db" permit, mid-step.
    drop(doomed);
    drop(release);
    assert!(jobs.tasks.is_empty(), "the dropped task left the registry");

    paused_runtime().block_on(async {
        let next = jobs.execute_save(Passport::new(job("next"))).unwrap();
        soon("the next one's end", next)
            .await
            .into_result()
            .expect("both permits came back");
    });
}
