//! A task's outcome read back from the cluster's store, typed, from any instance: how it
//! ended and, for a flow that keeps it, its output. The handle that awaited a task is on
//! the instance that submitted it; a task finished elsewhere (claimed from a lost instance
//! and resumed there) hands its outcome to nobody, so its flow keeps the output with the
//! task's seal and any instance reads it back here.

use crate::cluster::{ClusterCancelRecord, ClusterState, ClusterTaskEnded, RecordedCleanup};
use crate::error::{ClusterError, ClusterErrorKind};
use crate::id::TaskId;
use crate::manager::TaskManager;

/// How a task of any instance ended, as the cluster's store recorded it, with its output
/// read back as `T`: from [`TaskManager::outcome_in_cluster`] or a flow's generated
/// `<flow>_outcome`.
///
/// ```
/// use task_manager_core::ClusterOutcome;
///
/// let outcome: ClusterOutcome<u64> = ClusterOutcome::Completed(42);
/// assert_eq!(outcome.output(), Some(&42));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClusterOutcome<T> {
    /// Every step returned `Ok`: the last one's value, as the task's seal kept it.
    Completed(T),
    /// A step returned `Err` (or overran its time limit, or the runtime dropped the task:
    /// `error` says which). The error is the user's value: the store keeps its text at
    /// most.
    Failed {
        /// The step, if the record names one.
        step: Option<String>,
        /// The error's text, if the store kept one.
        error: Option<String>,
    },
    /// A cancel stopped it (from any instance, or `OwnerLost` when its instance was lost
    /// and the task was not resumed).
    Cancelled {
        /// The step in progress, if one was.
        step: Option<String>,
        /// The cancel that won, as recorded.
        cancel: Option<ClusterCancelRecord>,
        /// What became of that step's cleanup (`RecordedCleanup::Lost`: no instance ran it).
        cleanup: Option<RecordedCleanup>,
    },
    /// A step panicked.
    Panicked {
        /// The step.
        step: String,
        /// The panic's message.
        message: String,
    },
}

impl<T> ClusterOutcome<T> {
    /// The output, if the task completed.
    pub fn output(&self) -> Option<&T> {
        match self {
            ClusterOutcome::Completed(output) => Some(output),
            _ => None,
        }
    }

    /// The output, if the task completed.
    pub fn into_output(self) -> Option<T> {
        match self {
            ClusterOutcome::Completed(output) => Some(output),
            _ => None,
        }
    }
}

/// A task's outcome could not be read back: [`OutcomeErrorKind`] says why, naming the task.
///
/// ```
/// use task_manager_core::{OutcomeError, OutcomeErrorKind, TaskId};
///
/// let id = TaskId::from_u128(7);
/// let error = OutcomeError { id, kind: OutcomeErrorKind::NotFound };
/// assert!(error.to_string().starts_with(&format!("task {id}: ")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("task {id}: {kind}")]
pub struct OutcomeError {
    /// The task asked about.
    pub id: TaskId,
    /// What went wrong.
    pub kind: OutcomeErrorKind,
}

/// The kind of an [`OutcomeError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OutcomeErrorKind {
    /// No instance has a record of it: never submitted, a child task (children are not
    /// recorded), or finished and purged.
    #[error("no instance has a record of it (never submitted, a child task, or purged)")]
    NotFound,
    /// It completed, but its record keeps no output: its flow does not keep one (only a
    /// flow with `on_owner_lost = resume` does), it was sealed before the store kept
    /// outputs, or the output could not be written.
    #[error(
        "it completed, but its record keeps no output: flow `{flow}` keeps none (a flow with `on_owner_lost = resume` does), or it was sealed before the store kept outputs"
    )]
    NotKept {
        /// The task's flow, as recorded.
        flow: String,
    },
    /// The kept output does not read back as the type asked for.
    #[error("its output, kept by flow `{flow}`, does not read back as `{type_name}`")]
    WrongType {
        /// The task's flow, as recorded.
        flow: String,
        /// The type asked for.
        type_name: &'static str,
    },
    /// A flow's `<flow>_outcome` was asked about a task of another flow.
    #[error("it is a task of flow `{found}`, not of `{expected}`")]
    OtherFlow {
        /// The flow asked about.
        expected: &'static str,
        /// The task's flow, as recorded.
        found: String,
    },
    /// The store could not be read, keeps no outputs, or this manager has no cluster.
    #[error("{}: {}", .0.during, .0.detail)]
    Cluster(ClusterError),
}

