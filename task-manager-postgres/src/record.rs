//! A task's record as the store keeps it: the values written and read, and the states a
//! record moves through (see [`TaskState`]).

use std::fmt;
use std::time::SystemTime;

use task_manager_core::{
    CancelReason, CancelSource, Progress, RecordedCleanup, RecordedCompensation, TaskId,
};

use crate::error::StoreError;
use crate::reason::micros;
use crate::store::no_nul;

/// Where a task's record stands.
///
/// ```text
///   queued ──► running ──┬──► cancelling ──► finished   (a cancel won: ending Cancelled)
///     │                  └──► finishing  ──► finished   (the task sealed its own ending)
///     └──────────────────┴──► finished                  (seal and ending in one write)
/// ```
/// `queued` and `running` are *undecided*: exactly one conditional update takes a record out
/// of them, a cancel's (to `cancelling`) or the task's own seal (to `finishing`, or straight
/// to `finished`). This is core's phase byte (`RUNNING -> CANCELLED | FINISHED`) held in a
/// row: whoever's update matches first decides, and a record never goes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// Submitted, waiting for admission; no step has begun.
    Queued,
    /// Admitted; its steps run (or it is between two).
    Running,
    /// A cancel won; the owner is stopping it (its cleanup may be running).
    Cancelling,
    /// The task sealed its own ending (a panicked step's cleanup may be running); a cancel
    /// now changes nothing.
    Finishing,
    /// Its ending is recorded. The record stays until it is purged.
    Finished,
}

impl TaskState {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Cancelling => "cancelling",
            TaskState::Finishing => "finishing",
            TaskState::Finished => "finished",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "queued" => TaskState::Queued,
            "running" => TaskState::Running,
            "cancelling" => TaskState::Cancelling,
            "finishing" => TaskState::Finishing,
            "finished" => TaskState::Finished,
            _ => return None,
        })
    }

    /// Whether neither a cancel nor the task's seal has decided the ending yet.
    pub fn is_undecided(self) -> bool {
        matches!(self, TaskState::Queued | TaskState::Running)
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A task to record at submission: [`PgCluster::insert`](crate::PgCluster::insert).
///
/// ```
/// use task_manager_core::TaskId;
/// use task_manager_postgres::NewTask;
///
/// let task = NewTask::new(TaskId::new(), "query").queued();
/// # let _ = task;
/// ```
#[derive(Debug, Clone)]
pub struct NewTask<'a> {
    pub(crate) id: TaskId,
    pub(crate) flow: &'a str,
    pub(crate) state: TaskState,
}

impl<'a> NewTask<'a> {
    /// A task of flow `flow`, running from the start (no queue to wait in).
    pub fn new(id: TaskId, flow: &'a str) -> Self {
        NewTask {
            id,
            flow,
            state: TaskState::Running,
        }
    }

    /// The task waits for admission first (its flow has a limit).
    pub fn queued(mut self) -> Self {
        self.state = TaskState::Queued;
        self
    }
}

/// A task's record, as [`status`](crate::PgCluster::status) and
/// [`list`](crate::PgCluster::list) read it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TaskRecord {
    /// The task's id.
    pub id: TaskId,
    /// Its flow's name.
    pub flow: String,
    /// The instance that owns (runs) it.
    pub instance: String,
    /// Where it stands.
    pub state: TaskState,
    /// The step begun last, by name and index (0-based); `None` before the first.
    pub step: Option<(String, u32)>,
    /// How many steps had completed at the last write.
    pub steps_completed: u32,
    /// The last progress its steps reported.
    pub progress: Option<Progress>,
    /// The cancel that won, if one did.
    pub cancel: Option<CancelRecord>,
    /// How it ended, once it has.
    pub ending: Option<EndingRecord>,
    /// When it was inserted (the server's clock).
    pub submitted_at: SystemTime,
    /// When it was admitted (its first step boundary), if it was.
    pub started_at: Option<SystemTime>,
    /// When its ending was recorded.
    pub ended_at: Option<SystemTime>,
}

/// The cancel that won a task's ending.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CancelRecord {
    /// Why: the reason of the winning request, byte for byte.
    pub reason: CancelReason,
    /// By what means it was asked.
    pub source: CancelSource,
    /// The instance that asked.
    pub requested_by: String,
    /// When the winning request was decided (the server's clock).
    pub requested_at: SystemTime,
    /// When the owner's listener took it (see [`Cancels`](crate::Cancels)).
    pub delivered_at: Option<SystemTime>,
}

