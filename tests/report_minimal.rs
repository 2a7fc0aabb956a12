//! `#[flow(report = minimal)]`: the runner reads no clock per step. The report still lists
//! every step that began and how each ended, says that its times were not measured, and
//! gives them as the submission instant and zero; a step's time limit still counts from the
//! step's real start; and when an add-on listens, the steps are timed as usual (their
//! events carry durations).

use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{flow, Ending, HasTaskManager, Passport, StepEnd, Task, TaskManager};
use task_manager_support::EventLog;

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("never")]
struct Never;

/// How long each step takes, in ms.
type LeanTask = Task<[u64; 2]>;

#[derive(HasTaskManager)]
struct Lean {
    tasks: TaskManager,
}

#[flow(name = lean, report = minimal)]
impl Lean {
    #[step]
    async fn fetch(&self, task: &mut LeanTask) -> Result<(), Never> {
        tokio::time::sleep(Duration::from_millis(task.payload()[0])).await;
        Ok(())
    }

    #[step(timeout = "1s")]
    async fn store(&self, task: &mut LeanTask) -> Result<u64, Never> {
        tokio::time::sleep(Duration::from_millis(task.payload()[1])).await;
        Ok(task.payload()[1])
    }
}

fn lean(tasks: TaskManager) -> Arc<Lean> {
    Arc::new(Lean { tasks })
}

#[tokio::test(start_paused = true)]
async fn the_report_lists_the_steps_and_their_ends_without_times() {
    let lean = lean(TaskManager::new());
    let outcome = lean.execute_lean(Passport::new([300, 200])).unwrap().await;
    assert_eq!(outcome.ending(), &Ending::Completed(200));
    let report = outcome.report();
    assert!(!report.step_times());
    let steps: Vec<_> = report
        .steps()
        .map(|step| (step.name, step.end, step.started_at, step.duration))
        .collect();
    assert_eq!(
        steps,
        [
            (
                "fetch",
                StepEnd::Completed,
                report.submitted_at,
                Duration::ZERO
            ),
            (
                "store",
                StepEnd::Completed,
                report.submitted_at,
                Duration::ZERO
            ),
        ]
    );
    // The task's own time is still measured: one clock read at its end.
    assert_eq!(report.duration(), Duration::from_millis(500));
}

#[tokio::test(start_paused = true)]
async fn a_step_time_limit_still_counts_from_the_steps_start() {
    let lean = lean(TaskManager::new());
    let started = tokio::time::Instant::now();
    let outcome = lean
        .execute_lean(Passport::new([300, 5_000]))
        .unwrap()
        .await;
    assert_eq!(
        outcome.ending(),
        &Ending::TimedOut {
            step: "store",
            limit: Duration::from_secs(1)
        }
    );
    assert_eq!(started.elapsed(), Duration::from_millis(1_300));
    assert_eq!(
        outcome.report().steps().last().map(|step| step.end),
        Some(StepEnd::TimedOut)
    );
}

#[tokio::test(start_paused = true)]
async fn with_an_add_on_listening_the_steps_are_timed() {
    let log = EventLog::new();
    let lean = lean(TaskManager::builder().addon(log.clone()).build().unwrap());
    let outcome = lean.execute_lean(Passport::new([300, 200])).unwrap().await;
    let report = outcome.report();
    assert!(report.step_times());
    let durations: Vec<_> = report.steps().map(|step| step.duration).collect();
    assert_eq!(
        durations,
        [Duration::from_millis(300), Duration::from_millis(200)]
    );
    assert_eq!(
        log.durations(),
        [
            ("fetch".to_string(), Duration::from_millis(300)),
            ("store".to_string(), Duration::from_millis(200)),
            ("task".to_string(), Duration::from_millis(500)),
        ]
    );
}
