//! The cluster seam: what a manager tells a cluster store about its tasks, and what the store
//! tells back. A store lives in its own crate (`task-manager-postgres`) and implements
//! [`Cluster`]; a manager built with
//! [`TaskManagerBuilder::cluster`](crate::TaskManagerBuilder::cluster) calls it. A manager
//! without one never reaches this module's code beyond one `is_none` per submission and per
//! step.
//!
//! # Who decides a clustered task's ending
//! The store. A task's record is undecided until exactly one of two writes takes it out of
//! that state: a cancel from any instance ([`Cluster::request_cancel`]), or the owner's own
//! seal ([`Cluster::seal`]), asked by the runner before the task claims its ending in its
//! cell. If the store says a cancel won, the runner applies that cancel to the cell first,
//! so the task ends cancelled with the store's reason and source, exactly as when a local
//! cancel beats the local seal.
//!
//! The owner's own sync decisions ([`TaskManager::cancel`](crate::TaskManager::cancel),
//! `cancel_all`, shutdown, a dropped handle, the task's deadline, a step's panic or time
//! limit) are still decided in the cell, at once, and written to the store with the task's
//! ending ([`Cluster::ended`]). Use
//! [`TaskManager::cancel_in_cluster`](crate::TaskManager::cancel_in_cluster) for an answer
//! decided in the store.

mod line;
mod link;
mod state;
mod status;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::cleanup::Cleanup;
use crate::error::ClusterError;
use crate::id::TaskId;
use crate::reason::{CancelReason, CancelSource, CancelStatus};

pub(crate) use line::{flow_line, resource_line, Staged, ALL_FLOWS_LINE};
pub use line::{ClusterPermit, Entered, LineEntry};
pub use link::{CancelDelivery, Delivered};
pub(crate) use link::{ClusterLink, Deliver, Found, NotAdmitted};
pub use state::{ClusterState, LostTask, Recovered};
pub(crate) use state::{Recovery, Resumption};
pub use status::{ClusterCancelRecord, ClusterTaskEnded, ClusterTaskState, ClusterTaskStatus};

