//! Bounded concurrency (the queue add-on's job): many 3-step tasks through a limit of a few
//! running at once, against a hand-written `Semaphore`.
//!
//! Both hand-written variants build on baseline (b), so they stay cancellable by id. The
//! library's variant runs the workload the integration tests check
//! (`tests/queue_bench/mod.rs`): the same three yielding steps as a `#[flow]` limited by the
//! manager's builder, every task submitted at once and waiting in the add-on's queue.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::contenders::token::{cancellable_flow, Registry};
use crate::measure::{median, timed, PerItem};
use crate::runtime::Flavor;
use crate::steps::Steps;

// The file allows the parts of it the suite does not use (`run_windowed`, `tasks`).
#[path = "../../../../tests/queue_bench/mod.rs"]
mod queue_bench;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Spawn every task at once; each waits for a permit, raced against its token.
    WaitInTask,
    /// The submitter acquires a permit before spawning (back-pressure) and moves it in.
    AcquireBeforeSpawn,
    /// The library's queue add-on: every task submitted at once, queued by the library.
    Library,
}

impl Variant {
    pub const ALL: [Variant; 3] = [
        Variant::WaitInTask,
        Variant::AcquireBeforeSpawn,
        Variant::Library,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Variant::WaitInTask => "semaphore: spawn all, wait in task",
            Variant::AcquireBeforeSpawn => "semaphore: acquire before spawn",
            Variant::Library => "library queue add-on",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Row {
    pub variant: Variant,
    pub flavor: Flavor,
    pub tasks: usize,
    pub permits: usize,
    pub cost: PerItem,
}

const STEPS: Steps = Steps::Three;

/// Median over `reps` runs.
pub fn measure(
    variant: Variant,
    flavor: Flavor,
    tasks: usize,
    permits: usize,
    reps: usize,
) -> Option<Row> {
    let samples: Vec<PerItem> = (0..reps)
        .map(|_| {
            let runtime = flavor.runtime();
            let run = || {
                runtime.block_on(async {
                    tokio::spawn(submit(variant, tasks, permits))
                        .await
                        .expect("submitter panicked")
                })
            };
            run();
            let ((), cost) = timed(run);
            cost.per_item(tasks)
        })
        .collect();
    Some(Row {
        variant,
        flavor,
        tasks,
        permits,
        cost: median(&samples),
    })
}

async fn submit(variant: Variant, tasks: usize, permits: usize) {
    if variant == Variant::Library {
        let limited = queue_bench::Limited::new(permits, tasks);
        assert_eq!(limited.run_all(tasks).await, tasks, "every task completes");
        return;
    }
    let registry = Arc::new(Registry::default());
    let semaphore = Arc::new(Semaphore::new(permits));
    let mut handles = Vec::with_capacity(tasks);
    for _ in 0..tasks {
        let (id, token) = registry.register();
        let flow = cancellable_flow(registry.clone(), id, token.clone(), STEPS.count());
        let handle = match variant {
            Variant::WaitInTask => {
                let semaphore = semaphore.clone();
                tokio::spawn(async move {
                    let _permit = tokio::select! {
                        biased;
                        () = token.cancelled() => return None,
                        permit = semaphore.acquire() => permit.expect("semaphore is never closed"),
                    };
                    flow.await.ok()
                })
            }
            Variant::AcquireBeforeSpawn => {
                let permit = semaphore.clone().acquire_owned().await;
                let permit = permit.expect("semaphore is never closed");
                tokio::spawn(async move {
                    let output = flow.await.ok();
                    drop(permit);
                    output
                })
            }
            Variant::Library => unreachable!("run above"),
        };
        handles.push(handle);
    }
    for handle in handles {
        let output = handle.await.expect("queued task panicked");
        assert_eq!(output, Some(STEPS.expected_output()));
    }
}