/// How a task ended, as its owner records it: [`PgCluster::record_ending`](crate::PgCluster::record_ending).
///
/// ```
/// use std::time::Duration;
/// use task_manager_postgres::{CleanupRecord, Ended, EndingRecord};
///
/// let ending = EndingRecord::new(Ended::Cancelled { step: Some("send".into()) }, 1)
///     .with_cleanup(CleanupRecord::Completed { step: "send".into(), duration: Duration::from_millis(3) });
/// # let _ = ending;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndingRecord {
    /// The ending.
    pub ended: Ended,
    /// How many steps completed.
    pub steps_completed: u32,
    /// What became of the stopped step's cleanup (a cancelled task, or a panicked step).
    pub cleanup: Option<CleanupRecord>,
    /// The compensations that ran after the cleanup, in the order they ran: recorded by the
    /// instance that claimed a lost task of a flow with `on_owner_lost = cancel`; empty for
    /// every other ending.
    pub compensations: Vec<CompensationRecord>,
}

impl EndingRecord {
    /// An ending with no cleanup.
    pub fn new(ended: Ended, steps_completed: u32) -> Self {
        EndingRecord {
            ended,
            steps_completed,
            cleanup: None,
            compensations: Vec::new(),
        }
    }

    /// With what became of the stopped step's cleanup.
    pub fn with_cleanup(mut self, cleanup: CleanupRecord) -> Self {
        self.cleanup = Some(cleanup);
        self
    }

    /// With the compensations that ran after the cleanup, in the order they ran.
    pub fn with_compensations(mut self, compensations: Vec<CompensationRecord>) -> Self {
        self.compensations = compensations;
        self
    }
}

/// How a task ended: core's `Ending` without the values (the output and the error are the
/// user's types; the store keeps the error's text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Every step ran.
    Completed,
    /// A step returned `Err` (or overran its time limit, or the runtime dropped the task: the
    /// error's text says which).
    Failed {
        /// The step that failed; empty if none did (the runtime dropped the task).
        step: String,
        /// The error's text (any characters, NUL included).
        error: String,
    },
    /// A cancel won. Its reason is the record's [`CancelRecord`].
    Cancelled {
        /// The interrupted step; `None` if none was in progress.
        step: Option<String>,
    },
    /// A step panicked.
    Panicked {
        /// The step that panicked.
        step: String,
        /// The panic's message (any characters, NUL included).
        message: String,
    },
}

impl Ended {
    pub(crate) const fn kind(&self) -> &'static str {
        match self {
            Ended::Completed => "completed",
            Ended::Failed { .. } => "failed",
            Ended::Cancelled { .. } => "cancelled",
            Ended::Panicked { .. } => "panicked",
        }
    }
}

/// What became of a stopped step's cleanup, as a record holds it: core's
/// [`RecordedCleanup`] (its `Cleanup` with owned step names, so that a record read back in
/// another process can hold them). Made from a `Cleanup` with `RecordedCleanup::from`.
pub type CleanupRecord = RecordedCleanup;

/// What became of a compensation that a claimant ran, as a record holds it: core's
/// [`RecordedCompensation`] (its `Compensation` with owned step names). Made from a
/// `Compensation` with `RecordedCompensation::from`.
pub type CompensationRecord = RecordedCompensation;

/// The compensations of an ending in their columns' form: one element each, in order.
#[derive(Default)]
pub(crate) struct CompensationColumns<'a> {
    pub(crate) steps: Vec<&'a str>,
    pub(crate) kinds: Vec<&'static str>,
    /// How long it ran (`Completed`) or its deadline (`TimedOut`), in microseconds.
    pub(crate) micros: Vec<Option<i64>>,
    /// The error's or the panic's text.
    pub(crate) messages: Vec<Option<&'a [u8]>>,
}

