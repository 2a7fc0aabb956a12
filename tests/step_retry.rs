//! Step policies, retries: `#[step(retry = policy_fn)]` with `fn policy_fn() -> Retry<E>`.
//! Attempts never overlap; a permanent error is not retried; a timed-out attempt's cleanup
//! finishes before the next attempt; a cancel during the wait between two attempts ends the
//! task at once with no cleanup; the report and the events record every attempt.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{
    flow, CancelReason, Cleanup, Ending, HasTaskManager, Jitter, Passport, Retry, StepEnd, Task,
    TaskManager,
};
use task_manager_support::{soon, EventLog, Journal};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum PayError {
    #[error("the bank is unavailable")]
    Unavailable,
    #[error("the card was declined")]
    Declined,
}

/// What each attempt of `charge` does, in order; past the end, it succeeds.
#[derive(Debug, Clone, Copy)]
enum Try {
    Fail(PayError2),
    Hang,
}

/// `PayError` by value in a `Copy` script.
#[derive(Debug, Clone, Copy)]
enum PayError2 {
    Unavailable,
    Declined,
}

type PayTask = Task<Vec<Try>>;

/// The amount `reserve` hands to `charge`: cloned for each attempt.
#[derive(Debug, Clone, PartialEq)]
struct Amount(u32);

#[derive(HasTaskManager)]
struct Payments {
    tasks: TaskManager,
    journal: Journal,
    /// Attempts of `charge` running right now (to prove they never overlap).
    running: AtomicU32,
    attempts: AtomicU32,
}

fn payment_retries() -> Retry<PayError> {
    Retry::attempts(4)
        .backoff(Duration::from_millis(100), Duration::from_millis(250))
        .retry_if(|error| matches!(error, PayError::Unavailable))
}

#[flow(name = pay)]
impl Payments {
    #[step]
    async fn reserve(&self, _task: &mut PayTask) -> Result<Amount, PayError> {
        Ok(Amount(42))
    }

    #[step(cancel = void_attempt, timeout = "1s", retry = payment_retries)]
    async fn charge(&self, task: &mut PayTask, amount: Amount) -> Result<u32, PayError> {
        let attempt = self.attempts.fetch_add(1, Ordering::SeqCst) as usize;
        assert_eq!(
            self.running.fetch_add(1, Ordering::SeqCst),
            0,
            "attempts overlap"
        );
        let _running = Running(&self.running);
        self.journal
            .record(format_args!("charge {} began", attempt + 1));
        let _dropped = self
            .journal
            .on_drop(format_args!("charge {} dropped", attempt + 1));
        tokio::time::sleep(Duration::from_millis(10)).await;
        match task.payload().get(attempt).copied() {
            Some(Try::Fail(PayError2::Unavailable)) => Err(PayError::Unavailable),
            Some(Try::Fail(PayError2::Declined)) => Err(PayError::Declined),
            Some(Try::Hang) => std::future::pending().await,
            None => Ok(amount.0),
        }
    }

    async fn void_attempt(&self, _task: &mut PayTask, reason: CancelReason) {
        self.journal.record(format_args!("void: {reason}"));
        // The next attempt waits for this to finish.
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.journal.record("void done");
    }
}

/// Counts an attempt out when it is dropped.
struct Running<'a>(&'a AtomicU32);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn payments(log: Option<&EventLog>) -> Arc<Payments> {
    let tasks = match log {
        Some(log) => TaskManager::builder().addon(log.clone()).build().unwrap(),
        None => TaskManager::new(),
    };
    Arc::new(Payments {
        tasks,
        journal: Journal::new(),
        running: AtomicU32::new(0),
        attempts: AtomicU32::new(0),
    })
}

use PayError2::{Declined, Unavailable};

