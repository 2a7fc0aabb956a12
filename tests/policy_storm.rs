//! A storm of tasks through a saga with every step policy: random attempt outcomes (success,
//! a retried error, a permanent error, a hang the time limit cuts, a retried panic), a random
//! last step, and
//! a cancel at a random instant for half of them, all on one paused clock. For each task:
//! it ended exactly once; attempts never overlapped and were at most the policy's; a task
//! nobody cancelled ended as its script says; the compensations that ran are exactly those
//! of the steps that completed, in reverse order, each once, and none for a completed task;
//! every retried timed-out or panicked attempt was cleaned up; nothing is left registered.
//!
//! Steps start and end on multiples of 10 ms; cancels land at 3 ms past one, so nothing ties.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{
    flow, CancelReason, Cleanup, Ending, HasTaskManager, Passport, Retry, StepEnd, Task,
    TaskManager,
};
use task_manager_support::panics::{silence_planned_panics, PLANNED};

const TASKS: usize = 2_000;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum ShopError {
    #[error("unavailable")]
    Unavailable,
    #[error("declined")]
    Declined,
    #[error("no carrier")]
    NoCarrier,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Try {
    Ok,
    Retryable,
    Permanent,
    Hang,
    Panic,
}

#[derive(Debug, Default)]
struct Counters {
    running: AtomicU32,
    attempts: AtomicU32,
    refunds: AtomicU32,
    restocks: AtomicU32,
    /// Cleanups of `charge` (one per attempt that timed out or panicked, and one for an
    /// attempt a cancel interrupted).
    voids: AtomicU32,
}

#[derive(Debug, Clone)]
struct Plan {
    tries: Vec<Try>,
    ship_fails: bool,
    counters: Arc<Counters>,
}

type StormTask = Task<Plan>;

#[derive(HasTaskManager)]
struct Storm {
    tasks: TaskManager,
}

fn retries() -> Retry<ShopError> {
    Retry::attempts(3)
        .fixed(Duration::from_millis(20))
        .retry_if(|error| *error == ShopError::Unavailable)
        .retry_panics(true)
}

#[flow(name = storm)]
impl Storm {
    #[step(compensate = restock)]
    async fn reserve(&self, _task: &mut StormTask) -> Result<u32, ShopError> {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok(1)
    }

    #[step(cancel = void, compensate = refund, timeout = "50ms", retry = retries)]
    async fn charge(&self, task: &mut StormTask, item: u32) -> Result<u32, ShopError> {
        let counters = Arc::clone(&task.payload().counters);
        let attempt = counters.attempts.fetch_add(1, Ordering::SeqCst) as usize;
        assert_eq!(
            counters.running.fetch_add(1, Ordering::SeqCst),
            0,
            "attempts overlap"
        );
        let _running = Running(&counters.running);
        let outcome = task
            .payload()
            .tries
            .get(attempt)
            .copied()
            .unwrap_or(Try::Ok);
        match outcome {
            Try::Ok => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                Ok(item)
            }
            Try::Retryable => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                Err(ShopError::Unavailable)
            }
            Try::Permanent => Err(ShopError::Declined),
            Try::Hang => std::future::pending().await,
            Try::Panic => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                panic!("{PLANNED}: charge attempt {}", attempt + 1)
            }
        }
    }

    #[step(cancel = abort)]
    async fn ship(&self, task: &mut StormTask, item: u32) -> Result<u32, ShopError> {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if task.payload().ship_fails {
            Err(ShopError::NoCarrier)
        } else {
            Ok(item)
        }
    }

    async fn void(&self, task: &mut StormTask, _reason: CancelReason) {
        task.payload().counters.voids.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    async fn abort(&self, _task: &mut StormTask, _reason: CancelReason) {}

    async fn refund(&self, task: &mut StormTask, _item: u32) {
        task.payload()
            .counters
            .refunds
            .fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    async fn restock(&self, task: &mut StormTask, _item: u32) {
        task.payload()
            .counters
            .restocks
            .fetch_add(1, Ordering::SeqCst);
    }
}

struct Running<'a>(&'a AtomicU32);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// xorshift64*: the same on every machine.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound
    }
}

/// How a task nobody cancels ends: `Ok(())` completed, else the failing step and why.
fn predicted(plan: &Plan) -> Result<(), (&'static str, &'static str)> {
    for attempt in 0..3 {
        match plan.tries.get(attempt).copied().unwrap_or(Try::Ok) {
            Try::Ok => {
                return if plan.ship_fails {
                    Err(("ship", "failed"))
                } else {
                    Ok(())
                }
            }
            Try::Permanent => return Err(("charge", "failed")),
            Try::Retryable if attempt == 2 => return Err(("charge", "failed")),
            Try::Hang if attempt == 2 => return Err(("charge", "timed out")),
            Try::Panic if attempt == 2 => return Err(("charge", "panicked")),
            Try::Retryable | Try::Hang | Try::Panic => {}
        }
    }
    unreachable!("the loop returns at the third attempt")
}

