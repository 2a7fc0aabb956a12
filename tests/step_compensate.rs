//! Step policies, compensation: `#[step(compensate = undo_fn)]`. When the task ends other
//! than completed, the compensations of the steps that completed run, in reverse order, after
//! the interrupted step's cleanup, each exactly once, each given a clone of its step's output.
//! One that fails or panics is recorded and the others still run; a cancel during a
//! compensation does not interrupt it.

use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{
    flow, CancelReason, Cleanup, Compensation, Ending, HasTaskManager, Passport, Task, TaskManager,
};
use task_manager_support::panics::silence_planned_panics;
use task_manager_support::{soon, EventLog, Journal};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum ShopError {
    #[error("no carrier today")]
    NoCarrier,
    #[error("the bank refused the refund")]
    RefundRefused,
}

/// What goes wrong, and where.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Plan {
    /// Every step succeeds.
    Ok,
    /// `ship` returns an error.
    ShipFails,
    /// `ship` hangs (to be cancelled), and `refund` takes a while.
    ShipHangs,
    /// `ship` fails and `refund` returns an error.
    RefundFails,
    /// `ship` fails and `refund` panics.
    RefundPanics,
}

type ShopTask = Task<Plan>;

#[derive(Debug, Clone, PartialEq)]
struct Reservation(u32);

#[derive(Debug, Clone, PartialEq)]
struct Receipt(u32);

#[derive(HasTaskManager)]
struct Shop {
    tasks: TaskManager,
    journal: Journal,
}

#[flow(name = order)]
impl Shop {
    #[step(compensate = restock)]
    async fn reserve(&self, _task: &mut ShopTask) -> Result<Reservation, ShopError> {
        self.journal.record("reserve");
        Ok(Reservation(7))
    }

    #[step(compensate = refund)]
    async fn charge(&self, _task: &mut ShopTask, r: Reservation) -> Result<Receipt, ShopError> {
        self.journal.record("charge");
        Ok(Receipt(r.0 * 10))
    }

    #[step(cancel = abort_ship)]
    async fn ship(&self, task: &mut ShopTask, receipt: Receipt) -> Result<u32, ShopError> {
        self.journal.record("ship began");
        match task.payload() {
            Plan::Ok => Ok(receipt.0),
            Plan::ShipHangs => std::future::pending().await,
            _ => Err(ShopError::NoCarrier),
        }
    }

    async fn abort_ship(&self, _task: &mut ShopTask, reason: CancelReason) {
        self.journal.record(format_args!("abort ship: {reason}"));
    }

    async fn refund(&self, task: &mut ShopTask, receipt: Receipt) -> Result<(), ShopError> {
        self.journal
            .record(format_args!("refund {} began", receipt.0));
        match task.payload() {
            Plan::ShipHangs => tokio::time::sleep(Duration::from_secs(1)).await,
            Plan::RefundFails => return Err(ShopError::RefundRefused),
            Plan::RefundPanics => panic!("planned panic: the bank is on fire"),
            _ => {}
        }
        self.journal
            .record(format_args!("refund {} done", receipt.0));
        Ok(())
    }

    async fn restock(&self, _task: &mut ShopTask, reservation: Reservation) {
        self.journal
            .record(format_args!("restock {}", reservation.0));
    }
}

fn shop(log: Option<&EventLog>) -> Arc<Shop> {
    let tasks = match log {
        Some(log) => TaskManager::builder().addon(log.clone()).build().unwrap(),
        None => TaskManager::new(),
    };
    Arc::new(Shop {
        tasks,
        journal: Journal::new(),
    })
}

fn steps_of(compensations: &[Compensation]) -> Vec<&'static str> {
    compensations.iter().map(Compensation::step).collect()
}

