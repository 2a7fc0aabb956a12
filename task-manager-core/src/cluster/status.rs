//! What a store tells a manager of a task of any instance: [`ClusterTaskStatus`], read by
//! [`TaskManager::status_in_cluster`](crate::TaskManager::status_in_cluster) and
//! [`TaskManager::snapshot_in_cluster`](crate::TaskManager::snapshot_in_cluster) through
//! [`Cluster::status`](super::Cluster::status) and [`Cluster::snapshot`](super::Cluster::snapshot).
//!
//! A record read back from another process has no `'static` names and no user values: every
//! name here is owned, and an ending carries the error's or the panic's text, not the value.

use std::time::SystemTime;

use crate::id::TaskId;
use crate::observe::Progress;
use crate::reason::{CancelReason, CancelSource};

use super::{RecordedCleanup, RecordedCompensation};

/// Where a task stands in the cluster's store, as its record says.
///
/// ```text
///   Queued ──► Running ──┬──► Cancelling ──► Finished   (a cancel won)
///                        └──► Finishing  ──► Finished   (the task sealed its own ending)
/// ```
/// `Queued` and `Running` are undecided: a cancel from any instance may still win.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClusterTaskState {
    /// Submitted; no step has begun (it may wait in its flow's line).
    Queued,
    /// A step has begun: it runs one, or is between two.
    Running,
    /// A cancel won: the owner is stopping it (its cleanup may be running).
    Cancelling,
    /// It sealed its own ending; a cancel now changes nothing.
    Finishing,
    /// Its ending is recorded.
    Finished,
}

/// The cancel that won a task's ending, as the store recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterCancelRecord {
    /// The winning reason, byte for byte.
    pub reason: CancelReason,
    /// By what means it was asked.
    pub source: CancelSource,
    /// The instance that asked.
    pub requested_by: String,
    /// When it was decided (the store's clock).
    pub requested_at: SystemTime,
}

impl ClusterCancelRecord {
    /// A cancel asked by instance `requested_by`, decided at `requested_at`.
    ///
    /// ```
    /// use task_manager_core::{CancelReason, CancelSource, ClusterCancelRecord};
    /// let cancel = ClusterCancelRecord::new(
    ///     CancelReason::from("user left"), CancelSource::Request, "api-2", std::time::SystemTime::now());
    /// assert_eq!(cancel.requested_by, "api-2");
    /// ```
    pub fn new(
        reason: CancelReason,
        source: CancelSource,
        requested_by: impl Into<String>,
        requested_at: SystemTime,
    ) -> Self {
        ClusterCancelRecord {
            reason,
            source,
            requested_by: requested_by.into(),
            requested_at,
        }
    }
}

/// How a task ended, as the store recorded it: core's `Ending` without the user's values.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClusterTaskEnded {
    /// Every step ran.
    Completed,
    /// A step returned `Err` (or, as the store records it, overran its time limit, or the
    /// runtime dropped the task: `error` says which).
    Failed {
        /// The step, if one was named.
        step: Option<String>,
        /// The error's text, if the store kept one.
        error: Option<String>,
    },
    /// A cancel stopped it; the winning cancel is [`ClusterTaskStatus::cancel`].
    Cancelled {
        /// The step in progress, if one was.
        step: Option<String>,
    },
    /// A step panicked.
    Panicked {
        /// The step.
        step: String,
        /// The panic's message.
        message: String,
    },
}

/// A task of any instance, as the cluster's store knows it: from
/// [`TaskManager::status_in_cluster`](crate::TaskManager::status_in_cluster) and
/// [`TaskManager::snapshot_in_cluster`](crate::TaskManager::snapshot_in_cluster).
///
/// Made by a store with [`new`](Self::new) and the `with_` methods.
///
/// ```
/// use std::time::SystemTime;
/// use task_manager_core::{ClusterTaskState, ClusterTaskStatus, TaskId};
///
/// let status = ClusterTaskStatus::new(TaskId::new(), "query", "api-1", ClusterTaskState::Running, SystemTime::now())
///     .with_step("send", 1, 1);
/// assert_eq!(status.step, Some(("send".to_owned(), 1)));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ClusterTaskStatus {
    /// The task.
    pub id: TaskId,
    /// Its flow's name (empty while only its id is reserved).
    pub flow: String,
    /// The instance that runs it.
    pub instance: String,
    /// Where it stands.
    pub state: ClusterTaskState,
    /// The step begun last, by name and index (0-based); `None` before the first.
    pub step: Option<(String, u32)>,
    /// How many steps had completed at the last write.
    pub steps_completed: u32,
    /// The last progress recorded for it, if the store has one.
    pub progress: Option<Progress>,
    /// The cancel that won, if one did.
    pub cancel: Option<ClusterCancelRecord>,
    /// How it ended, once it has.
    pub ended: Option<ClusterTaskEnded>,
    /// What became of the stopped step's cleanup, if its ending records one.
    pub cleanup: Option<RecordedCleanup>,
    /// The compensations that ran after that cleanup, in the order they ran, if its ending
    /// records them (the instance that claimed a lost task records those it ran; empty
    /// otherwise).
    pub compensations: Vec<RecordedCompensation>,
    /// When it was submitted (the store's clock).
    pub submitted_at: SystemTime,
    /// When its first step began, if one did.
    pub started_at: Option<SystemTime>,
    /// When its ending was recorded.
    pub ended_at: Option<SystemTime>,
}

impl ClusterTaskStatus {
    /// Task `id` of flow `flow`, run by `instance`, in `state`, submitted at `submitted_at`;
    /// nothing else known yet.
    pub fn new(
        id: TaskId,
        flow: impl Into<String>,
        instance: impl Into<String>,
        state: ClusterTaskState,
        submitted_at: SystemTime,
    ) -> Self {
        ClusterTaskStatus {
            id,
            flow: flow.into(),
            instance: instance.into(),
            state,
            step: None,
            steps_completed: 0,
            progress: None,
            cancel: None,
            ended: None,
            cleanup: None,
            compensations: Vec::new(),
            submitted_at,
            started_at: None,
            ended_at: None,
        }
    }

    /// The step begun last (`index`, 0-based, named `name`), with `steps_completed`.
    pub fn with_step(mut self, name: impl Into<String>, index: u32, steps_completed: u32) -> Self {
        self.step = Some((name.into(), index));
        self.steps_completed = steps_completed;
        self
    }

    /// How many steps completed (when no step is named).
    pub fn with_steps_completed(mut self, steps_completed: u32) -> Self {
        self.steps_completed = steps_completed;
        self
    }

    /// The last progress recorded.
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// The cancel that won.
    pub fn with_cancel(mut self, cancel: ClusterCancelRecord) -> Self {
        self.cancel = Some(cancel);
        self
    }

    /// How it ended, with its cleanup's result if one is recorded.
    pub fn with_ending(
        mut self,
        ended: ClusterTaskEnded,
        cleanup: Option<RecordedCleanup>,
    ) -> Self {
        self.ended = Some(ended);
        self.cleanup = cleanup;
        self
    }

    /// The compensations its ending records, in the order they ran.
    pub fn with_compensations(mut self, compensations: Vec<RecordedCompensation>) -> Self {
        self.compensations = compensations;
        self
    }

    /// When its first step began and when its ending was recorded.
    pub fn with_times(
        mut self,
        started_at: Option<SystemTime>,
        ended_at: Option<SystemTime>,
    ) -> Self {
        self.started_at = started_at;
        self.ended_at = ended_at;
        self
    }
}