/// The future a [`Cluster`] method returns: boxed, so that the trait is object-safe without
/// a macro crate, and `'static`, so that the runner can keep it across polls.
pub type ClusterFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A cluster store, as a manager sees it. Set with
/// [`TaskManagerBuilder::cluster`](crate::TaskManagerBuilder::cluster); the
/// `task-manager-postgres` crate's `PgCluster` is one.
///
/// **Who decides a clustered task's ending: the store.** A task's record is undecided until
/// exactly one of two writes decides it: a cancel from any instance
/// ([`request_cancel`](Self::request_cancel)), or the owner's own seal
/// ([`seal`](Self::seal)), asked by the runner before the task claims its ending in its cell.
/// If the store says a cancel won, the runner applies that cancel to the cell first, so the
/// task ends cancelled with the store's reason and source, exactly as when a local cancel
/// beats the local seal.
///
/// **What stays local.** The owner's own decisions
/// ([`TaskManager::cancel`](crate::TaskManager::cancel), `cancel_all`, shutdown, a dropped
/// handle, the task's deadline, a step's panic or time limit) are decided in the cell at once,
/// as in one process, and told to the store with the ending ([`ended`](Self::ended)); a cancel
/// that reaches the store before that also answers `Requested`. For one answer across the
/// cluster, cancel with
/// [`TaskManager::cancel_in_cluster`](crate::TaskManager::cancel_in_cluster).
///
/// The calls a manager makes for one task, in order: [`reserve`](Self::reserve) (by
/// [`TaskManager::submit_in_cluster`](crate::TaskManager::submit_in_cluster)), then
/// [`submitted`](Self::submitted) (for a flow with `on_owner_lost = resume`,
/// [`submitted_resumable`](Self::submitted_resumable)) or [`release`](Self::release), a
/// [`step_began`](Self::step_began) per step, [`seal_with`](Self::seal_with) if the task
/// reaches its own ending, and [`ended`](Self::ended) once (none after a seal answered
/// [`ClusterSeal::SealedEnded`], unless the task ended otherwise after all). If the store
/// [shares limits](Self::shares_limits), also [`enter_line`](Self::enter_line): for the
/// flow's line after `submitted` (by `submit_in_cluster`), and before each step that needs
/// a resource. [`status`](Self::status) and [`snapshot`](Self::snapshot) are asked only when
/// the user asks ([`TaskManager::status_in_cluster`](crate::TaskManager::status_in_cluster),
/// [`TaskManager::snapshot_in_cluster`](crate::TaskManager::snapshot_in_cluster)), for any
/// instance's tasks. The methods that return nothing are told
/// from the runner's hot path: they must not block (queue the write), and must keep one
/// task's writes in the order they were told.
///
/// ```
/// use task_manager_core::{
///     CancelDelivery, CancelReason, CancelSource, CancelStatus, Cluster, ClusterEnding,
///     ClusterError, ClusterFuture, ClusterSeal, RecordedCleanup, TaskId,
/// };
///
/// /// A store of one instance that has no other instance: nothing is ever decided elsewhere.
/// struct Alone;
///
/// impl Cluster for Alone {
///     fn attach(&self, _delivery: CancelDelivery) -> Result<(), ClusterError> { Ok(()) }
///     fn reserve(&self, _id: TaskId) -> ClusterFuture<Result<(), ClusterError>> { Box::pin(async { Ok(()) }) }
///     fn release(&self, _id: TaskId) {}
///     fn submitted(&self, _id: TaskId, _flow: &'static str, _queued: bool) {}
///     fn step_began(&self, _id: TaskId, _index: usize, _step: &'static str) {}
///     fn seal(&self, _id: TaskId) -> ClusterFuture<Result<ClusterSeal, ClusterError>> {
///         Box::pin(async { Ok(ClusterSeal::Sealed) })
///     }
///     fn ended(&self, _id: TaskId, _ending: ClusterEnding) {}
///     fn request_cancel(&self, _id: TaskId, _reason: CancelReason, _source: CancelSource)
///         -> ClusterFuture<Result<CancelStatus, ClusterError>> {
///         Box::pin(async { Ok(CancelStatus::NotFound) })
///     }
///     fn ended_cleanup(&self, _id: TaskId) -> ClusterFuture<Result<Option<RecordedCleanup>, ClusterError>> {
///         Box::pin(async { Ok(None) })
///     }
/// }
///
/// let tasks = task_manager_core::TaskManager::builder().cluster(Alone).build()?;
/// assert!(tasks.is_clustered());
/// # Ok::<(), task_manager_core::ConfigError>(())
/// ```
pub trait Cluster: Send + Sync + 'static {
    /// Called once, by [`build`](crate::TaskManagerBuilder::build): from now on, hand every
    /// cancel that the store decided for one of this instance's tasks to `delivery`. Called
    /// within the runtime the manager's tasks run on (when `build` is).
    ///
    /// # Errors
    /// The store cannot start delivering (no runtime, a listener already attached): `build`
    /// fails with [`ConfigError::Cluster`](crate::ConfigError::Cluster).
    fn attach(&self, delivery: CancelDelivery) -> Result<(), ClusterError>;

    /// Records task `id` as this instance's, before it is submitted; refuses an id that has
    /// a record anywhere in the cluster ([`ClusterErrorKind::Duplicate`](crate::ClusterErrorKind::Duplicate)). A cancel may
    /// decide it from now on: it is delivered as any other.
    fn reserve(&self, id: TaskId) -> ClusterFuture<Result<(), ClusterError>>;

    /// A reserved task that will not be submitted after all: forget its record.
    fn release(&self, id: TaskId);

    /// The reserved task was submitted, to flow `flow`; `queued`: it waits in its flow's
    /// line first.
    fn submitted(&self, id: TaskId, flow: &'static str, queued: bool);

    /// [`submitted`](Self::submitted) for a task of a flow with
    /// `#[flow(on_owner_lost = resume)]`: also its payload and runtime info (JSON, the info
    /// as `Default` made it; `None` if it could not be written), to be recorded with the
    /// flow, so that an instance that claims the task if its owner is lost before its first
    /// step's boundary resumes it from its first step ([`LostTask::unbegun`]).
    /// [`TaskManager::submit_in_cluster`](crate::TaskManager::submit_in_cluster) awaits the
    /// returned future before it returns (an `Err` is not the submission's: the task runs,
    /// and a loss before its first boundary then ends it cancelled). The default tells
    /// [`submitted`](Self::submitted) and records no state.
    fn submitted_resumable(
        &self,
        id: TaskId,
        flow: &'static str,
        queued: bool,
        payload: Option<Vec<u8>>,
        info: Option<Vec<u8>>,
    ) -> ClusterFuture<Result<(), ClusterError>> {
        let _ = (payload, info);
        self.submitted(id, flow, queued);
        Box::pin(async { Ok(()) })
    }

    /// Step `index` (named `step`) is next.
    fn step_began(&self, id: TaskId, index: usize, step: &'static str);

    /// The task is about to end by itself: claim its ending against the cancels of every
    /// instance. Transient failures are the store's to retry; an `Err` makes the task end as
    /// its cell decides.
    fn seal(&self, id: TaskId) -> ClusterFuture<Result<ClusterSeal, ClusterError>>;

    /// [`seal`](Self::seal), saying how the task is about to end (`sealed`), so that a store
    /// can record it with the seal: an instance that claims the task if its owner is lost
    /// before [`ended`](Self::ended) can then end it as it ended. The runner calls this one.
    /// The default forgets `sealed` and calls [`seal`](Self::seal).
    fn seal_as(
        &self,
        id: TaskId,
        sealed: SealedAs,
    ) -> ClusterFuture<Result<ClusterSeal, ClusterError>> {
        let _ = sealed;
        self.seal(id)
    }

    /// [`seal_as`](Self::seal_as), with what else the runner knows when it seals
    /// ([`Sealing`]): the task's output, for a flow that keeps it
    /// (`#[flow(on_owner_lost = resume)]`), and its final ending when nothing runs between the
    /// seal and the ending. A store that records that ending with the seal answers
    /// [`ClusterSeal::SealedEnded`]: the runner then tells [`ended`](Self::ended) only if the
    /// task ends otherwise after all (a local cancel won the task's cell after the store's
    /// seal), with [`ClusterEnding::replaces_seal`] set. The runner calls this one. The
    /// default keeps neither and calls [`seal_as`](Self::seal_as).
    fn seal_with(
        &self,
        id: TaskId,
        sealing: Sealing,
    ) -> ClusterFuture<Result<ClusterSeal, ClusterError>> {
        self.seal_as(id, sealing.sealed)
    }

    /// The task has ended, as `ending` says (told once).
    fn ended(&self, id: TaskId, ending: ClusterEnding);

    /// A cancel of task `id`, wherever it runs, decided atomically with its ending: see
    /// [`CancelStatus`] for the four answers.
    fn request_cancel(
        &self,
        id: TaskId,
        reason: CancelReason,
        source: CancelSource,
    ) -> ClusterFuture<Result<CancelStatus, ClusterError>>;

    /// Ready once task `id`'s ending is recorded, with its cleanup if a cancel ended it
    /// (`None`: it ended by itself, or has no record).
    fn ended_cleanup(
        &self,
        id: TaskId,
    ) -> ClusterFuture<Result<Option<RecordedCleanup>, ClusterError>>;

    /// Whether the store keeps the manager's limits and resources cluster-wide (asked once,
    /// by [`build`](crate::TaskManagerBuilder::build)). If it does, every limit and resource
    /// of the manager is a line of the store ([`enter_line`](Self::enter_line)) instead of
    /// one of this process; if not (the default), they stay per instance.
    fn shares_limits(&self) -> bool {
        false
    }

    /// Task `entry.task` asks for a permit of the cluster-wide line `entry.line`: the store
    /// answers at once with a permit, a place in the line, or a refusal if the line is full
    /// (see [`Entered`]). Asked only if [`shares_limits`](Self::shares_limits) said yes: for
    /// a flow's limit by [`TaskManager::submit_in_cluster`](crate::TaskManager::submit_in_cluster),
    /// for a step's resource by the task before the step.
    ///
    /// # Errors
    /// The store could not make the entry. The default refuses: this store shares no limits.
    fn enter_line(&self, entry: LineEntry) -> ClusterFuture<Result<Entered, ClusterError>> {
        let id = entry.task;
        Box::pin(async move {
            Err(ClusterError::new(
                crate::error::ClusterErrorKind::Refused,
                Some(id),
                "entering a cluster-wide line",
                "this store does not share limits",
            ))
        })
    }

    /// Step `index` (named `step`) of a flow with `#[flow(on_owner_lost = cancel)]` is next,
    /// with this payload and runtime info (JSON; `None` if it could not be written), and the
    /// outputs of the completed steps that declare a compensation (by step index, JSON):
    /// record them with the step boundary, for [`LostTask::outputs`]. Awaited before the step begins, so that an instance
    /// that claims the task runs the cleanup of the step that was in progress, with the
    /// state it began with. Transient failures are the store's to retry; an `Err` lets the
    /// step begin anyway. The default records nothing.
    fn persist_step(
        &self,
        id: TaskId,
        index: usize,
        step: &'static str,
        payload: Option<Vec<u8>>,
        info: Option<Vec<u8>>,
        outputs: Vec<(usize, Vec<u8>)>,
    ) -> ClusterFuture<Result<(), ClusterError>> {
        let _ = (id, index, step, payload, info, outputs);
        Box::pin(async { Ok(()) })
    }

    /// [`persist_step`](Self::persist_step) for a flow with
    /// `#[flow(on_owner_lost = resume)]`: also `input`, the input of the step that begins
    /// (the previous step's output, JSON; `None` for the first step or one that takes no
    /// input), to be handed back as [`LostTask::input`], from which the claimant runs the
    /// step again. The default records the boundary without it (a store that keeps no
    /// input: the claimant cannot resume a step that takes one, and cancels the task).
    #[allow(clippy::too_many_arguments)]
    fn persist_resumable_step(
        &self,
        id: TaskId,
        index: usize,
        step: &'static str,
        payload: Option<Vec<u8>>,
        info: Option<Vec<u8>>,
        input: Option<Vec<u8>>,
        outputs: Vec<(usize, Vec<u8>)>,
    ) -> ClusterFuture<Result<(), ClusterError>> {
        let _ = input;
        self.persist_step(id, index, step, payload, info, outputs)
    }

    /// Task `id`'s record, whichever instance runs it (`None`: the store has no record of
    /// it), for [`TaskManager::status_in_cluster`](crate::TaskManager::status_in_cluster).
    ///
    /// # Errors
    /// The store could not be read. The default answers
    /// [`ClusterErrorKind::Unsupported`](crate::ClusterErrorKind::Unsupported): this store
    /// keeps no readable records.
    fn status(&self, id: TaskId) -> ClusterFuture<Result<Option<ClusterTaskStatus>, ClusterError>> {
        Box::pin(async move { Err(unsupported(Some(id), "reading a task's record")) })
    }

    /// Task `id`'s record with its kept output, for
    /// [`TaskManager::outcome_in_cluster`](crate::TaskManager::outcome_in_cluster) (`wait`:
    /// ready once the record is finished) and
    /// [`TaskManager::try_outcome_in_cluster`](crate::TaskManager::try_outcome_in_cluster)
    /// (`wait` false: the record as it stands). `None`: no record.
    ///
    /// # Errors
    /// The store could not be read. The default answers
    /// [`ClusterErrorKind::Unsupported`](crate::ClusterErrorKind::Unsupported): this store
    /// keeps no outputs.
    fn outcome(
        &self,
        id: TaskId,
        wait: bool,
    ) -> ClusterFuture<Result<Option<OutcomeRecord>, ClusterError>> {
        let _ = wait;
        Box::pin(async move {
            Err(ClusterError::new(
                crate::error::ClusterErrorKind::Unsupported,
                Some(id),
                "reading a task's outcome",
                "this store keeps no outputs",
            ))
        })
    }

    /// The records of the tasks not yet finished, on every instance, oldest submission
    /// first, at most `limit` of them, for
    /// [`TaskManager::snapshot_in_cluster`](crate::TaskManager::snapshot_in_cluster).
    ///
    /// # Errors
    /// The store could not be read. The default answers
    /// [`ClusterErrorKind::Unsupported`](crate::ClusterErrorKind::Unsupported).
    fn snapshot(
        &self,
        limit: usize,
    ) -> ClusterFuture<Result<Vec<ClusterTaskStatus>, ClusterError>> {
        let _ = limit;
        Box::pin(async { Err(unsupported(None, "listing the cluster's tasks")) })
    }
}

fn unsupported(id: Option<TaskId>, during: &'static str) -> ClusterError {
    ClusterError::new(
        crate::error::ClusterErrorKind::Unsupported,
        id,
        during,
        "this store keeps no records a manager can read",
    )
}

/// The store's answer to [`Cluster::seal`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClusterSeal {
    /// The task's own ending won: every later cancel answers `AlreadyFinished`.
    Sealed,
    /// The task's own ending won, and the store recorded the ending the seal carried
    /// ([`Sealing::ending`]) with it: [`Cluster::ended`] is not told for it, unless the task
    /// ends otherwise after all ([`ClusterEnding::replaces_seal`]).
    SealedEnded,
    /// A cancel won first: the task must end cancelled, with this reason and source.
    CancelWon {
        /// The winning reason.
        reason: CancelReason,
        /// Who asked.
        source: CancelSource,
    },
}

