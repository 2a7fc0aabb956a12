//! How many tasks of a flow wait and run: [`TaskManager::counts`](crate::TaskManager::counts).

/// The tasks of one flow on one manager, by state, as counted by
/// [`TaskManager::counts`](crate::TaskManager::counts).
///
/// ```
/// use task_manager_core::{FlowCounts, TaskManager};
///
/// let tasks = TaskManager::new();
/// assert_eq!(tasks.counts("query"), FlowCounts::default());
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct FlowCounts {
    /// Waiting in the flow's queue for admission (not yet started). Cancelled tasks on their
    /// way out are not counted.
    pub queued: usize,
    /// Admitted and not yet ended: running a step, between steps, waiting for a step's
    /// resource, or being cancelled.
    pub running: usize,
    /// Of the running ones, those waiting for a step's resource.
    pub waiting_for_resource: usize,
}