#[tokio::test(start_paused = true)]
async fn a_completed_task_compensates_nothing() {
    let shop = shop(None);
    let outcome = shop.execute_order(Passport::new(Plan::Ok)).unwrap().await;
    assert_eq!(outcome.ending(), &Ending::Completed(70));
    assert!(outcome.report().compensations().is_empty());
    assert_eq!(shop.journal.entries(), ["reserve", "charge", "ship began"]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_step_compensates_the_completed_ones_in_reverse_order() {
    let log = EventLog::new();
    let shop = shop(Some(&log));
    let outcome = shop
        .execute_order(Passport::new(Plan::ShipFails))
        .unwrap()
        .await;
    // The step's own error stands; the failing step's cleanup does not run (as without
    // compensations), and each completed step is undone once, the last first.
    assert_eq!(
        outcome.ending(),
        &Ending::Failed {
            step: "ship",
            error: ShopError::NoCarrier
        }
    );
    assert_eq!(
        shop.journal.entries(),
        [
            "reserve",
            "charge",
            "ship began",
            "refund 70 began",
            "refund 70 done",
            "restock 7"
        ]
    );
    let compensations = outcome.report().compensations();
    assert_eq!(steps_of(compensations), ["charge", "reserve"]);
    assert!(compensations.iter().all(Compensation::is_completed));
    let told: Vec<_> = log
        .entries()
        .into_iter()
        .filter(|entry| entry.starts_with("CompensationFinished") || entry.starts_with("finished"))
        .collect();
    assert_eq!(told.len(), 3, "{told:?}");
    assert!(told[2].starts_with("finished: failed"), "{told:?}");
}

#[tokio::test(start_paused = true)]
async fn a_cancel_runs_the_interrupted_steps_cleanup_then_the_compensations() {
    let shop = shop(None);
    let handle = shop.execute_order(Passport::new(Plan::ShipHangs)).unwrap();
    soon("ship began", shop.journal.wait_for("ship began")).await;
    let mut cancellation = shop.tasks.cancel(handle.id(), "user left");
    let cleanup = (&mut cancellation).await;
    assert!(matches!(
        cleanup,
        Some(Cleanup::Completed { step: "ship", .. })
    ));
    // The canceller learns which compensations ran, and how.
    assert_eq!(
        steps_of(&cancellation.compensations()),
        ["charge", "reserve"]
    );
    let outcome = handle.await;
    assert!(matches!(
        outcome.ending(),
        Ending::Cancelled {
            step: Some("ship"),
            steps_completed: 2,
            ..
        }
    ));
    assert_eq!(
        shop.journal.entries(),
        [
            "reserve",
            "charge",
            "ship began",
            "abort ship: cancelled: user left",
            "refund 70 began",
            "refund 70 done",
            "restock 7"
        ]
    );
    assert_eq!(
        steps_of(outcome.report().compensations()),
        ["charge", "reserve"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancel_during_a_compensation_does_not_interrupt_it() {
    let shop = shop(None);
    let handle = shop.execute_order(Passport::new(Plan::ShipHangs)).unwrap();
    soon("ship began", shop.journal.wait_for("ship began")).await;
    let first = shop.tasks.cancel(handle.id(), "user left");
    soon("refund began", shop.journal.wait_for("refund 70 began")).await;
    // The refund takes one second; a second cancel lands in the middle of it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = shop.tasks.cancel(handle.id(), "again");
    let outcome = handle.await;
    assert!(first.await.is_some());
    let _ = second.await;
    assert!(shop.journal.contains("refund 70 done"));
    assert!(shop.journal.contains("restock 7"));
    assert!(matches!(
        outcome.ending(),
        Ending::Cancelled { reason, .. } if *reason == CancelReason::from("user left")
    ));
    assert_eq!(outcome.report().compensations().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failing_compensation_is_recorded_and_the_others_still_run() {
    let shop = shop(None);
    let outcome = shop
        .execute_order(Passport::new(Plan::RefundFails))
        .unwrap()
        .await;
    assert_eq!(
        outcome.report().compensations(),
        [
            Compensation::Failed {
                step: "charge",
                error: "the bank refused the refund".into()
            },
            Compensation::Completed {
                step: "reserve",
                duration: Duration::ZERO
            }
        ]
    );
    assert!(shop.journal.contains("restock 7"));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_compensation_is_recorded_and_the_others_still_run() {
    silence_planned_panics();
    let shop = shop(None);
    let outcome = shop
        .execute_order(Passport::new(Plan::RefundPanics))
        .unwrap()
        .await;
    assert_eq!(
        outcome.report().compensations(),
        [
            Compensation::Panicked {
                step: "charge",
                message: "planned panic: the bank is on fire".into()
            },
            Compensation::Completed {
                step: "reserve",
                duration: Duration::ZERO
            }
        ]
    );
    assert_eq!(
        outcome.ending(),
        &Ending::Failed {
            step: "ship",
            error: ShopError::NoCarrier
        }
    );
}

/// A flow whose steps' compensations are bounded by its cleanup deadline, and whose last
/// step overruns its own time limit.
#[derive(HasTaskManager)]
struct Slow {
    tasks: TaskManager,
    journal: Journal,
}

#[flow(name = slow, cleanup_timeout = "100ms")]
impl Slow {
    #[step(compensate = undo_first)]
    async fn first(&self, _task: &mut Task) -> Result<u8, ShopError> {
        Ok(1)
    }

    #[step(compensate = undo_second)]
    async fn second(&self, _task: &mut Task, _input: u8) -> Result<u8, ShopError> {
        Ok(2)
    }

    #[step(timeout = "1s")]
    async fn third(&self, _task: &mut Task, _input: u8) -> Result<u8, ShopError> {
        std::future::pending().await
    }

    /// Never finishes: dropped at the cleanup deadline.
    async fn undo_second(&self, _task: &mut Task, _output: u8) {
        self.journal.record("undo second began");
        std::future::pending::<()>().await;
    }

    async fn undo_first(&self, _task: &mut Task, output: u8) {
        self.journal.record(format_args!("undo first ({output})"));
    }
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_task_compensates_and_a_hanging_compensation_is_dropped_at_the_deadline() {
    let slow = Arc::new(Slow {
        tasks: TaskManager::new(),
        journal: Journal::new(),
    });
    let started = tokio::time::Instant::now();
    let outcome = slow.execute_slow(Passport::new(())).unwrap().await;
    assert!(matches!(
        outcome.ending(),
        Ending::TimedOut { step: "third", .. }
    ));
    assert_eq!(
        outcome.report().compensations(),
        [
            Compensation::TimedOut {
                step: "second",
                after: Duration::from_millis(100)
            },
            Compensation::Completed {
                step: "first",
                duration: Duration::ZERO
            }
        ]
    );
    assert_eq!(
        slow.journal.entries(),
        ["undo second began", "undo first (1)"]
    );
    assert_eq!(started.elapsed(), Duration::from_millis(1_100));
}
