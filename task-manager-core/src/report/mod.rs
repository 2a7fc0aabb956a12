//! What happened in a task, step by step: the report every outcome carries.

use std::time::Duration;

use tokio::time::Instant;

use crate::cleanup::Cleanup;
use crate::compensation::Compensation;
use crate::flow::FlowInfo;
pub(crate) mod timeline;

use timeline::Timeline;

/// The record of one task: each step that began, the cleanup if one ran, and the runtime
/// info as the task left it. Times are tokio [`Instant`]s, so they follow a paused test clock.
///
/// The step records are derived on demand from a compact timeline the task kept while it
/// ran (16 bytes a step, no allocation for flows of up to four steps):
///
/// ```
/// # use task_manager_core::{Report, StepEnd};
/// fn slowest<R>(report: &Report<R>) -> Option<&'static str> {
///     report.steps().max_by_key(|step| step.duration).map(|step| step.name)
/// }
/// fn ended_in_a_cancel<R>(report: &Report<R>) -> bool {
///     report.steps().last().is_some_and(|step| step.end == StepEnd::Cancelled)
/// }
/// # let _ = (slowest::<()>, ended_in_a_cancel::<()>);
/// ```
#[derive(Debug, Clone)]
pub struct Report<R> {
    /// When the task was submitted.
    pub submitted_at: Instant,
    /// When the task ended (after its cleanup, if one ran).
    pub finished_at: Instant,
    /// The cleanup that ran, if the task was cancelled or a step panicked.
    pub cleanup: Option<Cleanup>,
    /// The runtime info the steps wrote.
    pub info: R,
    flow: &'static FlowInfo,
    timeline: Timeline,
    /// Attempts and compensations, for the tasks that had any: one pointer in every report.
    policies: Option<Box<PolicyRecords>>,
}

/// What a report holds of step policies (`retry`, `compensate`), boxed: most tasks have none.
#[derive(Debug, Clone, Default)]
pub(crate) struct PolicyRecords {
    pub(crate) attempts: Vec<Attempt>,
    pub(crate) compensations: Vec<Compensation>,
}

impl<R> Report<R> {
    pub(crate) fn new(
        flow: &'static FlowInfo,
        submitted_at: Instant,
        finished_at: Instant,
        timeline: Timeline,
        cleanup: Option<Cleanup>,
        info: R,
        policies: Option<Box<PolicyRecords>>,
    ) -> Self {
        Report {
            submitted_at,
            finished_at,
            cleanup,
            info,
            flow,
            timeline,
            policies,
        }
    }

    /// The name of the task's flow.
    pub(crate) fn flow_name(&self) -> &'static str {
        self.flow.name()
    }

    /// The compensations that ran (`#[step(compensate = ..)]`), in the order they ran (the
    /// reverse of their steps'): only when the task ended other than completed, one per
    /// step that had completed and declares one.
    pub fn compensations(&self) -> &[Compensation] {
        self.policies
            .as_deref()
            .map_or(&[], |policies| &policies.compensations)
    }

    /// Every attempt of the steps that were retried (`#[step(retry = ..)]`), in order, the
    /// last attempt of each included. A step that ran once (with or without a retry policy)
    /// has no entry here: its [`StepRecord`] describes its one attempt.
    pub fn attempts(&self) -> &[Attempt] {
        self.policies
            .as_deref()
            .map_or(&[], |policies| &policies.attempts)
    }

    /// Whether the step records' `started_at` and `duration` were measured. Not under
    /// `#[flow(report = minimal)]` when nobody listened to the task (no add-on, no
    /// `tracing` span): then each record's `started_at` is the submission and its
    /// `duration` zero, and only the steps' names and ends are known.
    pub fn step_times(&self) -> bool {
        self.timeline.is_timed()
    }

    /// From submission to the end.
    pub fn duration(&self) -> Duration {
        self.finished_at
            .saturating_duration_since(self.submitted_at)
    }

    /// One record per step that began, in order. Steps that never began are not listed.
    pub fn steps(&self) -> Steps<'_> {
        Steps {
            flow: self.flow,
            submitted_at: self.submitted_at,
            timeline: &self.timeline,
            next: 0,
        }
    }

    /// The record of the `index`-th step, if it began.
    pub fn step_at(&self, index: usize) -> Option<StepRecord> {
        self.timeline.record(self.flow, self.submitted_at, index)
    }

    /// The record of the step named `name`, if it began.
    pub fn step(&self, name: &str) -> Option<StepRecord> {
        self.steps().find(|record| record.name == name)
    }
}

/// The step records of a [`Report`], in order: see [`Report::steps`].
#[derive(Debug, Clone)]
pub struct Steps<'a> {
    flow: &'static FlowInfo,
    submitted_at: Instant,
    timeline: &'a Timeline,
    next: usize,
}

impl Iterator for Steps<'_> {
    type Item = StepRecord;

    fn next(&mut self) -> Option<StepRecord> {
        let record = self
            .timeline
            .record(self.flow, self.submitted_at, self.next)?;
        self.next += 1;
        Some(record)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.timeline.len().saturating_sub(self.next);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Steps<'_> {}

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

/// One attempt of a step that was retried: see [`Report::attempts`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attempt {
    /// The step's name.
    pub step: &'static str,
    /// Which attempt (1 for the first).
    pub number: u32,
    /// When it began.
    pub started_at: Instant,
    /// How long it ran (its cleanup not included).
    pub duration: Duration,
    /// How it ended.
    pub end: StepEnd,
    /// Why it failed: the error's `Display`, or the time limit it overran; `None` if it
    /// completed or was stopped by a cancel.
    pub error: Option<String>,
    /// The wait before the next attempt, if one followed.
    pub delay: Option<Duration>,
    /// The cleanup of an attempt that overran its time limit and was retried (the cleanup
    /// of a step's last attempt is the report's [`cleanup`](Report::cleanup)).
    pub cleanup: Option<Cleanup>,
}

/// How a step's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum StepEnd {
    /// It returned `Ok`.
    #[default]
    Completed,
    /// It returned `Err`.
    Failed,
    /// It was stopped by a cancel (or a timeout) before it finished.
    Cancelled,
    /// It panicked.
    Panicked,
    /// Its attempt ran longer than the step's time limit (`#[step(timeout = "..")]`) and was
    /// dropped.
    TimedOut,
}
