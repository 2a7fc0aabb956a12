//! Contract 14: at the deadline the task is cancelled with reason Timeout, the cleanup of the
//! step in progress runs, the outcome says timed out; a task that finishes first is
//! unaffected.
//!
//! The clock is tokio's paused test clock: it jumps straight to the next timer when every
//! task waits, so "ten seconds" take no real time and the instants below are exact.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{
    flow, CancelReason, CancelStatus, Cleanup, Ending, HasTaskManager, Passport, StepEnd, Task,
    TaskManager,
};
use task_manager_support::Journal;

/// How long each step works, in seconds.
#[derive(Clone, Copy)]
struct Work {
    fetch: u64,
    store: u64,
}

#[derive(HasTaskManager)]
struct Transfers {
    tasks: TaskManager,
    journal: Journal,
}

impl Transfers {
    async fn work(&self, name: &str, seconds: u64) {
        self.journal.record(format_args!("{name} began"));
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        self.journal.record(format_args!("{name} returned"));
    }
}

#[flow(name = transfer, timeout = "10s")]
impl Transfers {
    #[step(cancel = undo_fetch)]
    async fn fetch(&self, task: &mut Task<Work>) -> Result<(), Infallible> {
        self.work("fetch", task.payload().fetch).await;
        Ok(())
    }

    #[step(cancel = undo_store)]
    async fn store(&self, task: &mut Task<Work>) -> Result<&'static str, Infallible> {
        self.work("store", task.payload().store).await;
        Ok("stored")
    }

    async fn undo_fetch(&self, _task: &mut Task<Work>, reason: CancelReason) {
        self.journal.record(format_args!("cleanup fetch: {reason}"));
    }

    async fn undo_store(&self, _task: &mut Task<Work>, reason: CancelReason) {
        self.journal.record(format_args!("cleanup store: {reason}"));
        // The cleanup outlives the deadline: it is not itself cut short.
        tokio::time::sleep(Duration::from_secs(30)).await;
        self.journal.record("cleanup store finished");
    }
}

fn transfers() -> Arc<Transfers> {
    Arc::new(Transfers {
        tasks: TaskManager::new(),
        journal: Journal::new(),
    })
}

