//! Why a task could not be submitted, and why a setting was refused.

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
    /// The manager is shutting down (see [`TaskManager::shutdown`](crate::TaskManager::shutdown))
    /// and takes no new task.
    #[error("task {id} of flow `{flow}` was refused: the task manager is shutting down")]
    ShuttingDown {
        /// The refused task's id.
        id: TaskId,
        /// Its flow.
        flow: &'static str,
    },
    /// The task's deadline (its passport's, or else its flow's) is zero: the task would be
    /// cancelled before its first step. Cancel it explicitly if that is what you mean.
    #[error("task {id} of flow `{flow}` was refused: its timeout is zero, so it would be cancelled before its first step (give a positive timeout, or none)")]
    ZeroTimeout {
        /// The refused task's id.
        id: TaskId,
        /// Its flow.
        flow: &'static str,
    },
}

/// A configuration value that was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A duration setting was zero where zero makes no sense.
    #[error("`{setting}` must be longer than zero: {why}")]
    Zero {
        /// The setting, as the method that takes it names it.
        setting: &'static str,
        /// What a zero would do.
        why: &'static str,
    },
}
