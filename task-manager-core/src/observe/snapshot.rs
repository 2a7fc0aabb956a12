//! `TaskManager::snapshot`: the live status of every task at once.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::id::TaskId;
use crate::manager::{status_of, TaskManager, TaskStatus};
use crate::shared::TaskShared;

/// One running task as [`TaskManager::snapshot`] saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskSnapshot {
    /// The task.
    pub id: TaskId,
    /// Its flow, state, step and progress, as [`TaskManager::status`] gives them.
    pub status: TaskStatus,
    /// Time since it was submitted (tokio's clock: a paused test clock stands still).
    pub elapsed: Duration,
}

impl TaskManager {
    /// Every running task's id, flow, state, current step, age and progress, oldest first.
    ///
    /// It locks one registry shard at a time to copy the tasks out, then reads each task's
    /// status; a task that starts or ends meanwhile may or may not be listed. Meant for
    /// dashboards and debugging endpoints: it allocates, so do not call it per task.
    ///
    /// ```
    /// # use task_manager_core::TaskManager;
    /// # let tasks = TaskManager::new();
    /// for task in tasks.snapshot() {
    ///     println!("{task}");  // id, flow, state, step, age, progress on one line
    /// }
    /// ```
    pub fn snapshot(&self) -> Vec<TaskSnapshot> {
        let mut found: Vec<(TaskId, Arc<TaskShared>)> = Vec::new();
        // Copy out first: reading a task's status under a shard lock would nest its locks
        // inside the shard's.
        self.registry
            .for_each(|id, task| found.push((id, Arc::clone(task))));
        found.sort_by_key(|(_, task)| task.live().submitted_at);
        let now = Instant::now();
        found
            .into_iter()
            .map(|(id, task)| TaskSnapshot {
                id,
                status: status_of(&task, &self.registry),
                elapsed: now.saturating_duration_since(task.live().submitted_at),
            })
            .collect()
    }
}

impl fmt::Display for TaskSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = &self.status;
        write!(f, "{} {} {:?}", self.id, status.flow, status.state)?;
        match (status.step, status.step_index) {
            (Some(step), Some(index)) => write!(f, " at step {index} `{step}`")?,
            _ => f.write_str(" before its first step")?,
        }
        write!(f, ", {:?} old", self.elapsed)?;
        if let Some(progress) = status.progress {
            write!(f, ", progress {progress}")?;
        }
        Ok(())
    }
}