/// How a task is about to end by itself, as the runner knows it when it seals
/// ([`Cluster::seal_as`]): before the ending is told ([`Cluster::ended`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealedAs {
    /// Every step returned `Ok`; the task will end completed unless a cancel won first.
    Completed {
        /// How many steps completed: all of the flow's.
        steps_completed: usize,
    },
    /// A step returned `Err` (in a flow with compensations, they run after the seal).
    Failed,
}

/// What the runner tells the store when a task seals its own ending ([`Cluster::seal_with`]).
///
/// ```
/// use task_manager_core::{SealedAs, Sealing};
///
/// let sealing = Sealing::new(SealedAs::Completed { steps_completed: 3 });
/// assert!(sealing.output.is_none() && sealing.ending.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sealing {
    /// How the task is about to end.
    pub sealed: SealedAs,
    /// The task's output (its last step's `Ok` value, JSON) for a flow that keeps it
    /// (`#[flow(on_owner_lost = resume)]`); `None` otherwise, or if it could not be written.
    pub output: Option<Vec<u8>>,
    /// The task's ending, when nothing runs between the seal and the ending (a task that
    /// completed; one that failed in a flow that declares no compensation): a store may
    /// record it with the seal and answer [`ClusterSeal::SealedEnded`].
    pub ending: Option<ClusterEnding>,
    /// The task's flow (`None`: not said). A store that names a task's flow with a later
    /// write than its reservation names it here too if no earlier write did: the seal can
    /// overtake a step boundary that was queued behind it, and then be its last write.
    pub flow: Option<&'static str>,
}