#[tokio::test(start_paused = true)]
async fn a_retryable_error_is_retried_with_backoff_until_an_attempt_succeeds() {
    let payments = payments(None);
    let started = tokio::time::Instant::now();
    let script = vec![Try::Fail(Unavailable), Try::Fail(Unavailable)];
    let outcome = payments.execute_pay(Passport::new(script)).unwrap().await;
    assert_eq!(outcome.ending(), &Ending::Completed(42));
    // Three attempts of 10 ms, with 100 ms then 200 ms between them.
    assert_eq!(started.elapsed(), Duration::from_millis(330));
    let report = outcome.report();
    let attempts: Vec<_> = report
        .attempts()
        .iter()
        .map(|attempt| {
            (
                attempt.number,
                attempt.end,
                attempt.error.clone(),
                attempt.delay,
                attempt.duration,
            )
        })
        .collect();
    let unavailable = Some("the bank is unavailable".to_string());
    assert_eq!(
        attempts,
        [
            (
                1,
                StepEnd::Failed,
                unavailable.clone(),
                Some(Duration::from_millis(100)),
                Duration::from_millis(10)
            ),
            (
                2,
                StepEnd::Failed,
                unavailable,
                Some(Duration::from_millis(200)),
                Duration::from_millis(10)
            ),
            (3, StepEnd::Completed, None, None, Duration::from_millis(10)),
        ]
    );
    // Each attempt starts after the previous one's delay.
    let starts: Vec<_> = report
        .attempts()
        .iter()
        .map(|attempt| attempt.started_at.duration_since(report.submitted_at))
        .collect();
    assert_eq!(starts, [0, 110, 320].map(Duration::from_millis));
    // The step is one record: from its first attempt's start to its last one's end.
    let charge = report.step("charge").unwrap();
    assert_eq!(
        (charge.end, charge.duration),
        (StepEnd::Completed, Duration::from_millis(330))
    );
}

#[tokio::test(start_paused = true)]
async fn a_permanent_error_is_not_retried() {
    let payments = payments(None);
    let script = vec![Try::Fail(Unavailable), Try::Fail(Declined)];
    let outcome = payments.execute_pay(Passport::new(script)).unwrap().await;
    assert_eq!(
        outcome.ending(),
        &Ending::Failed {
            step: "charge",
            error: PayError::Declined
        }
    );
    assert_eq!(payments.attempts.load(Ordering::SeqCst), 2);
    let ends: Vec<_> = outcome
        .report()
        .attempts()
        .iter()
        .map(|attempt| (attempt.end, attempt.delay))
        .collect();
    assert_eq!(
        ends,
        [
            (StepEnd::Failed, Some(Duration::from_millis(100))),
            (StepEnd::Failed, None)
        ]
    );
    assert!(
        !payments.journal.contains("void: "),
        "an error runs no cleanup"
    );
}

