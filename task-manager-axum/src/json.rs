//! The JSON the routes answer: owned, serializable views of core's values. Core's enums are
//! `#[non_exhaustive]`; a variant newer than this crate is written with `"kind": "other"` and
//! its `Debug` text, so a new core never breaks a response.

use std::time::Duration;

use serde::Serialize;
use task_manager_core::{
    CancelReason, CancelSource, CancelStatus, Cleanup, EventKind, Progress, StepEnd, StepRef,
    TaskEnd, TaskEvent, TaskId, TaskSnapshot, TaskState, TaskStatus,
};

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// A running task's status, as `GET /{id}` and each entry of `GET /` answer it.
#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    /// The task's id, as UUID text.
    pub id: String,
    /// The flow it runs.
    pub flow: &'static str,
    /// The step in progress (or waiting for its resource), if one has begun.
    pub step: Option<&'static str>,
    /// That step's index in the flow (0-based).
    pub step_index: Option<usize>,
    /// What the task is doing.
    pub state: StateView,
    /// The last progress a step reported.
    pub progress: Option<ProgressView>,
    /// Milliseconds since submission (in the snapshot only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<f64>,
}

impl StatusView {
    /// The view of `status`.
    pub fn new(id: TaskId, status: &TaskStatus) -> Self {
        StatusView {
            id: id.to_string(),
            flow: status.flow,
            step: status.step,
            step_index: status.step_index,
            state: StateView::new(&status.state),
            progress: status.progress.map(ProgressView::new),
            elapsed_ms: None,
        }
    }

    /// The view of one entry of the snapshot, with its age.
    pub fn of_snapshot(entry: &TaskSnapshot) -> Self {
        StatusView {
            elapsed_ms: Some(millis(entry.elapsed)),
            ..StatusView::new(entry.id, &entry.status)
        }
    }
}

/// [`TaskState`] as JSON: `{"kind": "running"}`, `{"kind": "queued", "position": 3}`, ...
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StateView {
    /// Running its steps.
    Running,
    /// A cancel took effect; the cleanup may be running.
    Cancelling,
    /// Its ending is decided, not by a cancel.
    Finishing,
    /// Waiting in its flow's queue.
    Queued {
        /// Tasks admitted before it, as of now.
        position: usize,
    },
    /// Waiting for a resource's permit.
    WaitingForResource {
        /// The resource.
        resource: &'static str,
    },
    /// A state newer than this crate.
    Other {
        /// Its `Debug` text.
        debug: String,
    },
}

impl StateView {
    fn new(state: &TaskState) -> Self {
        match *state {
            TaskState::Running => StateView::Running,
            TaskState::Cancelling => StateView::Cancelling,
            TaskState::Finishing => StateView::Finishing,
            TaskState::Queued { position } => StateView::Queued { position },
            TaskState::WaitingForResource { resource } => {
                StateView::WaitingForResource { resource }
            }
            ref other => StateView::Other {
                debug: format!("{other:?}"),
            },
        }
    }
}

/// [`Progress`] as JSON.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ProgressView {
    /// Units done.
    pub done: u64,
    /// Units in all (0: unknown).
    pub total: u64,
}

impl ProgressView {
    fn new(progress: Progress) -> Self {
        ProgressView {
            done: progress.done,
            total: progress.total,
        }
    }
}

/// A cancel's reason as JSON: `{"kind": "requested", "message": "user left", "text": ...}`;
/// `text` is core's sentence for it.
#[derive(Debug, Clone, Serialize)]
pub struct ReasonView {
    /// `requested`, `timeout`, `handle_dropped`, `shutdown`, `queue_wait_exceeded`,
    /// `step_panicked` or `other`.
    pub kind: &'static str,
    /// The caller's words, for `requested`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Core's sentence for the reason (its `Display`).
    pub text: String,
}

impl ReasonView {
    /// The view of `reason`.
    pub fn new(reason: &CancelReason) -> Self {
        let (kind, message) = match reason {
            CancelReason::Requested(message) => ("requested", Some(message.to_string())),
            CancelReason::Timeout => ("timeout", None),
            CancelReason::HandleDropped => ("handle_dropped", None),
            CancelReason::Shutdown => ("shutdown", None),
            CancelReason::QueueWaitExceeded { .. } => ("queue_wait_exceeded", None),
            CancelReason::StepPanicked => ("step_panicked", None),
            _ => ("other", None),
        };
        ReasonView {
            kind,
            message,
            text: reason.to_string(),
        }
    }
}

