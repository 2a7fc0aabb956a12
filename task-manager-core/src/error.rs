//! Why a task could not be submitted.

use crate::id::TaskId;

/// A task that was refused at submission. Nothing of it ran; nothing was registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// A task with this id is already running. It keeps running and stays cancellable
    /// under its id; give the new task another id (or none, for a fresh one).
    #[error("task {id} of flow `{flow}` was refused: a task with this id is already running")]
    DuplicateId {
        /// The id in use.
        id: TaskId,
        /// The flow of the refused task.
        flow: &'static str,
    },
    /// There is no tokio runtime to run the task on.
    #[error("task {id} of flow `{flow}` was refused: no tokio runtime is running here (call `execute_*` from within a tokio runtime)")]
    NoRuntime {
        /// The refused task's id.
        id: TaskId,
        /// Its flow.
        flow: &'static str,
    },
    /// The flow is limited and its queue is full: the task is refused at once, and the
    /// tasks already queued keep their places.
    #[error(
        "task {id} of flow `{flow}` was refused: the queue is full ({capacity} tasks wait already)"
    )]
    QueueFull {
        /// The refused task's id.
        id: TaskId,
        /// Its flow.
        flow: &'static str,
        /// The queue's capacity.
        capacity: usize,
    },
    /// A step of the flow needs a resource (`#[step(resource = "..")]`) that this manager does
    /// not have: configure it with [`TaskManagerBuilder::resource`](crate::TaskManagerBuilder::resource).
    #[error("task {id} of flow `{flow}` was refused: its step `{step}` needs resource `{resource}`, which this task manager does not have (add `.resource(\"{resource}\", permits)` to its builder)")]
    UnknownResource {
        /// The refused task's id.
        id: TaskId,
        /// Its flow.
        flow: &'static str,
        /// The step that names the resource.
        step: &'static str,
        /// The resource's name.
        resource: &'static str,
    },
}