impl Sealing {
    /// A seal saying `sealed`, with no output, no ending and no flow.
    pub fn new(sealed: SealedAs) -> Self {
        Sealing {
            sealed,
            output: None,
            ending: None,
            flow: None,
        }
    }

    /// The task's flow.
    pub fn with_flow(mut self, flow: &'static str) -> Self {
        self.flow = Some(flow);
        self
    }

    /// The task's output, as kept.
    pub fn with_output(mut self, output: Option<Vec<u8>>) -> Self {
        self.output = output;
        self
    }

    /// The task's final ending, recorded with the seal.
    pub fn with_ending(mut self, ending: ClusterEnding) -> Self {
        self.ending = Some(ending);
        self
    }
}

/// A task's record with the output its store keeps, as [`Cluster::outcome`] reads it.
///
/// ```
/// use std::time::SystemTime;
/// use task_manager_core::{ClusterTaskState, ClusterTaskStatus, OutcomeRecord, TaskId};
///
/// let status = ClusterTaskStatus::new(TaskId::new(), "transfer", "api-1", ClusterTaskState::Finished, SystemTime::now());
/// let record = OutcomeRecord::new(status, Some(b"42".to_vec()));
/// assert_eq!(record.output.as_deref(), Some(&b"42"[..]));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OutcomeRecord {
    /// The record, as [`Cluster::status`] reads it.
    pub status: ClusterTaskStatus,
    /// The task's output as its seal kept it (JSON); `None`: none kept.
    pub output: Option<Vec<u8>>,
}