/// The words of [`CancelStatus`]: `requested`, `already_requested`, `already_finished`,
/// `not_found`.
pub fn cancel_status_word(status: CancelStatus) -> &'static str {
    match status {
        CancelStatus::Requested => "requested",
        CancelStatus::AlreadyRequested => "already_requested",
        CancelStatus::AlreadyFinished => "already_finished",
        CancelStatus::NotFound => "not_found",
    }
}

/// The answer of `DELETE /{id}`.
#[derive(Debug, Clone, Serialize)]
pub struct CancelView {
    /// The task's id.
    pub id: String,
    /// The typed answer, in [`cancel_status_word`]'s words.
    pub status: &'static str,
    /// With `?wait=true`, for a task that was being cancelled: what its cleanup did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleanup: Option<CleanupView>,
}

/// [`Cleanup`] as JSON: `{"kind": "completed", "step": "send", "duration_ms": 1.2}`, ...
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CleanupView {
    /// The interrupted step's cleanup ran to its end.
    Completed {
        /// The step.
        step: &'static str,
        /// How long it took, in milliseconds.
        duration_ms: f64,
    },
    /// The interrupted step declares no cleanup.
    NotDeclared {
        /// The step.
        step: &'static str,
    },
    /// No step was in progress: nothing to clean up.
    NoStepInProgress,
    /// The cleanup panicked.
    Panicked {
        /// The step.
        step: &'static str,
        /// The panic's message.
        message: String,
    },
    /// The cleanup was dropped at its deadline.
    TimedOut {
        /// The step.
        step: &'static str,
        /// The deadline, in milliseconds.
        after_ms: f64,
    },
    /// A kind newer than this crate.
    Other {
        /// Its `Debug` text.
        debug: String,
    },
}

impl CleanupView {
    /// The view of `cleanup`.
    pub fn new(cleanup: &Cleanup) -> Self {
        match cleanup {
            Cleanup::Completed { step, duration } => CleanupView::Completed {
                step,
                duration_ms: millis(*duration),
            },
            Cleanup::NotDeclared { step } => CleanupView::NotDeclared { step },
            Cleanup::NoStepInProgress => CleanupView::NoStepInProgress,
            Cleanup::Panicked { step, message } => CleanupView::Panicked {
                step,
                message: message.clone(),
            },
            Cleanup::TimedOut { step, after } => CleanupView::TimedOut {
                step,
                after_ms: millis(*after),
            },
            other => CleanupView::Other {
                debug: format!("{other:?}"),
            },
        }
    }
}

/// How a task ended, as the `finished` event says it.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EndingView {
    /// Every step ran.
    Completed,
    /// A step returned `Err`.
    Failed {
        /// The step.
        step: &'static str,
    },
    /// The task was cancelled.
    Cancelled {
        /// Why.
        reason: ReasonView,
        /// The interrupted step, if one was in progress.
        step: Option<&'static str>,
        /// How many steps had completed.
        steps_completed: usize,
    },
    /// A step panicked.
    Panicked {
        /// The step.
        step: &'static str,
        /// The panic's message.
        message: String,
    },
    /// The runtime dropped the task before it finished.
    Dropped,
    /// An ending newer than this crate.
    Other {
        /// Its `Debug` text.
        debug: String,
    },
}

impl EndingView {
    fn new(ending: &TaskEnd<'_>) -> Self {
        match *ending {
            TaskEnd::Completed => EndingView::Completed,
            TaskEnd::Failed { step } => EndingView::Failed { step: step.name },
            TaskEnd::Cancelled {
                reason,
                step,
                steps_completed,
            } => EndingView::Cancelled {
                reason: ReasonView::new(reason),
                step: step.map(|step| step.name),
                steps_completed,
            },
            TaskEnd::Panicked { step, message } => EndingView::Panicked {
                step: step.name,
                message: message.to_owned(),
            },
            TaskEnd::Dropped => EndingView::Dropped,
            ref other => EndingView::Other {
                debug: format!("{other:?}"),
            },
        }
    }
}

/// One event of a task, as `GET /{id}/events` sends it (the SSE `event:` field is `kind`).
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    /// The task's id.
    pub id: String,
    /// Its flow.
    pub flow: &'static str,
    /// The task that started it, for a child task; absent for a top-level one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The step the event is about, if any.
    pub step: Option<&'static str>,
    /// What happened, with its fields.
    #[serde(flatten)]
    pub kind: EventKindView,
}