#[tokio::test(start_paused = true)]
async fn every_task_ends_once_and_is_compensated_exactly_for_its_completed_steps() {
    silence_planned_panics();
    let storm = Arc::new(Storm {
        tasks: TaskManager::new(),
    });
    let mut rng = Rng(0x5EED_0014);
    let mut runs = Vec::new();
    for _ in 0..TASKS {
        let tries = (0..3)
            .map(|_| match rng.below(5) {
                0 => Try::Ok,
                1 => Try::Retryable,
                2 => Try::Permanent,
                3 => Try::Panic,
                _ => Try::Hang,
            })
            .collect();
        let plan = Plan {
            tries,
            ship_fails: rng.below(2) == 0,
            counters: Arc::default(),
        };
        let cancel_at = (rng.below(2) == 0).then(|| 10 * rng.below(25) + 3);
        runs.push((plan, cancel_at));
    }
    let mut joins = Vec::new();
    for (plan, cancel_at) in runs.iter().cloned() {
        let handle = storm.execute_storm(Passport::new(plan)).unwrap();
        let tasks = storm.tasks.clone();
        joins.push(tokio::spawn(async move {
            if let Some(at) = cancel_at {
                tokio::time::sleep(Duration::from_millis(at)).await;
                tasks.cancel(handle.id(), "storm");
            }
            handle.await
        }));
    }
    let mut endings = [0usize; 5];
    for ((plan, cancel_at), join) in runs.iter().zip(joins) {
        let outcome = join.await.unwrap();
        let report = outcome.report();
        let attempts = plan.counters.attempts.load(Ordering::SeqCst);
        assert!(attempts <= 3, "{attempts} attempts for {plan:?}");
        let ending = match outcome.ending() {
            Ending::Completed(_) => "completed",
            Ending::Failed { .. } => "failed",
            Ending::TimedOut { .. } => "timed out",
            Ending::Cancelled { .. } => "cancelled",
            Ending::Panicked { .. } => "panicked",
            other => panic!("an ending this storm does not expect: {other}"),
        };
        endings[["completed", "failed", "timed out", "cancelled", "panicked"]
            .iter()
            .position(|name| *name == ending)
            .unwrap()] += 1;
        if cancel_at.is_none() {
            let step = match outcome.ending() {
                Ending::Failed { step, .. }
                | Ending::TimedOut { step, .. }
                | Ending::Panicked { step, .. } => *step,
                _ => "",
            };
            let got = if ending == "completed" {
                Ok(())
            } else {
                Err((step, ending))
            };
            assert_eq!(got, predicted(plan), "{plan:?}");
        }
        // Compensations: exactly the completed steps' (among those that declare one), last
        // first, each once; none for a completed task.
        let completed: Vec<&str> = report
            .steps()
            .filter(|step| step.end == StepEnd::Completed && step.name != "ship")
            .map(|step| step.name)
            .collect();
        let expected: Vec<&str> = if ending == "completed" {
            Vec::new()
        } else {
            completed.into_iter().rev().collect()
        };
        let undone: Vec<&str> = report.compensations().iter().map(|c| c.step()).collect();
        assert_eq!(undone, expected, "{plan:?} cancelled at {cancel_at:?}");
        assert!(report.compensations().iter().all(|c| c.is_completed()));
        let refunds = plan.counters.refunds.load(Ordering::SeqCst);
        let restocks = plan.counters.restocks.load(Ordering::SeqCst);
        assert_eq!(refunds as usize, usize::from(expected.contains(&"charge")));
        assert_eq!(
            restocks as usize,
            usize::from(expected.contains(&"reserve"))
        );
        // A timed-out or panicked attempt that was retried was cleaned up before the next
        // began; `charge`'s cleanup ran once for each, plus once if the task stopped in it.
        let mut retried_cleanups = 0;
        for attempt in report.attempts() {
            let stopped = matches!(attempt.end, StepEnd::TimedOut | StepEnd::Panicked);
            if stopped && attempt.delay.is_some() {
                retried_cleanups += 1;
                assert!(
                    matches!(attempt.cleanup, Some(Cleanup::Completed { .. })),
                    "{attempt:?}"
                );
            }
        }
        let stopped_in_charge = matches!(
            report.cleanup,
            Some(Cleanup::Completed { step: "charge", .. })
        );
        assert_eq!(
            plan.counters.voids.load(Ordering::SeqCst),
            retried_cleanups + u32::from(stopped_in_charge),
            "{plan:?} cancelled at {cancel_at:?}"
        );
    }
    assert!(storm.tasks.is_empty(), "nothing is left registered");
    // Every kind of ending happened.
    assert!(endings.iter().all(|count| *count > 0), "{endings:?}");
}
