//! [`EventLog`]: an add-on that writes every task event into a [`Journal`] as one line, so
//! that a test compares a task's whole event sequence at once.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use task_manager_core::{Addon, Cleanup, EventKind, StepEnd, StepRef, TaskEvent, TaskId};

use crate::Journal;

/// Records each event as a line such as `"step b#1 cancelled"` (see [`describe`]), and the
/// duration of each step and task. Cloning shares the log; give a clone to the manager.
#[derive(Clone, Default, Debug)]
pub struct EventLog {
    journal: Journal,
    durations: Arc<Mutex<Vec<(String, Duration)>>>,
    /// Only this task's events, if set.
    only: Option<TaskId>,
}

impl EventLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty log of task `id`'s events alone (for a test with several tasks: give the
    /// manager one per task).
    pub fn of_task(id: TaskId) -> Self {
        EventLog {
            only: Some(id),
            ..Self::default()
        }
    }

    /// The lines so far, in order.
    pub fn entries(&self) -> Vec<String> {
        self.journal.entries()
    }

    /// The journal behind the log (to wait for a line).
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// `("a", 3s)` per finished step, `("task", 5s)` per finished task, in order.
    pub fn durations(&self) -> Vec<(String, Duration)> {
        self.durations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Addon for EventLog {
    fn on_event(&self, event: &TaskEvent<'_>) {
        if self.only.is_some_and(|id| id != event.id) {
            return;
        }
        let timed = match event.kind {
            EventKind::StepFinished { step, duration, .. } => Some((step.name, duration)),
            EventKind::Finished { duration, .. } => Some(("task", duration)),
            _ => None,
        };
        if let Some((what, duration)) = timed {
            self.durations
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((what.to_string(), duration));
        }
        self.journal.record(describe(event));
    }
}

/// One line per event: `submitted`, `queued`, `started`, `step b#1 waits for db`,
/// `step a#0 started`, `step a#0 completed`,
/// `cancel requested: cancelled: user left (by Request)`, `cleanup b#1 started: timed out`,
/// `cleanup b#1 finished: completed`, `progress 3/10 at a#0`, `custom RowsFetched at a#0`,
/// `finished: completed`.
pub fn describe(event: &TaskEvent<'_>) -> String {
    match event.kind {
        EventKind::Submitted => "submitted".into(),
        EventKind::Queued => "queued".into(),
        EventKind::Started => "started".into(),
        EventKind::WaitingForResource { step, resource } => {
            format!("step {} waits for {resource}", at(step))
        }
        EventKind::StepStarted { step } => format!("step {} started", at(step)),
        EventKind::StepFinished { step, end, .. } => {
            let end = match end {
                StepEnd::Completed => "completed".to_string(),
                StepEnd::Failed => "failed".to_string(),
                StepEnd::Cancelled => "cancelled".to_string(),
                StepEnd::Panicked => "panicked".to_string(),
                StepEnd::TimedOut => "timed out".to_string(),
                // `StepEnd` may grow: a new end shows as its Debug text.
                other => format!("{other:?}"),
            };
            format!("step {} {end}", at(step))
        }
        EventKind::StepRetrying {
            step,
            attempt,
            delay,
            error,
        } => format!(
            "step {} attempt {attempt} failed ({error}); retry in {delay:?}",
            at(step)
        ),
        EventKind::CancelRequested { reason, by } => {
            format!("cancel requested: {reason} (by {by:?})")
        }
        EventKind::CleanupStarted { step, reason } => {
            format!("cleanup {} started: {reason}", at(step))
        }
        EventKind::CleanupFinished { step, cleanup } => {
            let how = match cleanup {
                Cleanup::Completed { .. } => "completed".to_string(),
                Cleanup::Panicked { message, .. } => format!("panicked: {message}"),
                other => format!("{other:?}"),
            };
            format!("cleanup {} finished: {how}", at(step))
        }
        EventKind::Progress { step, progress } => {
            format!("progress {progress} at {}", step.map_or("-".into(), at))
        }
        EventKind::Custom {
            step, type_name, ..
        } => {
            let short = type_name.rsplit("::").next().unwrap_or(type_name);
            format!("custom {short} at {}", step.map_or("-".into(), at))
        }
        EventKind::Finished { ending, .. } => format!("finished: {ending}"),
        other => format!("{other:?}"),
    }
}

fn at(step: StepRef) -> String {
    format!("{}#{}", step.name, step.index)
}
