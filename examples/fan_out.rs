//! Sub-flows and fan-out: a report runs one query per shard as child tasks.
//!
//! 1. `try_join` with `limit(2)`: at most two shard queries at once, results in order.
//! 2. A shard fails: `try_join` cancels the others (`SiblingFailed`) and waits for their
//!    cleanups before it answers.
//! 3. `race` two mirrors: the slower one is cancelled (`RaceLost`) and cleaned up.
//! 4. The user cancels the report while its shards run: every child is cancelled with
//!    `Parent { reason }`, their cleanups finish before the report's own, and the report's
//!    `Cancellation` lists them.
//!
//! Run it with `cargo run --example fan_out`.

use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{flow, CancelReason, HasTaskManager, Passport, Task, TaskManager};

/// One shard's query.
#[derive(Debug, Clone)]
pub struct Shard {
    pub name: String,
    pub millis: u64,
    pub fails: bool,
}

impl Shard {
    fn new(name: &str, millis: u64) -> Self {
        Shard {
            name: name.to_owned(),
            millis,
            fails: false,
        }
    }
}

/// The child flow: one query against one shard.
#[derive(HasTaskManager)]
pub struct Shards {
    tasks: TaskManager,
}

#[flow(name = shard_query)]
impl Shards {
    #[step(cancel = abort_query)]
    async fn query(&self, task: &mut Task<Shard>) -> Result<u64, String> {
        let shard = task.payload().clone();
        tokio::time::sleep(Duration::from_millis(shard.millis)).await;
        if shard.fails {
            return Err(format!("shard {} is down", shard.name));
        }
        Ok(shard.millis * 10)
    }

    async fn abort_query(&self, task: &mut Task<Shard>, reason: CancelReason) {
        println!("    cleanup of shard {}: {reason}", task.payload().name);
    }
}

/// How the report fans in.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    AllLimited,
    Race,
}

/// The parent flow: a report over shards.
#[derive(HasTaskManager)]
pub struct Reports {
    tasks: TaskManager,
    /// The child flows' struct, on the same manager (a clone shares the registry).
    shards: Arc<Shards>,
}

#[flow(name = report)]
impl Reports {
    #[step(cancel = abort_report)]
    async fn query_shards(&self, task: &mut Task<(Mode, Vec<Shard>)>) -> Result<Vec<u64>, String> {
        let (mode, shards) = task.payload().clone();
        let children = shards.into_iter().map(|shard| {
            self.shards
                .execute_shard_query(task.child(Passport::new(shard)))
        });
        match mode {
            Mode::AllLimited => task
                .fan_out(children)
                .limit(2)
                .try_join()
                .await
                .map_err(|error| error.to_string()),
            Mode::Race => {
                let (index, outcome) = task
                    .fan_out(children)
                    .race()
                    .await
                    .map_err(|e| e.to_string())?;
                println!("    mirror {index} won: {}", outcome.ending());
                outcome
                    .into_result()
                    .map(|rows| vec![rows])
                    .map_err(|e| e.to_string())
            }
        }
    }

    async fn abort_report(&self, task: &mut Task<(Mode, Vec<Shard>)>, reason: CancelReason) {
        println!("    cleanup of the report {}: {reason}", task.id());
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let tasks = TaskManager::new();
    let shards = Arc::new(Shards {
        tasks: tasks.clone(),
    });
    let reports = Arc::new(Reports {
        tasks: tasks.clone(),
        shards,
    });
    let run = |mode, shards: Vec<Shard>| {
        reports
            .execute_report(Passport::new((mode, shards)))
            .expect("submitted")
    };

    println!("1. four shards, at most two at once:");
    let outcome = run(
        Mode::AllLimited,
        vec![
            Shard::new("eu", 30),
            Shard::new("us", 10),
            Shard::new("ap", 20),
            Shard::new("sa", 5),
        ],
    )
    .await;
    println!("   {}", outcome.ending());
    assert_eq!(
        outcome.into_result().expect("all shards answer"),
        [300, 100, 200, 50]
    );

    println!("2. one shard fails; the others are cancelled and cleaned up first:");
    let mut down = Shard::new("us", 5);
    down.fails = true;
    let outcome = run(Mode::AllLimited, vec![Shard::new("eu", 1_000), down]).await;
    println!("   {}", outcome.ending());
    assert!(!outcome.is_completed());

    println!("3. race two mirrors:");
    let outcome = run(
        Mode::Race,
        vec![Shard::new("slow", 1_000), Shard::new("fast", 10)],
    )
    .await;
    assert_eq!(outcome.into_result().expect("the fast mirror wins"), [100]);

    println!("4. the user cancels the report while its shards run:");
    let passport = Passport::new((
        Mode::AllLimited,
        vec![Shard::new("eu", 60_000), Shard::new("us", 60_000)],
    ));
    let id = passport.id();
    let handle = reports.execute_report(passport).expect("submitted");
    while tasks.children(id).len() < 2 {
        tokio::task::yield_now().await;
    }
    let tree = tasks.tree(id).expect("the report runs");
    println!(
        "   the tree: report {} with children {:?}",
        tree.id,
        tasks.children(id)
    );
    let mut cancellation = tasks.cancel(id, "user left");
    let own = (&mut cancellation).await;
    println!("   the report's cleanup: {own:?}");
    for child in cancellation.descendants() {
        println!(
            "   child {} ({}): {:?}",
            child.id, child.flow, child.cleanup
        );
    }
    assert_eq!(cancellation.descendants().len(), 2);
    assert!(handle.await.is_cancelled());
    assert!(tasks.is_empty());
    println!("done: every task ended, every cleanup ran once");
}