/// The columns of `compensations`; `None` for none (the columns stay NULL). A kind newer
/// than this crate is refused, and so is a step name with a NUL.
pub(crate) fn compensation_columns(
    compensations: &[RecordedCompensation],
) -> Result<Option<CompensationColumns<'_>>, StoreError> {
    if compensations.is_empty() {
        return Ok(None);
    }
    let mut columns = CompensationColumns::default();
    for compensation in compensations {
        let (kind, step, time, message) = match compensation {
            RecordedCompensation::Completed { step, duration } => {
                ("completed", step, Some(micros(*duration)), None)
            }
            RecordedCompensation::Failed { step, error } => {
                ("failed", step, None, Some(error.as_bytes()))
            }
            RecordedCompensation::Panicked { step, message } => {
                ("panicked", step, None, Some(message.as_bytes()))
            }
            RecordedCompensation::TimedOut { step, after } => {
                ("timed_out", step, Some(micros(*after)), None)
            }
            other => {
                return Err(StoreError::Unsupported {
                    what: "compensation",
                    value: format!("{other:?}"),
                })
            }
        };
        no_nul("step name", step)?;
        columns.steps.push(step);
        columns.kinds.push(kind);
        columns.micros.push(time);
        columns.messages.push(message);
    }
    Ok(Some(columns))
}

/// A cleanup in its columns' form.
pub(crate) struct CleanupColumns<'a> {
    pub(crate) kind: &'static str,
    pub(crate) step: Option<&'a str>,
    /// How long it ran (`Completed`) or its deadline (`TimedOut`), in microseconds.
    pub(crate) micros: Option<i64>,
    /// A panicked cleanup's message.
    pub(crate) message: Option<&'a [u8]>,
}

/// The columns of `cleanup`. A kind newer than this crate (`RecordedCleanup` is
/// `non_exhaustive`) is refused rather than stored as something it is not, and so is a step
/// name with a NUL.
pub(crate) fn cleanup_columns(cleanup: &RecordedCleanup) -> Result<CleanupColumns<'_>, StoreError> {
    let (kind, step, micros, message) = match cleanup {
        RecordedCleanup::Completed { step, duration } => (
            "completed",
            Some(step.as_str()),
            Some(micros(*duration)),
            None,
        ),
        RecordedCleanup::NotDeclared { step } => ("not_declared", Some(step.as_str()), None, None),
        RecordedCleanup::NoStepInProgress => ("no_step_in_progress", None, None, None),
        RecordedCleanup::Panicked { step, message } => (
            "panicked",
            Some(step.as_str()),
            None,
            Some(message.as_bytes()),
        ),
        RecordedCleanup::TimedOut { step, after } => {
            ("timed_out", Some(step.as_str()), Some(micros(*after)), None)
        }
        RecordedCleanup::Lost { step } => ("lost", Some(step.as_str()), None, None),
        other => {
            return Err(StoreError::Unsupported {
                what: "cleanup",
                value: format!("{other:?}"),
            })
        }
    };
    if let Some(step) = step {
        no_nul("step name", step)?;
    }
    Ok(CleanupColumns {
        kind,
        step,
        micros,
        message,
    })
}

/// What the task's own seal found: [`PgCluster::seal`](crate::PgCluster::seal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seal {
    /// The task decided its own ending; later cancels answer `AlreadyFinished`.
    Sealed,
    /// A cancel won first: the task must end `Cancelled`, with this reason.
    CancelWon(CancelRecord),
}

/// Which records [`PgCluster::list`](crate::PgCluster::list) reads: all by default, oldest
/// submission first, at most 1,000.
///
/// ```
/// use task_manager_postgres::{Listing, TaskState};
///
/// let mine = Listing::new().instance("api-1").states(&[TaskState::Running, TaskState::Cancelling]);
/// # let _ = mine;
/// ```
#[derive(Debug, Clone)]
pub struct Listing<'a> {
    pub(crate) instance: Option<&'a str>,
    pub(crate) flow: Option<&'a str>,
    pub(crate) states: Option<&'a [TaskState]>,
    pub(crate) limit: u32,
}

impl Default for Listing<'_> {
    fn default() -> Self {
        Listing {
            instance: None,
            flow: None,
            states: None,
            limit: 1_000,
        }
    }
}

impl<'a> Listing<'a> {
    /// Every record, oldest first, at most 1,000.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only the tasks this instance owns.
    pub fn instance(mut self, instance: &'a str) -> Self {
        self.instance = Some(instance);
        self
    }

    /// Only the tasks of this flow.
    pub fn flow(mut self, flow: &'a str) -> Self {
        self.flow = Some(flow);
        self
    }

    /// Only the tasks in one of these states.
    pub fn states(mut self, states: &'a [TaskState]) -> Self {
        self.states = Some(states);
        self
    }

    /// At most this many records.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }
}
