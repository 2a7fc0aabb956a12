//! Step policies, the time limit: `#[step(timeout = "..")]` drops an attempt that runs longer
//! than its limit, runs the step's cleanup with `CancelReason::StepTimeout`, and (without a
//! retry) ends the task `Ending::TimedOut`, a typed ending distinct from the step's error.
//! The flow's own deadline and cancels work as without it.

use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{
    flow, CancelReason, Cleanup, Ending, HasTaskManager, Passport, StepEnd, Task, TaskError,
    TaskManager,
};
use task_manager_support::{soon, EventLog, Journal};

/// The steps' own error type (never returned here: a time limit is not one).
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("out of stock")]
struct ShopError;

/// How long the `slow` step takes, in ms.
type SlowTask = Task<u64>;

#[derive(HasTaskManager)]
struct Shop {
    tasks: TaskManager,
    journal: Journal,
}

#[flow(name = order, timeout = "10s")]
impl Shop {
    #[step(cancel = undo_reserve)]
    async fn reserve(&self, _task: &mut SlowTask) -> Result<u32, ShopError> {
        self.journal.record("reserve");
        Ok(7)
    }

    #[step(cancel = undo_slow, timeout = "2s")]
    async fn slow(&self, task: &mut SlowTask, item: u32) -> Result<u32, ShopError> {
        self.journal.record("slow began");
        let _dropped = self.journal.on_drop("slow dropped");
        tokio::time::sleep(Duration::from_millis(*task.payload())).await;
        self.journal.record("slow returned");
        Ok(item + 1)
    }

    #[step]
    async fn ship(&self, _task: &mut SlowTask, item: u32) -> Result<u32, ShopError> {
        self.journal.record("ship");
        Ok(item)
    }

    async fn undo_reserve(&self, _task: &mut SlowTask, reason: CancelReason) {
        self.journal.record(format_args!("undo reserve: {reason}"));
    }

    async fn undo_slow(&self, _task: &mut SlowTask, reason: CancelReason) {
        self.journal.record(format_args!("undo slow: {reason}"));
    }
}

fn shop() -> Arc<Shop> {
    Arc::new(Shop {
        tasks: TaskManager::new(),
        journal: Journal::new(),
    })
}

#[tokio::test(start_paused = true)]
async fn a_step_within_its_limit_completes() {
    let shop = shop();
    let started = tokio::time::Instant::now();
    let outcome = shop.execute_order(Passport::new(1_500)).unwrap().await;
    assert_eq!(outcome.ending(), &Ending::Completed(8));
    assert_eq!(started.elapsed(), Duration::from_millis(1_500));
    assert_eq!(
        shop.journal.entries(),
        [
            "reserve",
            "slow began",
            "slow returned",
            "slow dropped",
            "ship"
        ]
    );
    assert!(
        outcome.report().attempts().is_empty(),
        "one attempt, no retry"
    );
}

