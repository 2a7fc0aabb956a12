//! What happened in a task, step by step: the report every outcome carries.

use std::time::Duration;

use tokio::time::Instant;

use crate::cancel::Cleanup;

/// The record of one task: each step that began, the cleanup if one ran, and the runtime
/// info as the task left it. Times are tokio [`Instant`]s, so they follow a paused test clock.
#[derive(Debug, Clone)]
pub struct Report<R> {
    /// When the task was submitted.
    pub submitted_at: Instant,
    /// When the task ended (after its cleanup, if one ran).
    pub finished_at: Instant,
    /// One record per step that began, in order. Steps that never began are not listed.
    pub steps: Vec<StepRecord>,
    /// The cleanup that ran, if the task was cancelled or a step panicked.
    pub cleanup: Option<Cleanup>,
    /// The runtime info the steps wrote.
    pub info: R,
}

impl<R> Report<R> {
    /// From submission to the end.
    pub fn duration(&self) -> Duration {
        self.finished_at
            .saturating_duration_since(self.submitted_at)
    }

    /// The record of the step named `name`, if it began.
    pub fn step(&self, name: &str) -> Option<&StepRecord> {
        self.steps.iter().find(|record| record.name == name)
    }
}

/// One step of a task's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepRecord {
    /// The step's name (its method's name).
    pub name: &'static str,
    /// When it began.
    pub started_at: Instant,
    /// How long its run lasted (its cleanup not included).
    pub duration: Duration,
    /// How its run ended.
    pub end: StepEnd,
}

/// How a step's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepEnd {
    /// It returned `Ok`.
    Completed,
    /// It returned `Err`.
    Failed,
    /// It was stopped by a cancel (or a timeout) before it finished.
    Cancelled,
    /// It panicked.
    Panicked,
}