#[tokio::test(start_paused = true)]
async fn the_last_allowed_attempt_ends_the_task_with_its_error() {
    let payments = payments(None);
    let script = vec![Try::Fail(Unavailable); 4];
    let outcome = payments.execute_pay(Passport::new(script)).unwrap().await;
    assert_eq!(
        outcome.ending(),
        &Ending::Failed {
            step: "charge",
            error: PayError::Unavailable
        }
    );
    assert_eq!(payments.attempts.load(Ordering::SeqCst), 4);
    let delays: Vec<_> = outcome
        .report()
        .attempts()
        .iter()
        .map(|attempt| attempt.delay)
        .collect();
    // 100 ms, doubled, capped at 250 ms; none after the last.
    assert_eq!(
        delays,
        [
            Some(Duration::from_millis(100)),
            Some(Duration::from_millis(200)),
            Some(Duration::from_millis(250)),
            None
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn attempts_never_overlap_a_timed_out_attempt_is_cleaned_up_before_the_next() {
    let log = EventLog::new();
    let payments = payments(Some(&log));
    let script = vec![Try::Hang, Try::Fail(Unavailable)];
    let outcome = payments.execute_pay(Passport::new(script)).unwrap().await;
    assert_eq!(outcome.ending(), &Ending::Completed(42));
    assert_eq!(
        payments.journal.entries(),
        [
            "charge 1 began",
            "charge 1 dropped",
            "void: the step ran longer than its limit of 1s",
            "void done",
            "charge 2 began",
            "charge 2 dropped",
            "charge 3 began",
            "charge 3 dropped"
        ]
    );
    let first = &outcome.report().attempts()[0];
    assert_eq!(first.end, StepEnd::TimedOut);
    assert_eq!(first.duration, Duration::from_secs(1));
    assert!(matches!(
        first.cleanup,
        Some(Cleanup::Completed { step: "charge", .. })
    ));
    assert_eq!(outcome.report().cleanup, None, "the task was not stopped");
    let steps: Vec<_> = log
        .entries()
        .into_iter()
        .filter(|entry| entry.contains("charge"))
        .collect();
    assert_eq!(
        steps,
        [
            "step charge#1 started",
            "step charge#1 attempt 1 failed (ran longer than its limit of 1s); retry in 100ms",
            "cleanup charge#1 started: the step ran longer than its limit of 1s",
            "cleanup charge#1 finished: completed",
            "step charge#1 attempt 2 failed (the bank is unavailable); retry in 200ms",
            "step charge#1 completed"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancel_during_the_wait_ends_the_task_at_once_without_cleanup() {
    let log = EventLog::new();
    let payments = payments(Some(&log));
    let handle = payments
        .execute_pay(Passport::new(vec![Try::Fail(Unavailable)]))
        .unwrap();
    soon(
        "the first attempt failed",
        log.journal()
            .wait_for("step charge#1 attempt 1 failed (the bank is unavailable); retry in 100ms"),
    )
    .await;
    // The task is in its 100 ms wait.
    tokio::time::sleep(Duration::from_millis(30)).await;
    let cancelled = handle.cancel("user left");
    let started = tokio::time::Instant::now();
    let outcome = handle.await;
    assert_eq!(started.elapsed(), Duration::ZERO, "at once");
    assert_eq!(
        cancelled.await,
        Some(Cleanup::NoStepInProgress),
        "no attempt was in progress"
    );
    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: "user left".into(),
            step: None,
            steps_completed: 1
        }
    );
    assert_eq!(payments.attempts.load(Ordering::SeqCst), 1);
    assert!(!payments.journal.contains("void: cancelled: user left"));
    assert_eq!(
        outcome.report().step("charge").map(|step| step.end),
        Some(StepEnd::Cancelled)
    );
    assert_eq!(outcome.report().attempts().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_cancel_during_an_attempt_runs_its_cleanup_as_without_retries() {
    let payments = payments(None);
    let handle = payments
        .execute_pay(Passport::new(vec![Try::Fail(Unavailable), Try::Hang]))
        .unwrap();
    soon("attempt 2", payments.journal.wait_for("charge 2 began")).await;
    let cancelled = handle.cancel("user left");
    let outcome = handle.await;
    assert!(matches!(
        cancelled.await,
        Some(Cleanup::Completed { step: "charge", .. })
    ));
    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: "user left".into(),
            step: Some("charge"),
            steps_completed: 1
        }
    );
    assert!(payments.journal.contains("void: cancelled: user left"));
    let ends: Vec<_> = outcome
        .report()
        .attempts()
        .iter()
        .map(|attempt| attempt.end)
        .collect();
    assert_eq!(ends, [StepEnd::Failed, StepEnd::Cancelled]);
}

fn jittered_retries() -> Retry<PayError> {
    Retry::attempts(4)
        .backoff(Duration::from_millis(100), Duration::from_secs(1))
        .jitter(Jitter::Full)
        .seed(7)
}

#[derive(HasTaskManager)]
struct Flaky {
    tasks: TaskManager,
}

#[flow(name = flaky)]
impl Flaky {
    #[step(retry = jittered_retries)]
    async fn call(&self, _task: &mut Task) -> Result<(), PayError> {
        tokio::task::yield_now().await;
        Err(PayError::Unavailable)
    }
}

#[tokio::test(start_paused = true)]
async fn jittered_delays_are_set_by_the_seed() {
    let flaky = Arc::new(Flaky {
        tasks: TaskManager::new(),
    });
    let mut runs = Vec::new();
    for _ in 0..2 {
        let outcome = flaky.execute_flaky(Passport::new(())).unwrap().await;
        let delays: Vec<_> = outcome
            .report()
            .attempts()
            .iter()
            .map(|attempt| attempt.delay)
            .collect();
        runs.push(delays);
    }
    assert_eq!(runs[0], runs[1], "two tasks, one seed, the same delays");
    assert_eq!(runs[0].len(), 4);
    // Full jitter: each delay within its exponential bound.
    for (delay, bound) in runs[0].iter().zip([100, 200, 400]) {
        let delay = delay.expect("a retry followed");
        assert!(delay <= Duration::from_millis(bound), "{delay:?}");
    }
    assert_eq!(runs[0][3], None);
}