impl TaskManager {
    /// Task `id`'s outcome, from any instance, once its ending is recorded: how it ended
    /// and, if it completed, its output read back as `T` (the flow's output type). Waits
    /// while the task runs, on whichever instance (reading its record with a backoff, as
    /// awaiting a [`ClusterCancellation`](crate::ClusterCancellation) does). The output is
    /// kept by a flow with `#[flow(on_owner_lost = resume)]`, with the task's seal, so that
    /// a task resumed on another instance after its own was lost hands it to whoever asks.
    /// A flow's generated `<flow>_outcome(id)` is this call with the flow's output type,
    /// checking the task is of that flow.
    ///
    /// ```no_run
    /// # async fn demo(tasks: task_manager_core::TaskManager, id: task_manager_core::TaskId) -> Result<(), task_manager_core::OutcomeError> {
    /// use task_manager_core::ClusterOutcome;
    /// match tasks.outcome_in_cluster::<u64>(id).await? {
    ///     ClusterOutcome::Completed(moved) => println!("moved {moved}"),
    ///     other => println!("ended otherwise: {other:?}"),
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`OutcomeErrorKind::NotFound`] (no record), [`NotKept`](OutcomeErrorKind::NotKept)
    /// (it completed, but no output is kept), [`WrongType`](OutcomeErrorKind::WrongType)
    /// (the output does not read back as `T`), [`Cluster`](OutcomeErrorKind::Cluster) (the
    /// store failed, or this manager has no cluster).
    pub async fn outcome_in_cluster<T: ClusterState>(
        &self,
        id: TaskId,
    ) -> Result<ClusterOutcome<T>, OutcomeError> {
        self.flow_outcome(id, None, true, T::from_state)
            .await?
            .ok_or(OutcomeError {
                id,
                kind: OutcomeErrorKind::NotFound,
            })
    }

    /// [`outcome_in_cluster`](Self::outcome_in_cluster) without waiting: `None` while the
    /// task's ending is not recorded yet (one read of the store).
    ///
    /// ```no_run
    /// # async fn demo(tasks: task_manager_core::TaskManager, id: task_manager_core::TaskId) -> Result<(), task_manager_core::OutcomeError> {
    /// if let Some(outcome) = tasks.try_outcome_in_cluster::<u64>(id).await? {
    ///     println!("ended: {outcome:?}");
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`outcome_in_cluster`](Self::outcome_in_cluster).
    pub async fn try_outcome_in_cluster<T: ClusterState>(
        &self,
        id: TaskId,
    ) -> Result<Option<ClusterOutcome<T>>, OutcomeError> {
        self.flow_outcome(id, None, false, T::from_state).await
    }

    /// The outcome of task `id`, of flow `flow` if one is named, its output read back by
    /// `read`; `wait`: until its ending is recorded, else `None` while it runs.
    pub(crate) async fn flow_outcome<T>(
        &self,
        id: TaskId,
        flow: Option<&'static str>,
        wait: bool,
        read: fn(&[u8]) -> Option<T>,
    ) -> Result<Option<ClusterOutcome<T>>, OutcomeError> {
        let fail = |kind| OutcomeError { id, kind };
        let Some(link) = self.registry.cluster.as_ref() else {
            return Err(fail(OutcomeErrorKind::Cluster(ClusterError::new(
                ClusterErrorKind::Unsupported,
                Some(id),
                "reading a task's outcome",
                "this manager has no cluster: await the task's handle",
            ))));
        };
        let record = link
            .cluster
            .outcome(id, wait)
            .await
            .map_err(|e| fail(OutcomeErrorKind::Cluster(e)))?;
        let Some(record) = record else {
            return Err(fail(OutcomeErrorKind::NotFound));
        };
        let status = record.status;
        if let Some(expected) = flow {
            // A reservation names its flow once submitted: an empty one is not yet known.
            if !status.flow.is_empty() && status.flow != expected {
                return Err(fail(OutcomeErrorKind::OtherFlow {
                    expected,
                    found: status.flow,
                }));
            }
        }
        let Some(ended) = status.ended else {
            return Ok(None);
        };
        Ok(Some(match ended {
            ClusterTaskEnded::Completed => {
                let Some(bytes) = record.output else {
                    return Err(fail(OutcomeErrorKind::NotKept { flow: status.flow }));
                };
                match read(&bytes) {
                    Some(output) => ClusterOutcome::Completed(output),
                    None => {
                        return Err(fail(OutcomeErrorKind::WrongType {
                            flow: status.flow,
                            type_name: std::any::type_name::<T>(),
                        }))
                    }
                }
            }
            ClusterTaskEnded::Failed { step, error } => ClusterOutcome::Failed { step, error },
            ClusterTaskEnded::Cancelled { step } => ClusterOutcome::Cancelled {
                step,
                cancel: status.cancel,
                cleanup: status.cleanup,
            },
            ClusterTaskEnded::Panicked { step, message } => {
                ClusterOutcome::Panicked { step, message }
            }
        }))
    }
}
