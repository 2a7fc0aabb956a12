//! The fixture of the tests about task ids (`tests/cancel_unknown_or_finished.rs`,
//! `tests/duplicate_id.rs`): tasks whose payload is just a name, one step that the test
//! holds at a gate, and a journal that says which task began and which was cleaned up.

use std::convert::Infallible;
use std::sync::Arc;

use task_manager_core::{flow, CancelReason, HasTaskManager, Task, TaskManager};

use crate::{Gate, Journal};

/// The manager of two flows, `job` and `other_job`, whose payload is the task's name.
#[derive(HasTaskManager)]
pub struct NamedJobs {
    /// Their tasks: both flows share this registry, hence its ids.
    pub tasks: TaskManager,
    /// "`name` began", and "cleanup `name`: `reason`" from `job`'s cleanup.
    pub journal: Journal,
    /// Where `job`'s step waits after it began, until the test opens the gate.
    pub working: Gate,
}

impl NamedJobs {
    /// A manager with no tasks, an empty journal and a closed gate.
    pub fn new() -> Arc<Self> {
        Arc::new(NamedJobs {
            tasks: TaskManager::new(),
            journal: Journal::new(),
            working: Gate::new(),
        })
    }
}

/// `job`: records that the task began, waits at [`NamedJobs::working`], returns the name.
#[flow(name = job)]
impl NamedJobs {
    #[step(cancel = undo)]
    async fn work(&self, task: &mut Task<&'static str>) -> Result<&'static str, Infallible> {
        self.journal
            .record(format_args!("{} began", task.payload()));
        self.working.pass().await;
        Ok(task.payload())
    }

    async fn undo(&self, task: &mut Task<&'static str>, reason: CancelReason) {
        self.journal
            .record(format_args!("cleanup {}: {reason}", task.payload()));
    }
}

/// `other_job`: a second flow on the same manager (so, the same registry); records that the
/// task began and ends at once.
#[flow(name = other_job)]
impl NamedJobs {
    #[step]
    async fn other_work(&self, task: &mut Task<&'static str>) -> Result<(), Infallible> {
        self.journal
            .record(format_args!("{} began", task.payload()));
        Ok(())
    }
}
