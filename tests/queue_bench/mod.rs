//! The queue benchmark's workload, for the benchmark suite and for a smoke test: the
//! hand-written baseline's task (three steps, each yielding once; see
//! `reference/limits.md`) as a `#[flow]` limited to a few tasks at once.
//!
//! A benchmark includes this file (`#[path = "../../tests/queue_bench/mod.rs"] mod
//! queue_bench;` from `task-manager-core/benches/`) and times, on a runtime of its choice (no
//! timer needed), one of:
//!
//! ```ignore
//! // ~ "spawn all, each waits for a permit": 100,000 tasks, 4 at once, the rest queued.
//! let bench = queue_bench::Limited::new(4, 100_000);
//! assert_eq!(bench.run_all(100_000).await, 100_000);
//!
//! // ~ "the submitter acquires a permit before spawning": never more than 4 submitted.
//! let bench = queue_bench::Limited::new(4, 1);
//! assert_eq!(bench.run_windowed(100_000, 4).await, 100_000);
//! ```

#![allow(dead_code)] // a test uses part of it, a benchmark another

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use task_manager_core::{flow, HasTaskManager, Limit, Passport, Task, TaskHandle, TaskManager};

/// The manager of the benchmark's flow.
#[derive(HasTaskManager)]
pub struct Limited {
    tasks: TaskManager,
}

/// `limited`: three steps, each yielding once, like the baseline's hand-written task. Its
/// limit is given by the builder in [`Limited::new`].
#[flow(name = limited)]
impl Limited {
    #[step]
    async fn first(&self, _task: &mut Task) -> Result<(), Infallible> {
        tokio::task::yield_now().await;
        Ok(())
    }

    #[step]
    async fn second(&self, _task: &mut Task) -> Result<(), Infallible> {
        tokio::task::yield_now().await;
        Ok(())
    }

    #[step]
    async fn third(&self, _task: &mut Task) -> Result<(), Infallible> {
        tokio::task::yield_now().await;
        Ok(())
    }
}

impl Limited {
    /// A manager whose `limited` flow runs at most `permits` tasks at once, with a queue of
    /// `capacity`.
    pub fn new(permits: usize, capacity: usize) -> Arc<Self> {
        let tasks = TaskManager::builder()
            .limit_flow("limited", Limit::new(permits).with_queue_capacity(capacity))
            .build()
            .expect("a valid limit");
        Arc::new(Limited { tasks })
    }

    /// Submits `tasks` tasks at once (all but the first `permits` wait in the queue, which
    /// must hold them), then awaits every one. Returns how many completed.
    pub async fn run_all(self: &Arc<Self>, tasks: usize) -> usize {
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                self.execute_limited(Passport::new(()))
                    .expect("the queue has room for every task")
            })
            .collect();
        let mut completed = 0;
        for handle in handles {
            completed += usize::from(handle.await.is_completed());
        }
        completed
    }

    /// Submits `tasks` tasks, keeping at most `window` submitted and not yet awaited: when
    /// the window is full, it awaits the oldest before submitting the next (back-pressure;
    /// `window` must not exceed `permits` + the queue's capacity). Returns how many completed.
    pub async fn run_windowed(self: &Arc<Self>, tasks: usize, window: usize) -> usize {
        let mut in_flight: VecDeque<TaskHandle<(), Infallible, ()>> =
            VecDeque::with_capacity(window);
        let mut completed = 0;
        for _ in 0..tasks {
            if in_flight.len() == window {
                if let Some(oldest) = in_flight.pop_front() {
                    completed += usize::from(oldest.await.is_completed());
                }
            }
            in_flight.push_back(
                self.execute_limited(Passport::new(()))
                    .expect("the window fits the limit and its queue"),
            );
        }
        for handle in in_flight {
            completed += usize::from(handle.await.is_completed());
        }
        completed
    }

    /// The manager (for checks: is it empty at the end?).
    pub fn tasks(&self) -> &TaskManager {
        &self.tasks
    }
}
