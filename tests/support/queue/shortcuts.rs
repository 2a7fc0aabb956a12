//! The lines most queue tests begin and end with, said once: a manager whose `work` flow has
//! a limit, a submission that keeps the task's id, a task's state, and "every one of these
//! tasks completes".

use std::sync::Arc;

use task_manager_core::{Limit, Passport, SubmitError, TaskHandle, TaskId, TaskManager, TaskState};

use super::{Job, JobFailed, Jobs, Release};
use crate::soon;

/// The handle of a task of any of the test flows (each ends with the job's name).
pub type JobHandle = TaskHandle<String, JobFailed, ()>;

/// One of the generated `execute_<flow>` methods (`Jobs::execute_work`, `Jobs::execute_save`,
/// ..), so that one helper serves every flow and the test still says which one it submits to.
pub type Execute = fn(&Arc<Jobs>, Passport<Job>) -> Result<JobHandle, SubmitError>;

impl Jobs {
    /// The test flows on a manager that limits `work` by `limit` (a number of places, or a
    /// [`Limit`] with its queue settings) and nothing else.
    pub fn with_work_limit(limit: impl Into<Limit>) -> Arc<Self> {
        Jobs::new(
            TaskManager::builder()
                .limit_flow("work", limit)
                .build()
                .unwrap(),
        )
    }

    /// What the manager says task `id` is doing; `None` once the task left the registry.
    pub fn state(&self, id: TaskId) -> Option<TaskState> {
        self.tasks.status(id).map(|status| status.state)
    }

    /// Submits `job` with `execute`, which must accept it, and keeps the task's id: for a
    /// test that asks about the task, or cancels it, by id.
    pub fn submit(self: &Arc<Self>, execute: Execute, job: Job) -> (TaskId, JobHandle) {
        let passport = Passport::new(job);
        let id = passport.id();
        (id, execute(self, passport).unwrap())
    }

    /// Submits a [`gated`](super::gated) job named `name` with `execute`, which must accept
    /// it: the task's step, once begun, waits inside until the test releases it.
    pub fn submit_gated(self: &Arc<Self>, execute: Execute, name: &str) -> (JobHandle, Release) {
        let (job, release) = super::gated(name);
        (execute(self, Passport::new(job)).unwrap(), release)
    }
}

/// Awaits every task of `handles`, in order, and fails the test unless each completes
/// (`what` names one task's end in the failure, as in "a job's end did not happen").
pub async fn all_complete(what: &str, handles: impl IntoIterator<Item = JobHandle>) {
    for handle in handles {
        soon(what, handle).await.into_result().unwrap();
    }
}