impl OutcomeRecord {
    /// A record and its kept output.
    pub fn new(status: ClusterTaskStatus, output: Option<Vec<u8>>) -> Self {
        OutcomeRecord { status, output }
    }
}

/// How a clustered task ended, as its owner tells the store ([`Cluster::ended`]): core's
/// [`Ending`](crate::Ending) without the user's values.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterEnding {
    /// The ending.
    pub ended: EndedAs,
    /// How many steps completed.
    pub steps_completed: usize,
    /// What became of the stopped step's cleanup, if the task was stopped.
    pub cleanup: Option<RecordedCleanup>,
    /// The store recorded another ending with the task's seal
    /// ([`ClusterSeal::SealedEnded`]), and this one replaces it: a local cancel won the
    /// task's cell after the store's seal, so the task ended otherwise.
    pub replaces_seal: bool,
}

/// The kind of a [`ClusterEnding`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndedAs {
    /// Every step ran.
    Completed,
    /// A step returned `Err`.
    Failed {
        /// The step.
        step: &'static str,
    },
    /// A cancel stopped it.
    Cancelled {
        /// The step in progress, if one was.
        step: Option<&'static str>,
        /// The winning reason (the store's, or a local one: see the module docs).
        reason: CancelReason,
        /// Who asked.
        source: CancelSource,
    },
    /// A step panicked.
    Panicked {
        /// The step.
        step: &'static str,
        /// The panic's message.
        message: String,
    },
    /// A step overran its own time limit.
    TimedOut {
        /// The step.
        step: &'static str,
        /// The limit.
        limit: Duration,
    },
    /// The runtime dropped the task before it ended.
    Dropped,
}

