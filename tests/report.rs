//! The report every outcome carries: per step its name, start, duration and how it ended;
//! the cleanup; the final runtime info. Times follow tokio's paused test clock, so they are
//! exact here.

use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{
    flow, CancelReason, Cleanup, HasTaskManager, Passport, StepEnd, StepRecord, Task, TaskManager,
};
use tokio::time::Instant;

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("rejected")]
struct Rejected;

/// How many seconds each step takes, and whether the last one fails.
#[derive(Clone, Copy)]
struct Plan {
    seconds: [u64; 3],
    last_fails: bool,
}

#[derive(Debug, Default, PartialEq)]
struct Info {
    visited: Vec<&'static str>,
}

type PlanTask = Task<Plan, Info>;

#[derive(HasTaskManager)]
struct Work {
    tasks: TaskManager,
}

impl Work {
    async fn spend(&self, task: &mut PlanTask, index: usize, name: &'static str) {
        task.info_mut().visited.push(name);
        tokio::time::sleep(Duration::from_secs(task.payload().seconds[index])).await;
    }
}

#[flow(name = work)]
impl Work {
    #[step]
    async fn one(&self, task: &mut PlanTask) -> Result<(), Rejected> {
        self.spend(task, 0, "one").await;
        Ok(())
    }

    #[step(cancel = undo_two)]
    async fn two(&self, task: &mut PlanTask) -> Result<(), Rejected> {
        self.spend(task, 1, "two").await;
        Ok(())
    }

    #[step]
    async fn three(&self, task: &mut PlanTask) -> Result<u8, Rejected> {
        self.spend(task, 2, "three").await;
        if task.payload().last_fails {
            return Err(Rejected);
        }
        Ok(3)
    }

    async fn undo_two(&self, task: &mut PlanTask, _reason: CancelReason) {
        task.info_mut().visited.push("undo_two");
        tokio::time::sleep(Duration::from_secs(4)).await;
    }
}

fn record(name: &'static str, started_at: Instant, seconds: u64, end: StepEnd) -> StepRecord {
    StepRecord {
        name,
        started_at,
        duration: Duration::from_secs(seconds),
        end,
    }
}

#[tokio::test(start_paused = true)]
async fn a_completed_task_reports_every_step_with_its_start_and_duration() {
    let work = Arc::new(Work {
        tasks: TaskManager::new(),
    });
    let t0 = Instant::now();
    let plan = Plan {
        seconds: [1, 2, 3],
        last_fails: false,
    };
    let outcome = work
        .execute_work(Passport::new(plan))
        .expect("submitted")
        .await;
    let report = outcome.report();

    assert_eq!(report.submitted_at, t0);
    assert_eq!(
        report.steps().collect::<Vec<_>>(),
        [
            record("one", t0, 1, StepEnd::Completed),
            record("two", t0 + Duration::from_secs(1), 2, StepEnd::Completed),
            record("three", t0 + Duration::from_secs(3), 3, StepEnd::Completed),
        ]
    );
    assert_eq!(report.finished_at, t0 + Duration::from_secs(6));
    assert_eq!(report.duration(), Duration::from_secs(6));
    assert_eq!(report.cleanup, None);
    assert_eq!(report.info.visited, ["one", "two", "three"]);
    assert_eq!(
        report.step("two").map(|step| step.duration),
        Some(Duration::from_secs(2))
    );
    assert_eq!(report.step("four"), None);
    assert_eq!(outcome.ending().to_string(), "completed");
}

#[tokio::test(start_paused = true)]
async fn a_failed_task_reports_the_failing_step() {
    let work = Arc::new(Work {
        tasks: TaskManager::new(),
    });
    let plan = Plan {
        seconds: [0, 0, 5],
        last_fails: true,
    };
    let outcome = work
        .execute_work(Passport::new(plan))
        .expect("submitted")
        .await;

    let three = outcome.report().step("three").expect("three began");
    assert_eq!(
        (three.end, three.duration),
        (StepEnd::Failed, Duration::from_secs(5))
    );
    assert_eq!(outcome.ending().to_string(), "failed at step `three`");
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_task_reports_the_interrupted_step_and_its_cleanup_and_no_later_step() {
    let work = Arc::new(Work {
        tasks: TaskManager::new(),
    });
    let t0 = Instant::now();
    let plan = Plan {
        seconds: [1, 60, 1],
        last_fails: false,
    };
    let passport = Passport::new(plan);
    let id = passport.id();
    let handle = work.execute_work(passport).expect("submitted");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    work.tasks.cancel(id, "user left");
    let outcome = handle.await;
    let report = outcome.report();

    assert_eq!(
        report.steps().collect::<Vec<_>>(),
        [
            record("one", t0, 1, StepEnd::Completed),
            StepRecord {
                name: "two",
                started_at: t0 + Duration::from_secs(1),
                duration: Duration::from_millis(500),
                end: StepEnd::Cancelled
            },
        ],
        "`three` never began, so it is not listed"
    );
    assert_eq!(
        report.cleanup,
        Some(Cleanup::Completed {
            step: "two",
            duration: Duration::from_secs(4)
        })
    );
    assert_eq!(
        report.finished_at,
        t0 + Duration::from_millis(5500),
        "the end comes after the cleanup"
    );
    assert_eq!(report.info.visited, ["one", "two", "undo_two"]);
    assert_eq!(
        outcome.ending().to_string(),
        "cancelled: user left at step `two`"
    );
}