#[tokio::test(start_paused = true)]
async fn at_the_flow_s_deadline_the_step_in_progress_is_cancelled_and_cleaned_up() {
    let transfers = transfers();
    let start = tokio::time::Instant::now();
    let passport = Passport::new(Work {
        fetch: 4,
        store: 60,
    });
    let id = passport.id();
    let outcome = transfers
        .execute_transfer(passport)
        .expect("submitted")
        .await;

    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::Timeout,
            step: Some("store"),
            steps_completed: 1
        }
    );
    assert_eq!(
        transfers.journal.entries(),
        [
            "fetch began",
            "fetch returned",
            "store began",
            "cleanup store: timed out",
            "cleanup store finished"
        ]
    );
    let store = outcome.report().step("store").expect("store began");
    assert_eq!(store.end, StepEnd::Cancelled);
    assert_eq!(
        store.started_at + store.duration,
        start + Duration::from_secs(10),
        "stopped at the deadline, counted from submission"
    );
    assert_eq!(
        outcome.report().cleanup,
        Some(Cleanup::Completed {
            step: "store",
            duration: Duration::from_secs(30)
        })
    );
    assert!(!transfers.tasks.contains(id));

    let error = outcome.into_result().expect_err("timed out");
    assert!(error.is_timeout());
    assert!(error.is_cancelled());
    assert!(error.to_string().contains("timed out"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn a_task_that_finishes_before_its_deadline_is_unaffected() {
    let transfers = transfers();
    let outcome = transfers
        .execute_transfer(Passport::new(Work { fetch: 4, store: 5 }))
        .expect("submitted")
        .await;
    assert_eq!(outcome.ending(), &Ending::Completed("stored"));
    assert_eq!(outcome.report().cleanup, None);

    // Long after the deadline would have passed, nothing more happens.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        transfers.journal.entries(),
        [
            "fetch began",
            "fetch returned",
            "store began",
            "store returned"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_passport_s_deadline_replaces_the_flow_s_shorter() {
    let transfers = transfers();
    let passport = Passport::new(Work { fetch: 8, store: 8 }).with_timeout(Duration::from_secs(20));
    let outcome = transfers
        .execute_transfer(passport)
        .expect("submitted")
        .await;
    assert!(
        outcome.is_completed(),
        "16 s of work fits the passport's 20 s: {}",
        outcome.ending()
    );
}

#[tokio::test(start_paused = true)]
async fn a_passport_s_deadline_replaces_the_flow_s_longer() {
    let transfers = transfers();
    let start = tokio::time::Instant::now();
    let passport = Passport::new(Work { fetch: 8, store: 1 }).with_timeout(Duration::from_secs(3));
    let outcome = transfers
        .execute_transfer(passport)
        .expect("submitted")
        .await;

    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::Timeout,
            step: Some("fetch"),
            steps_completed: 0
        }
    );
    assert_eq!(outcome.report().finished_at, start + Duration::from_secs(3));
    assert_eq!(
        transfers.journal.entries(),
        ["fetch began", "cleanup fetch: timed out"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancel_before_the_deadline_keeps_its_own_reason() {
    let transfers = transfers();
    let passport = Passport::new(Work {
        fetch: 60,
        store: 1,
    });
    let id = passport.id();
    let handle = transfers.execute_transfer(passport).expect("submitted");
    tokio::time::sleep(Duration::from_secs(2)).await;

    assert_eq!(
        transfers.tasks.cancel(id, "user left").status(),
        CancelStatus::Requested
    );
    let outcome = handle.await;
    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::from("user left"),
            step: Some("fetch"),
            steps_completed: 0
        }
    );
}

#[tokio::test(start_paused = true)]
async fn after_a_timeout_a_cancel_finds_the_task_already_cancelled() {
    let transfers = transfers();
    let passport = Passport::new(Work {
        fetch: 1,
        store: 60,
    });
    let id = passport.id();
    let handle = transfers.execute_transfer(passport).expect("submitted");
    transfers.journal.wait_for("cleanup store: timed out").await;

    let late = transfers.tasks.cancel(id, "user left");
    assert_eq!(late.status(), CancelStatus::AlreadyRequested);
    assert!(matches!(
        late.await,
        Some(Cleanup::Completed { step: "store", .. })
    ));
    assert!(handle
        .await
        .into_result()
        .expect_err("timed out")
        .is_timeout());
}

#[derive(HasTaskManager)]
struct NoDeadline {
    tasks: TaskManager,
}

#[flow(name = unbounded)]
impl NoDeadline {
    #[step]
    async fn wait_a_day(&self, _task: &mut Task) -> Result<(), Infallible> {
        tokio::time::sleep(Duration::from_secs(86_400)).await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_flow_without_a_timeout_has_no_deadline_unless_the_passport_gives_one() {
    let flows = Arc::new(NoDeadline {
        tasks: TaskManager::new(),
    });
    let outcome = flows
        .execute_unbounded(Passport::new(()))
        .expect("submitted")
        .await;
    assert!(outcome.is_completed());

    let outcome = flows
        .execute_unbounded(Passport::new(()).with_timeout(Duration::from_secs(60)))
        .expect("submitted")
        .await;
    assert!(outcome
        .into_result()
        .expect_err("the passport's deadline")
        .is_timeout());
}

#[tokio::test(start_paused = true)]
async fn a_deadline_too_far_for_the_clock_is_no_deadline() {
    // `Duration::MAX` is a natural way to say "no deadline"; the clock cannot represent the
    // instant it names, so it must never come, rather than fail the submission.
    let flows = Arc::new(NoDeadline {
        tasks: TaskManager::new(),
    });
    let outcome = flows
        .execute_unbounded(Passport::new(()).with_timeout(Duration::MAX))
        .expect("submitted")
        .await;
    assert!(outcome.is_completed(), "{}", outcome.ending());
    assert!(flows.tasks.is_empty());
}
