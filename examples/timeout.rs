//! Deadlines: a whole-task timeout set on the flow, and one set per call on the passport.
//! At the deadline the task is cancelled with `CancelReason::Timeout` and the cleanup of the
//! step in progress runs, exactly as for any other cancel. A task that finishes first is
//! not affected.
//!
//! Run it with `cargo run --example timeout`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{flow, CancelReason, HasTaskManager, Passport, Task, TaskManager};

/// How long the remote service takes to answer.
#[derive(Debug, Clone, Copy)]
struct Call {
    latency: Duration,
}

#[derive(HasTaskManager)]
struct Lookups {
    tasks: TaskManager,
}

#[flow(name = lookup, timeout = "150ms")]
impl Lookups {
    #[step(cancel = hang_up)]
    async fn call(&self, task: &mut Task<Call>) -> Result<&'static str, Infallible> {
        tokio::time::sleep(task.payload().latency).await;
        Ok("answer")
    }

    async fn hang_up(&self, task: &mut Task<Call>, reason: CancelReason) {
        println!(
            "    cleanup: hanging up the call of {:?} ({reason})",
            task.payload().latency
        );
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lookups = Arc::new(Lookups {
        tasks: TaskManager::new(),
    });
    let runs = [
        (
            "fast call, flow deadline 150ms",
            Passport::new(Call {
                latency: Duration::from_millis(20),
            }),
        ),
        (
            "slow call, flow deadline 150ms",
            Passport::new(Call {
                latency: Duration::from_secs(10),
            }),
        ),
        (
            "slow-ish call, deadline 400ms on the passport",
            Passport::new(Call {
                latency: Duration::from_millis(250),
            })
            .with_timeout(Duration::from_millis(400)),
        ),
        (
            "fast-ish call, deadline 30ms on the passport",
            Passport::new(Call {
                latency: Duration::from_millis(60),
            })
            .with_timeout(Duration::from_millis(30)),
        ),
    ];
    for (what, passport) in runs {
        println!("{what}:");
        let outcome = lookups.execute_lookup(passport)?.await;
        println!(
            "    {} after {:?}",
            outcome.ending(),
            outcome.report().duration()
        );
        if let Err(error) = outcome.into_result() {
            println!("    timed out: {}", error.is_timeout());
        }
    }
    Ok(())
}