/// What became of a stopped step's cleanup, as a store records it: [`Cleanup`] with owned
/// step names (a record read back from another process has no `'static` names).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordedCleanup {
    /// The cleanup ran to its end.
    Completed {
        /// The interrupted step.
        step: String,
        /// How long it took.
        duration: Duration,
    },
    /// The step declares no cleanup.
    NotDeclared {
        /// The interrupted step.
        step: String,
    },
    /// No step was in progress.
    NoStepInProgress,
    /// The cleanup panicked.
    Panicked {
        /// The interrupted step.
        step: String,
        /// The panic's message.
        message: String,
    },
    /// The cleanup overran its deadline.
    TimedOut {
        /// The interrupted step.
        step: String,
        /// The deadline.
        after: Duration,
    },
    /// The step was in progress (as the store last heard) on an instance that was lost
    /// (its lease expired), and the instance that claimed the task ran no cleanup for it.
    Lost {
        /// The step the store last heard of.
        step: String,
    },
}

impl From<&Cleanup> for RecordedCleanup {
    fn from(cleanup: &Cleanup) -> Self {
        match cleanup {
            Cleanup::Completed { step, duration } => RecordedCleanup::Completed {
                step: (*step).to_owned(),
                duration: *duration,
            },
            Cleanup::NotDeclared { step } => RecordedCleanup::NotDeclared {
                step: (*step).to_owned(),
            },
            Cleanup::NoStepInProgress => RecordedCleanup::NoStepInProgress,
            Cleanup::Panicked { step, message } => RecordedCleanup::Panicked {
                step: (*step).to_owned(),
                message: message.clone(),
            },
            Cleanup::TimedOut { step, after } => RecordedCleanup::TimedOut {
                step: (*step).to_owned(),
                after: *after,
            },
        }
    }
}