#[tokio::test(start_paused = true)]
async fn at_its_limit_the_attempt_is_dropped_and_its_cleanup_runs() {
    let shop = shop();
    let started = tokio::time::Instant::now();
    let outcome = shop.execute_order(Passport::new(60_000)).unwrap().await;
    // Counted from the step's first poll: the step began at once.
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    let limit = Duration::from_secs(2);
    assert_eq!(
        outcome.ending(),
        &Ending::TimedOut {
            step: "slow",
            limit
        }
    );
    // The attempt's future was dropped before its cleanup ran; the step never returned, the
    // next step never ran, and the earlier step's cleanup did not run.
    assert_eq!(
        shop.journal.entries(),
        [
            "reserve",
            "slow began",
            "slow dropped",
            "undo slow: the step ran longer than its limit of 2s"
        ]
    );
    let report = outcome.report();
    assert_eq!(
        report.step("slow").map(|step| step.end),
        Some(StepEnd::TimedOut)
    );
    assert!(matches!(
        report.cleanup,
        Some(Cleanup::Completed { step: "slow", .. })
    ));
    let error = outcome.into_result().unwrap_err();
    assert!(error.is_step_timeout());
    assert!(!error.is_timeout(), "not the flow's deadline");
    assert!(!error.is_cancelled());
    assert!(matches!(error, TaskError::TimedOut { step: "slow", .. }));
    assert!(
        error
            .to_string()
            .ends_with("timed out at step `slow` (limit 2s)"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_cleanup_gets_the_step_and_its_limit() {
    let reason = CancelReason::StepTimeout {
        limit: Duration::from_secs(2),
    };
    assert!(reason.is_step_timeout());
    assert!(!reason.is_timeout());
    assert_eq!(
        reason.to_string(),
        "the step ran longer than its limit of 2s"
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancel_before_the_limit_stops_the_step_as_without_one() {
    let shop = shop();
    let handle = shop.execute_order(Passport::new(60_000)).unwrap();
    soon("slow began", shop.journal.wait_for("slow began")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cancelled = handle.cancel("user left");
    let outcome = handle.await;
    assert!(cancelled.await.is_some());
    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: "user left".into(),
            step: Some("slow"),
            steps_completed: 1
        }
    );
    assert!(shop.journal.contains("undo slow: cancelled: user left"));
    assert_eq!(
        outcome.report().step("slow").map(|step| step.end),
        Some(StepEnd::Cancelled)
    );
}

#[derive(HasTaskManager)]
struct Tight {
    tasks: TaskManager,
}

/// A flow deadline shorter than the step's limit: the flow's deadline wins, as today.
#[flow(name = tight, timeout = "1s")]
impl Tight {
    #[step(timeout = "5s")]
    async fn wait(&self, _task: &mut Task) -> Result<(), ShopError> {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn the_flow_deadline_still_stops_a_step_with_a_longer_limit() {
    let tight = Arc::new(Tight {
        tasks: TaskManager::new(),
    });
    let started = tokio::time::Instant::now();
    let outcome = tight.execute_tight(Passport::new(())).unwrap().await;
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    assert!(matches!(
        outcome.ending(),
        Ending::Cancelled {
            reason: CancelReason::Timeout,
            step: Some("wait"),
            ..
        }
    ));
}

#[tokio::test(start_paused = true)]
async fn events_say_the_step_timed_out() {
    let log = EventLog::new();
    let shop = Arc::new(Shop {
        tasks: TaskManager::builder().addon(log.clone()).build().unwrap(),
        journal: Journal::new(),
    });
    let _ = shop.execute_order(Passport::new(60_000)).unwrap().await;
    assert_eq!(
        log.entries(),
        [
            "submitted",
            "started",
            "step reserve#0 started",
            "step reserve#0 completed",
            "step slow#1 started",
            "step slow#1 timed out",
            "cleanup slow#1 started: the step ran longer than its limit of 2s",
            "cleanup slow#1 finished: completed",
            "finished: timed out at step `slow` (limit 2s)"
        ]
    );
}

/// Timed steps share one timer per task: each step's limit still counts from its own start.
#[derive(HasTaskManager)]
struct Chain {
    tasks: TaskManager,
}

/// How long `b` takes, in ms.
type ChainTask = Task<u64>;

#[flow(name = chain)]
impl Chain {
    #[step(timeout = "10s")]
    async fn a(&self, _task: &mut ChainTask) -> Result<(), ShopError> {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(())
    }

    #[step]
    async fn between(&self, _task: &mut ChainTask) -> Result<(), ShopError> {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(())
    }

    #[step(timeout = "1s")]
    async fn b(&self, task: &mut ChainTask) -> Result<(), ShopError> {
        tokio::time::sleep(Duration::from_millis(*task.payload())).await;
        Ok(())
    }

    #[step(timeout = "3s")]
    async fn c(&self, _task: &mut ChainTask) -> Result<(), ShopError> {
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn each_timed_step_counts_its_own_limit_from_its_own_start() {
    let chain = Arc::new(Chain {
        tasks: TaskManager::new(),
    });
    // `b` within its 1 s (after `a`'s 10 s limit was armed), then `c` within its 3 s.
    let started = tokio::time::Instant::now();
    let outcome = chain.execute_chain(Passport::new(900)).unwrap().await;
    assert_eq!(outcome.ending(), &Ending::Completed(()));
    assert_eq!(started.elapsed(), Duration::from_millis(3_600));
    // `b` over its 1 s: stopped 1 s after it began, not at `a`'s 10 s.
    let started = tokio::time::Instant::now();
    let outcome = chain.execute_chain(Passport::new(5_000)).unwrap().await;
    assert_eq!(
        outcome.ending(),
        &Ending::TimedOut {
            step: "b",
            limit: Duration::from_secs(1)
        }
    );
    assert_eq!(started.elapsed(), Duration::from_millis(1_200));
}
