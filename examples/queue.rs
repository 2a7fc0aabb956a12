//! The queue add-on: a flow limited to one task at a time, a queued task cancelled before it
//! started, a full queue refusing a task, and a step-level resource limit.
//!
//! Run it with `cargo run --example queue`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{
    flow, CancelReason, HasTaskManager, Passport, SubmitError, Task, TaskManager, TaskState,
};

#[derive(HasTaskManager)]
struct Studio {
    tasks: TaskManager,
    /// How many `send` steps hold a "db" permit right now, and the most ever seen.
    in_db: AtomicUsize,
    most_in_db: AtomicUsize,
}

/// One render at a time; at most two more wait.
#[flow(name = render, limit = 1, queue = 2)]
impl Studio {
    #[step(cancel = abort_render)]
    async fn draw(&self, task: &mut Task<&'static str>) -> Result<&'static str, Infallible> {
        println!("  render {:<6} starts", task.payload());
        tokio::time::sleep(Duration::from_millis(50)).await;
        println!("  render {:<6} ends", task.payload());
        Ok(task.payload())
    }

    async fn abort_render(&self, task: &mut Task<&'static str>, reason: CancelReason) {
        // Never printed for a task cancelled in the queue: it never began.
        println!("  render {} cleaned up ({reason})", task.payload());
    }
}

/// No task-level limit: every query prepares at once; only `send` waits for the database.
#[flow(name = query)]
impl Studio {
    #[step]
    async fn prepare(&self, task: &mut Task<u32>) -> Result<u32, Infallible> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok(*task.payload())
    }

    #[step(resource = "db")]
    async fn send(&self, _task: &mut Task<u32>, query: u32) -> Result<u32, Infallible> {
        let now = self.in_db.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_db.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        self.in_db.fetch_sub(1, Ordering::SeqCst);
        Ok(query * 10)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let studio = Arc::new(Studio {
        tasks: TaskManager::builder().resource("db", 2).build()?,
        in_db: AtomicUsize::new(0),
        most_in_db: AtomicUsize::new(0),
    });

    // 1. A flow limited to one at a time: three renders run one after the other.
    println!("1. three renders, one at a time:");
    let handles =
        ["first", "second", "third"].map(|name| studio.execute_render(Passport::new(name)));
    for handle in handles {
        println!("   -> {:?}", handle?.await.into_result()?);
    }

    // 2. A queued task cancelled before it started: it leaves the queue at once, runs no
    //    step and no cleanup, and the task behind it moves up.
    println!("2. cancel a queued render:");
    let running = studio.execute_render(Passport::new("busy"))?;
    let doomed = Passport::new("doomed");
    let doomed_id = doomed.id();
    let doomed = studio.execute_render(doomed)?;
    let next = Passport::new("next");
    let next_id = next.id();
    let next = studio.execute_render(next)?;
    println!(
        "   doomed is {:?}",
        studio.tasks.status(doomed_id).map(|s| s.state)
    );
    println!(
        "   cancel(doomed) -> {:?}",
        studio.tasks.cancel(doomed_id, "no longer wanted").status()
    );
    println!(
        "   next is now {:?}",
        studio.tasks.status(next_id).map(|s| s.state)
    );
    let outcome = doomed.await;
    println!(
        "   doomed: {} (report: {:?})",
        outcome.ending(),
        outcome.report().cleanup
    );
    running.await.into_result()?;
    next.await.into_result()?;

    // 3. A full queue refuses at once: one runs, two wait, the fourth is refused.
    println!("3. a full queue:");
    let mut accepted = Vec::new();
    for name in ["a", "b", "c", "d"] {
        match studio.execute_render(Passport::new(name)) {
            Ok(handle) => accepted.push(handle),
            Err(refused @ SubmitError::QueueFull { .. }) => println!("   {name}: {refused}"),
            Err(other) => return Err(other.into()),
        }
    }
    assert!(matches!(
        studio.tasks.status(accepted[2].id()).map(|s| s.state),
        Some(TaskState::Queued { position: 1 })
    ));
    for handle in accepted {
        handle.await.into_result()?;
    }

    // 4. A step-level limit: eight queries prepare together, but never more than two hold
    //    the "db" resource at once.
    println!("4. eight queries, two database permits:");
    let queries: Vec<_> = (1..=8)
        .map(|n| studio.execute_query(Passport::new(n)))
        .collect::<Result<_, _>>()?;
    let mut results = Vec::new();
    for query in queries {
        results.push(query.await.into_result()?);
    }
    println!(
        "   results {results:?}; at most {} in the database at once",
        studio.most_in_db.load(Ordering::SeqCst)
    );
    assert_eq!(studio.most_in_db.load(Ordering::SeqCst), 2);
    assert!(studio.tasks.is_empty());
    Ok(())
}
