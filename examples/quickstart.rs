//! The seed README's example in Rust: a two-step flow, runtime info written by the first
//! step, a cancel by id from elsewhere, and a cancel by timeout.
//!
//! Run it with `cargo run --example quickstart`. (Its items are `pub` so that
//! `tests/explore_examples.rs` can run the cancellation explorer on this very flow.)

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{flow, CancelReason, HasTaskManager, Passport, Task, TaskManager};

/// What the steps learn while they run: typed, no string keys.
#[derive(Debug, Default)]
pub struct MyInfo {
    pub some_runtime_value: Option<&'static str>,
}

/// The request: what kind of work, and its payload.
#[derive(Debug)]
pub struct Job {
    pub work: Duration,
}

pub type MyTask = Task<Job, MyInfo>;

#[derive(HasTaskManager)]
pub struct MyTaskManager {
    pub tasks: TaskManager,
}

#[flow(name = test_flow)]
impl MyTaskManager {
    #[step(cancel = clean_up_step_1)]
    async fn step_1(&self, task: &mut MyTask) -> Result<(), Infallible> {
        // do something 1
        tokio::time::sleep(task.payload().work).await;
        task.info_mut().some_runtime_value = Some("some_runtime_value");
        Ok(())
    }

    #[step(cancel = clean_up_step_2)]
    async fn step_2(&self, task: &mut MyTask) -> Result<&'static str, Infallible> {
        // do something 2
        tokio::time::sleep(task.payload().work).await;
        Ok("step_2_result")
    }

    async fn clean_up_step_1(&self, task: &mut MyTask, reason: CancelReason) {
        println!("  cleanup of step_1 for task {} ({reason})", task.id());
    }

    async fn clean_up_step_2(&self, task: &mut MyTask, reason: CancelReason) {
        println!(
            "  cleanup of step_2 for task {} ({reason}); step_1 had written {:?}",
            task.id(),
            task.info().some_runtime_value
        );
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manager = Arc::new(MyTaskManager {
        tasks: TaskManager::new(),
    });

    // 1. For each incoming request: a passport, then the flow.
    let outcome = manager
        .execute_test_flow(Passport::new(Job {
            work: Duration::from_millis(10),
        }))?
        .await;
    println!("1. {} -> {:?}", outcome.ending(), outcome.report().info);
    println!("   result: {:?}", outcome.into_result()?);

    // 2. Cancel request: keep the id, cancel from anywhere (here, another task).
    let passport = Passport::new(Job {
        work: Duration::from_millis(200),
    });
    let id = passport.id();
    let handle = manager.execute_test_flow(passport)?;
    let canceller = Arc::clone(&manager);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await; // step_2 is running by now
        let cancellation = canceller.tasks.cancel(id, "the user left");
        println!("2. cancel({id}) -> {:?}", cancellation.status());
        let cleanup = cancellation.await;
        println!("   cleanup finished: {cleanup:?}");
    });
    let outcome = handle.await;
    println!("   {}", outcome.ending());
    for step in outcome.report().steps() {
        println!(
            "   step {:<6} {:?} after {:?}",
            step.name, step.end, step.duration
        );
    }

    // 3. Cancel by timeout: a deadline on the passport (or `#[flow(timeout = "..")]`).
    let passport = Passport::new(Job {
        work: Duration::from_millis(200),
    })
    .with_timeout(Duration::from_millis(100));
    let outcome = manager.execute_test_flow(passport)?.await;
    println!("3. {}", outcome.ending());
    let error = outcome.into_result().unwrap_err();
    println!("   as an error: {error}");
    assert!(error.is_timeout());

    assert!(
        manager.tasks.is_empty(),
        "every finished task has left the registry"
    );
    Ok(())
}
