//! A [`task_manager_core::Addon`] that records what happens to tasks through the
//! [`metrics`] facade: install it on the manager, install any `metrics` exporter (for
//! Prometheus, `metrics-exporter-prometheus`) in the application, and serve its text.
//!
//! ```
//! use task_manager_core::TaskManager;
//! use task_manager_metrics::TaskMetrics;
//!
//! let tasks = TaskManager::builder().addon(TaskMetrics::new()).build()?;
//! # Ok::<(), task_manager_core::ConfigError>(())
//! ```
//!
//! What it records (names as Prometheus shows them; every one has the label `flow`):
//!
//! | metric | kind | labels | when |
//! | --- | --- | --- | --- |
//! | `task_manager_tasks_submitted_total` | counter | | a task is registered |
//! | `task_manager_tasks_started_total` | counter | | a task begins its steps (admitted) |
//! | `task_manager_tasks_finished_total` | counter | `ending` | a task ends: `completed`, `failed`, `cancelled`, `panicked`, `dropped` |
//! | `task_manager_task_duration_seconds` | histogram | `ending` | from submission to the end |
//! | `task_manager_tasks_registered` | gauge | | submitted and not yet ended |
//! | `task_manager_tasks_queued` | gauge | | waiting in the flow's queue (queue add-on) |
//! | `task_manager_queue_wait_seconds` | histogram | | from queued to admitted |
//! | `task_manager_resource_wait_seconds` | histogram | `step`, `resource` | from waiting for a resource to the step's start |
//! | `task_manager_step_duration_seconds` | histogram | `step`, `end` | a step ends: `completed`, `failed`, `cancelled`, `panicked` |
//! | `task_manager_cancels_total` | counter | `source` | a cancel takes effect: `request`, `cancel_all`, `handle_dropped`, `timeout`, `shutdown`, `max_wait` |
//! | `task_manager_cleanup_duration_seconds` | histogram | `step` | a cleanup ran to its end |
//! | `task_manager_cleanup_failures_total` | counter | `step`, `kind` | a cleanup `panicked` or `timed_out` |
//!
//! Cost: a counter or histogram update per lifecycle event (the recorder's own cost; with no
//! recorder installed, `metrics` makes each a no-op). Waits are timed only for tasks that
//! wait: a queued task's or a waiting step's start sits in a small map until it ends.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use metrics::{counter, gauge, histogram};
use task_manager_core::{
    Addon, CancelSource, Cleanup, EventKind, StepEnd, TaskEnd, TaskEvent, TaskId,
};

/// The add-on; see the [crate docs](crate) for what it records.
#[derive(Default)]
pub struct TaskMetrics {
    /// Tasks waiting in their flow's queue, since when.
    queued: Mutex<HashMap<TaskId, Instant>>,
    /// Steps waiting for a resource, since when, and which.
    waiting: Mutex<HashMap<TaskId, (Instant, &'static str)>>,
}

impl std::fmt::Debug for TaskMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskMetrics").finish_non_exhaustive()
    }
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change under these locks is one map operation: a poisoned map is consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn ending_word(ending: &TaskEnd<'_>) -> &'static str {
    match ending {
        TaskEnd::Completed => "completed",
        TaskEnd::Failed { .. } => "failed",
        TaskEnd::Cancelled { .. } => "cancelled",
        TaskEnd::Panicked { .. } => "panicked",
        TaskEnd::Dropped => "dropped",
        _ => "other",
    }
}

fn step_end_word(end: StepEnd) -> &'static str {
    match end {
        StepEnd::Completed => "completed",
        StepEnd::Failed => "failed",
        StepEnd::Cancelled => "cancelled",
        StepEnd::Panicked => "panicked",
        _ => "other",
    }
}

impl TaskMetrics {
    /// The add-on.
    pub fn new() -> Self {
        TaskMetrics::default()
    }

    fn left_queue(&self, event: &TaskEvent<'_>) -> Option<Instant> {
        let since = locked(&self.queued).remove(&event.id)?;
        gauge!("task_manager_tasks_queued", "flow" => event.flow).decrement(1.0);
        Some(since)
    }
}

impl Addon for TaskMetrics {
    fn on_event(&self, event: &TaskEvent<'_>) {
        let flow = event.flow;
        match event.kind {
            EventKind::Submitted => {
                counter!("task_manager_tasks_submitted_total", "flow" => flow).increment(1);
                gauge!("task_manager_tasks_registered", "flow" => flow).increment(1.0);
            }
            EventKind::Queued => {
                locked(&self.queued).insert(event.id, Instant::now());
                gauge!("task_manager_tasks_queued", "flow" => flow).increment(1.0);
            }
            EventKind::Started => {
                if let Some(since) = self.left_queue(event) {
                    histogram!("task_manager_queue_wait_seconds", "flow" => flow)
                        .record(since.elapsed().as_secs_f64());
                }
                counter!("task_manager_tasks_started_total", "flow" => flow).increment(1);
            }
            EventKind::WaitingForResource { resource, .. } => {
                locked(&self.waiting).insert(event.id, (Instant::now(), resource));
            }
            EventKind::StepStarted { step } => {
                if let Some((since, resource)) = locked(&self.waiting).remove(&event.id) {
                    histogram!(
                        "task_manager_resource_wait_seconds",
                        "flow" => flow, "step" => step.name, "resource" => resource
                    )
                    .record(since.elapsed().as_secs_f64());
                }
            }
            EventKind::StepFinished {
                step,
                end,
                duration,
            } => {
                histogram!(
                    "task_manager_step_duration_seconds",
                    "flow" => flow, "step" => step.name, "end" => step_end_word(end)
                )
                .record(duration.as_secs_f64());
            }
            EventKind::CancelRequested { by, .. } => {
                counter!("task_manager_cancels_total", "flow" => flow, "source" => CancelSource::name(by))
                    .increment(1);
            }
            EventKind::CleanupFinished { step, cleanup } => match cleanup {
                Cleanup::Completed { duration, .. } => {
                    histogram!("task_manager_cleanup_duration_seconds", "flow" => flow, "step" => step.name)
                        .record(duration.as_secs_f64());
                }
                Cleanup::Panicked { .. } => {
                    counter!("task_manager_cleanup_failures_total", "flow" => flow, "step" => step.name, "kind" => "panicked")
                        .increment(1);
                }
                Cleanup::TimedOut { .. } => {
                    counter!("task_manager_cleanup_failures_total", "flow" => flow, "step" => step.name, "kind" => "timed_out")
                        .increment(1);
                }
                _ => {}
            },
            EventKind::Finished { ending, duration } => {
                // A task that ends while queued or waiting leaves those waits unrecorded.
                self.left_queue(event);
                locked(&self.waiting).remove(&event.id);
                let ending = ending_word(&ending);
                counter!("task_manager_tasks_finished_total", "flow" => flow, "ending" => ending)
                    .increment(1);
                histogram!("task_manager_task_duration_seconds", "flow" => flow, "ending" => ending)
                    .record(duration.as_secs_f64());
                gauge!("task_manager_tasks_registered", "flow" => flow).decrement(1.0);
            }
            _ => {}
        }
    }

    fn name(&self) -> &str {
        "task-manager-metrics"
    }
}
