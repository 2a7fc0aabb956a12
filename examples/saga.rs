//! A saga: reserve stock, charge the card (with a time limit and retries), ship. Shipping
//! fails, so the task ends `Failed` and the completed steps are undone in reverse order: the
//! charge is refunded, then the stock is put back.
//!
//! Run it with `cargo run --example saga`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{
    flow, CancelReason, Ending, HasTaskManager, Jitter, Passport, Retry, Task, TaskManager,
};

/// What the customer ordered.
#[derive(Debug, Clone)]
pub struct Order {
    pub item: &'static str,
    pub cents: u32,
}

/// The shop's one error type (a step's `retry` reports its failed attempts by `Display`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ShopError {
    #[error("the payment provider is unavailable")]
    PaymentUnavailable,
    #[error("the card was declined")]
    Declined,
    #[error("no carrier can take `{0}` today")]
    NoCarrier(&'static str),
}

/// Kept for `restock`: what `reserve` set aside.
#[derive(Debug, Clone)]
pub struct Reservation {
    pub item: &'static str,
    pub cents: u32,
}

/// Kept for `refund`: what `charge` took.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub item: &'static str,
    pub cents: u32,
}

pub type OrderTask = Task<Order>;

#[derive(HasTaskManager)]
pub struct Shop {
    pub tasks: TaskManager,
    /// The payment provider answers "unavailable" this many times before it works.
    pub outages: AtomicU32,
    /// Whether to print what happens (the explorer test runs the flow quietly).
    pub verbose: bool,
}

/// Retry the payment provider's outages (not a declined card), four attempts at most, about
/// 50 ms apart, doubling, within two seconds.
pub fn payment_retries() -> Retry<ShopError> {
    Retry::attempts(4)
        .backoff(Duration::from_millis(50), Duration::from_millis(400))
        .jitter(Jitter::Equal)
        .seed(2026)
        .budget(Duration::from_secs(2))
        .retry_if(|error| matches!(error, ShopError::PaymentUnavailable))
}

#[flow(name = order)]
impl Shop {
    #[step(compensate = restock)]
    async fn reserve(&self, task: &mut OrderTask) -> Result<Reservation, ShopError> {
        let order = task.payload().clone();
        self.say(format_args!("reserve: one `{}` set aside", order.item));
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok(Reservation {
            item: order.item,
            cents: order.cents,
        })
    }

    #[step(cancel = void_attempt, compensate = refund, timeout = "1s", retry = payment_retries)]
    async fn charge(
        &self,
        _task: &mut OrderTask,
        reservation: Reservation,
    ) -> Result<Receipt, ShopError> {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let left = self.outages.load(Ordering::SeqCst);
        if left > 0 {
            self.outages.store(left - 1, Ordering::SeqCst);
            self.say("charge: the payment provider is unavailable");
            return Err(ShopError::PaymentUnavailable);
        }
        self.say(format_args!("charge: {} cents taken", reservation.cents));
        Ok(Receipt {
            item: reservation.item,
            cents: reservation.cents,
        })
    }

    #[step(cancel = abort_shipping)]
    async fn ship(
        &self,
        _task: &mut OrderTask,
        receipt: Receipt,
    ) -> Result<&'static str, ShopError> {
        tokio::time::sleep(Duration::from_millis(10)).await;
        self.say(format_args!("ship: no carrier for `{}`", receipt.item));
        Err(ShopError::NoCarrier(receipt.item))
    }

    /// The cleanup of an interrupted charge attempt (its time limit, or a cancel).
    async fn void_attempt(&self, _task: &mut OrderTask, reason: CancelReason) {
        self.say(format_args!("void the charge attempt ({reason})"));
    }

    async fn abort_shipping(&self, _task: &mut OrderTask, reason: CancelReason) {
        self.say(format_args!("abort shipping ({reason})"));
    }

    /// Undoes a completed `charge`: given a clone of its receipt.
    async fn refund(&self, _task: &mut OrderTask, receipt: Receipt) -> Result<(), ShopError> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        self.say(format_args!(
            "compensate charge: {} cents refunded",
            receipt.cents
        ));
        Ok(())
    }

    /// Undoes a completed `reserve`: given a clone of its reservation.
    async fn restock(&self, _task: &mut OrderTask, reservation: Reservation) {
        self.say(format_args!(
            "compensate reserve: `{}` back in stock",
            reservation.item
        ));
    }
}

impl Shop {
    fn say(&self, what: impl std::fmt::Display) {
        if self.verbose {
            println!("  {what}");
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let shop = Arc::new(Shop {
        tasks: TaskManager::new(),
        outages: AtomicU32::new(2),
        verbose: true,
    });
    let order = Order {
        item: "teapot",
        cents: 2_500,
    };
    println!("order of a {}:", order.item);
    let outcome = shop
        .execute_order(Passport::new(order))
        .expect("the shop takes orders")
        .await;

    println!("ending: {}", outcome.ending());
    let report = outcome.report();
    for attempt in report.attempts() {
        println!(
            "  attempt {} of `{}`: {:?}{}{}",
            attempt.number,
            attempt.step,
            attempt.end,
            attempt
                .error
                .as_ref()
                .map(|error| format!(" ({error})"))
                .unwrap_or_default(),
            attempt
                .delay
                .map(|delay| format!(", next in {delay:?}"))
                .unwrap_or_default(),
        );
    }
    for compensation in report.compensations() {
        println!("  {compensation}");
    }
    assert!(matches!(
        outcome.ending(),
        Ending::Failed {
            step: "ship",
            error: ShopError::NoCarrier("teapot")
        }
    ));
    let undone: Vec<_> = report.compensations().iter().map(|c| c.step()).collect();
    assert_eq!(undone, ["charge", "reserve"], "undone in reverse order");
    assert_eq!(report.attempts().len(), 3, "two outages, then the charge");
}