/// What became of a compensation that the instance claiming a lost task ran
/// ([`Recovered::compensations`]), as a store records it: [`Compensation`] with owned step
/// names (a record read back from another process has no `'static` names).
///
/// ```
/// use std::time::Duration;
/// use task_manager_core::{Compensation, RecordedCompensation};
///
/// let ran = Compensation::Completed { step: "charge", duration: Duration::from_millis(2) };
/// let recorded = RecordedCompensation::from(&ran);
/// assert_eq!(recorded.step(), "charge");
/// assert!(recorded.is_completed());
/// ```
///
/// [`Compensation`]: crate::Compensation
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordedCompensation {
    /// It ran to its end and returned `Ok(())` (or `()`).
    Completed {
        /// The step it undid.
        step: String,
        /// How long it took.
        duration: Duration,
    },
    /// It returned `Err` (or its step's persisted output could not be read back).
    Failed {
        /// The step it was to undo.
        step: String,
        /// The error's `Display`.
        error: String,
    },
    /// It panicked; the panic did not spread.
    Panicked {
        /// The step it was to undo.
        step: String,
        /// The panic's message.
        message: String,
    },
    /// It did not finish within the cleanup deadline.
    TimedOut {
        /// The step it was to undo.
        step: String,
        /// The deadline it overran.
        after: Duration,
    },
}

impl RecordedCompensation {
    /// The step this compensation undid (or was to undo).
    pub fn step(&self) -> &str {
        match self {
            RecordedCompensation::Completed { step, .. }
            | RecordedCompensation::Failed { step, .. }
            | RecordedCompensation::Panicked { step, .. }
            | RecordedCompensation::TimedOut { step, .. } => step,
        }
    }

    /// Whether it ran to its end and succeeded.
    pub fn is_completed(&self) -> bool {
        matches!(self, RecordedCompensation::Completed { .. })
    }
}

impl From<&crate::Compensation> for RecordedCompensation {
    fn from(compensation: &crate::Compensation) -> Self {
        use crate::Compensation;
        match compensation {
            Compensation::Completed { step, duration } => RecordedCompensation::Completed {
                step: (*step).to_owned(),
                duration: *duration,
            },
            Compensation::Failed { step, error } => RecordedCompensation::Failed {
                step: (*step).to_owned(),
                error: error.clone(),
            },
            Compensation::Panicked { step, message } => RecordedCompensation::Panicked {
                step: (*step).to_owned(),
                message: message.clone(),
            },
            Compensation::TimedOut { step, after } => RecordedCompensation::TimedOut {
                step: (*step).to_owned(),
                after: *after,
            },
        }
    }
}
