//! Graceful shutdown: refuse new tasks, cancel every registered one, wait for the cleanups
//! up to a grace period, and say which did not finish.
//!
//! Every task a manager knows of is in its registry from submission to its end (a task that
//! waits for admission included), so one sweep of the registry reaches all of them; see
//! `Registry::insert` for why no task submitted during the sweep escapes it.

use std::time::Duration;

use futures_util::FutureExt;
use tokio::time::Instant;

use crate::cleanup::Cleanup;
use crate::id::TaskId;
use crate::manager::TaskManager;
use crate::reason::CancelStatus;
use crate::reason::{CancelReason, CancelSource};

/// What [`TaskManager::shutdown`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// How many tasks this shutdown cancelled (its cancel was the first).
    pub cancelled: usize,
    /// How many tasks were already on their way out (cancelled earlier, or ending by
    /// themselves); they were waited for too.
    pub already_ending: usize,
    /// Each task that ended within the grace period, with its cleanup: `None` for a task that
    /// ended by itself rather than by a cancel.
    pub finished: Vec<(TaskId, Option<Cleanup>)>,
    /// The tasks still running (in practice: still cleaning up) when the grace period ran out.
    /// They go on in the background; their handles still deliver their outcomes.
    pub unfinished: Vec<UnfinishedTask>,
}

impl ShutdownReport {
    /// Whether every task ended within the grace period.
    pub fn is_clean(&self) -> bool {
        self.unfinished.is_empty()
    }
}

/// A task that had not ended when the shutdown's grace period ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnfinishedTask {
    /// The task.
    pub id: TaskId,
    /// Its flow.
    pub flow: &'static str,
    /// The step it was stopped in (whose cleanup is still running); `None` if no step had begun.
    pub step: Option<&'static str>,
}

impl TaskManager {
    /// Shuts the manager down gracefully:
    /// 1. from now on it refuses new tasks with [`SubmitError::ShuttingDown`](crate::SubmitError::ShuttingDown)
    ///    (through every clone of it, for good);
    /// 2. it cancels every registered task (running, or waiting for admission) with
    ///    [`CancelReason::Shutdown`]; a task already being cancelled keeps its first reason;
    /// 3. it waits until every one of them has ended (its cleanup done), for at most `grace`;
    /// 4. it reports which tasks ended, with their cleanups, and which were still cleaning up
    ///    when `grace` ran out. Those are not killed: they go on in the background (give the
    ///    flows a cleanup deadline, `#[flow(cleanup_timeout = "..")]`, to bound them).
    ///
    /// Calling it again cancels and waits for whatever is still registered.
    ///
    /// # Dropping the manager instead
    /// Dropping a `TaskManager` (every clone of it) does **not** stop its tasks: each running
    /// task holds the registry (and the flow struct, through the `Arc` the generated code
    /// keeps), so it runs to its end, stays cancellable through its handle, and removes itself;
    /// the registry is freed with the last task. To stop everything, shut down first.
    ///
    /// ```
    /// use std::time::Duration;
    /// use task_manager_core::TaskManager;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let tasks = TaskManager::new();
    /// let report = tasks.shutdown(Duration::from_secs(10)).await;
    /// assert!(report.is_clean());
    /// assert!(tasks.is_shutting_down());
    /// # }
    /// ```
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        self.registry.begin_shutdown();
        let deadline = Instant::now().checked_add(grace);
        let mut report = ShutdownReport::default();
        for cancellation in self
            .cancel_all_by(CancelReason::Shutdown, CancelSource::Shutdown)
            .cancellations
        {
            match cancellation.status() {
                CancelStatus::Requested => report.cancelled += 1,
                _ => report.already_ending += 1,
            }
            let id = cancellation.id();
            let mut ended = cancellation;
            let cleanup = match deadline {
                Some(deadline) => match tokio::time::timeout_at(deadline, &mut ended).await {
                    Ok(cleanup) => Some(cleanup),
                    // It may have ended at the very deadline: look once more.
                    Err(_) => (&mut ended).now_or_never(),
                },
                None => Some((&mut ended).await),
            };
            match cleanup {
                Some(cleanup) => report.finished.push((id, cleanup)),
                None => report.unfinished.push(UnfinishedTask {
                    id,
                    flow: ended
                        .task()
                        .map_or("<unknown flow>", |task| task.flow().name()),
                    step: ended
                        .task()
                        .and_then(|task| Some(task.flow().step_name(task.step()?))),
                }),
            }
        }
        report
    }

    /// Whether [`shutdown`](Self::shutdown) has been called (on this manager or a clone).
    pub fn is_shutting_down(&self) -> bool {
        self.registry.is_shutting_down()
    }
}