/// What an [`EventView`] says happened.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKindView {
    /// The task was registered.
    Submitted,
    /// It waits in its flow's queue.
    Queued,
    /// It was admitted and begins its steps.
    Started,
    /// A step waits for a resource.
    WaitingForResource {
        /// The resource.
        resource: &'static str,
    },
    /// A step begins.
    StepStarted,
    /// A step ended.
    StepFinished {
        /// How: `completed`, `failed`, `cancelled`, `panicked` (or `other`).
        end: &'static str,
        /// How long it ran, in milliseconds.
        duration_ms: f64,
    },
    /// A cancel took effect.
    CancelRequested {
        /// Why.
        reason: ReasonView,
        /// Who asked.
        by: &'static str,
    },
    /// The interrupted step's cleanup begins.
    CleanupStarted {
        /// Why.
        reason: ReasonView,
    },
    /// The cleanup ended.
    CleanupFinished {
        /// What it did.
        cleanup: CleanupView,
    },
    /// A step reported progress.
    Progress {
        /// Units done.
        done: u64,
        /// Units in all (0: unknown).
        total: u64,
    },
    /// A step's own typed event (only its type's name crosses the wire).
    Custom {
        /// The event's type.
        type_name: &'static str,
    },
    /// The task ended: always the last event of a stream.
    Finished {
        /// How.
        ending: EndingView,
        /// From submission to the end, in milliseconds.
        duration_ms: f64,
    },
    /// An event newer than this crate.
    Other {
        /// Its `Debug` text.
        debug: String,
    },
}

impl EventView {
    /// The owned view of `event`.
    pub fn new(event: &TaskEvent<'_>) -> Self {
        let kind = match event.kind {
            EventKind::Submitted => EventKindView::Submitted,
            EventKind::Queued => EventKindView::Queued,
            EventKind::Started => EventKindView::Started,
            EventKind::WaitingForResource { resource, .. } => {
                EventKindView::WaitingForResource { resource }
            }
            EventKind::StepStarted { .. } => EventKindView::StepStarted,
            EventKind::StepFinished { end, duration, .. } => EventKindView::StepFinished {
                end: match end {
                    StepEnd::Completed => "completed",
                    StepEnd::Failed => "failed",
                    StepEnd::Cancelled => "cancelled",
                    StepEnd::Panicked => "panicked",
                    _ => "other",
                },
                duration_ms: millis(duration),
            },
            EventKind::CancelRequested { reason, by } => EventKindView::CancelRequested {
                reason: ReasonView::new(reason),
                by: CancelSource::name(by),
            },
            EventKind::CleanupStarted { reason, .. } => EventKindView::CleanupStarted {
                reason: ReasonView::new(reason),
            },
            EventKind::CleanupFinished { cleanup, .. } => EventKindView::CleanupFinished {
                cleanup: CleanupView::new(cleanup),
            },
            EventKind::Progress { progress, .. } => EventKindView::Progress {
                done: progress.done,
                total: progress.total,
            },
            EventKind::Custom { type_name, .. } => EventKindView::Custom { type_name },
            EventKind::Finished { ending, duration } => EventKindView::Finished {
                ending: EndingView::new(&ending),
                duration_ms: millis(duration),
            },
            ref other => EventKindView::Other {
                debug: format!("{other:?}"),
            },
        };
        EventView {
            id: event.id.to_string(),
            flow: event.flow,
            parent: event.parent.map(|parent| parent.to_string()),
            step: event.step().map(|step: StepRef| step.name),
            kind,
        }
    }

    /// The event's kind in snake case (`step_started`, `finished`, ...): the SSE `event:` name.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            EventKindView::Submitted => "submitted",
            EventKindView::Queued => "queued",
            EventKindView::Started => "started",
            EventKindView::WaitingForResource { .. } => "waiting_for_resource",
            EventKindView::StepStarted => "step_started",
            EventKindView::StepFinished { .. } => "step_finished",
            EventKindView::CancelRequested { .. } => "cancel_requested",
            EventKindView::CleanupStarted { .. } => "cleanup_started",
            EventKindView::CleanupFinished { .. } => "cleanup_finished",
            EventKindView::Progress { .. } => "progress",
            EventKindView::Custom { .. } => "custom",
            EventKindView::Finished { .. } => "finished",
            EventKindView::Other { .. } => "other",
        }
    }

    /// Whether this is the task's last event.
    pub fn is_finished(&self) -> bool {
        matches!(self.kind, EventKindView::Finished { .. })
    }
}
