//! The cancellation explorer on flows of the queue add-on: it meets the waits in a queue (for
//! admission, for a step's resource) as await points, cancels the task there, and the
//! contract holds: the task ends cancelled with no step in progress, no step begins after the
//! cancel, no cleanup runs, the canceller is told the truth, and nothing stays registered.
//!
//! To wait at all, the explored task needs someone ahead of it. Each run's submit closure
//! first submits a "holder" that takes the permit and gives it back one turn of the runtime
//! later (see [`OneTurn`]), so that the holder has ended, and left the registry, before the
//! explored task ends, at whichever point it is cancelled: the explorer checks that the
//! manager is empty once the explored task's outcome is in.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use task_manager_core::testing::{AwaitPoint, CancelExplorer, Case};
use task_manager_core::{flow, CancelReason, Cleanup, HasTaskManager, Passport, Task, TaskManager};

const TICK: Duration = Duration::from_millis(10);

/// Returns `Pending` once, having woken its task at once. The task goes to the back of the
/// runtime's queue, behind the task that waits for what it holds; so it runs again, and ends,
/// before that task has been polled twice. (`tokio::task::yield_now` would not do: tokio
/// defers its wake-up until the runtime has nothing else to run.)
struct OneTurn(bool);

impl Future for OneTurn {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Holds the permit for one turn, then ends.
    Holder,
    /// The task under exploration.
    Explored,
}

#[derive(Default)]
struct Info {
    stored: bool,
    /// Attempts of `store_retried` begun.
    attempts: u32,
}

type JobTask = Task<Role, Info>;

#[derive(HasTaskManager)]
struct Jobs {
    tasks: TaskManager,
}

/// One task at a time.
#[flow(name = solo, limit = 1)]
impl Jobs {
    #[step(cancel = undo_work)]
    async fn work(&self, task: &mut JobTask) -> Result<(), Infallible> {
        match task.payload() {
            Role::Holder => OneTurn(false).await,
            Role::Explored => tokio::time::sleep(TICK).await,
        }
        Ok(())
    }

    async fn undo_work(&self, _task: &mut JobTask, _reason: CancelReason) {}
}

/// A free step, then one that needs the "db" resource.
#[flow(name = save)]
impl Jobs {
    #[step]
    async fn prepare(&self, _task: &mut JobTask) -> Result<(), Infallible> {
        Ok(())
    }

    #[step(cancel = undo_store, resource = "db")]
    async fn store(&self, task: &mut JobTask) -> Result<(), Infallible> {
        tokio::time::sleep(TICK).await;
        task.info_mut().stored = true;
        Ok(())
    }

    async fn undo_store(&self, _task: &mut JobTask, _reason: CancelReason) {}
}

/// Holds one "db" permit for one turn.
#[flow(name = hold_db)]
impl Jobs {
    #[step(resource = "db")]
    async fn hold(&self, _task: &mut JobTask) -> Result<(), Infallible> {
        OneTurn(false).await;
        Ok(())
    }
}

/// The explorer's check for a flow whose storing step sets `stored`: a cancel before the
/// task's ending leaves nothing stored; one at its ending finds it stored.
fn stored_only_if_it_ended<T, E>(case: &Case<'_, T, E, Info>) -> Result<(), String> {
    let stored = case.outcome.report().info.stored;
    match case.point {
        AwaitPoint::BeforeEnding { .. } if !stored => Err("`store` ran to its end".into()),
        AwaitPoint::BeforeEnding { .. } => Ok(()),
        _ if stored => Err("stored, though cancelled before `store` ended".into()),
        _ => Ok(()),
    }
}

fn jobs(tasks: TaskManager) -> Arc<Jobs> {
    Arc::new(Jobs { tasks })
}

#[tokio::test(start_paused = true)]
async fn the_explorer_cancels_a_task_while_it_waits_in_its_flows_queue() {
    let jobs = jobs(TaskManager::new());
    let report = CancelExplorer::new(
        &jobs.tasks,
        || Role::Explored,
        |passport| {
            // Takes the flow's one permit at submission, so the explored task has to queue.
            let holder = jobs.execute_solo(Passport::new(Role::Holder))?;
            holder.detach();
            jobs.execute_solo(passport)
        },
    )
    .run()
    .await
    .unwrap_or_else(|error| panic!("{error}"));

    let points: Vec<AwaitPoint> = report.points.iter().map(|point| point.point).collect();
    assert_eq!(
        points,
        [
            AwaitPoint::Admission { poll: 1 },
            AwaitPoint::BeforeStep {
                index: 0,
                step: "work"
            },
            AwaitPoint::StepPending {
                index: 0,
                step: "work",
                poll: 1
            },
            AwaitPoint::BeforeEnding { steps_completed: 1 },
        ],
        "{report}"
    );
    let queued = &report.points[0];
    assert_eq!(
        queued.ending,
        "cancelled: cancelled by the explorer after 0 step(s)"
    );
    assert_eq!(queued.cleanup, Some(Cleanup::NoStepInProgress));
    assert!(jobs.tasks.is_empty());
    assert_eq!(jobs.tasks.counts("solo").queued, 0);
}

#[tokio::test(start_paused = true)]
async fn the_explorer_cancels_a_step_while_it_waits_for_its_resource() {
    let jobs = jobs(TaskManager::builder().resource("db", 1).build().unwrap());
    let report = CancelExplorer::new(
        &jobs.tasks,
        || Role::Explored,
        |passport| {
            let holder = jobs.execute_hold_db(Passport::new(Role::Holder))?;
            holder.detach();
            jobs.execute_save(passport)
        },
    )
    // A cancel before `store` began leaves nothing stored.
    .check(stored_only_if_it_ended)
    .run()
    .await
    .unwrap_or_else(|error| panic!("{error}"));

    let points: Vec<AwaitPoint> = report.points.iter().map(|point| point.point).collect();
    assert_eq!(
        points,
        [
            AwaitPoint::BeforeStep {
                index: 0,
                step: "prepare"
            },
            AwaitPoint::ResourcePending {
                index: 1,
                step: "store",
                poll: 1
            },
            AwaitPoint::BeforeStep {
                index: 1,
                step: "store"
            },
            AwaitPoint::StepPending {
                index: 1,
                step: "store",
                poll: 1
            },
            AwaitPoint::BeforeEnding { steps_completed: 2 },
        ],
        "{report}"
    );
    assert_eq!(report.points[1].cleanup, Some(Cleanup::NoStepInProgress));
    assert!(matches!(
        report.points[3].cleanup,
        Some(Cleanup::Completed { step: "store", .. })
    ));
    assert!(jobs.tasks.is_empty());
}

/// The error of `save_retried`'s first attempt.
#[derive(Debug, PartialEq)]
struct Busy;

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("busy")
    }
}

fn one_retry() -> task_manager_core::Retry<Busy> {
    task_manager_core::Retry::attempts(2).fixed(TICK)
}

/// A step that needs the "db" resource, with a time limit and a retry: its first attempt
/// fails, its second stores.
#[flow(name = save_retried)]
impl Jobs {
    #[step]
    async fn prepare_retried(&self, _task: &mut JobTask) -> Result<(), Busy> {
        Ok(())
    }

    #[step(cancel = undo_store_retried, resource = "db", timeout = "1s", retry = one_retry)]
    async fn store_retried(&self, task: &mut JobTask) -> Result<(), Busy> {
        tokio::time::sleep(TICK).await;
        task.info_mut().attempts += 1;
        if task.info().attempts == 1 {
            return Err(Busy);
        }
        task.info_mut().stored = true;
        Ok(())
    }

    async fn undo_store_retried(&self, _task: &mut JobTask, _reason: CancelReason) {}
}

#[tokio::test(start_paused = true)]
async fn the_explorer_cancels_a_retried_step_that_needs_a_resource_at_each_of_its_waits() {
    let jobs = jobs(TaskManager::builder().resource("db", 1).build().unwrap());
    let report = CancelExplorer::new(
        &jobs.tasks,
        || Role::Explored,
        |passport| {
            let holder = jobs.execute_hold_db(Passport::new(Role::Holder))?;
            holder.detach();
            jobs.execute_save_retried(passport)
        },
    )
    .check(stored_only_if_it_ended)
    .run()
    .await
    .unwrap_or_else(|error| panic!("{error}"));

    let points: Vec<AwaitPoint> = report.points.iter().map(|point| point.point).collect();
    assert_eq!(
        points,
        [
            AwaitPoint::BeforeStep {
                index: 0,
                step: "prepare_retried"
            },
            AwaitPoint::BeforeStep {
                index: 1,
                step: "store_retried"
            },
            AwaitPoint::ResourcePending {
                index: 1,
                step: "store_retried",
                poll: 1
            },
            // Polls are counted across the step's waits and attempts.
            AwaitPoint::StepPending {
                index: 1,
                step: "store_retried",
                poll: 2
            },
            AwaitPoint::BetweenAttempts {
                index: 1,
                step: "store_retried",
                poll: 3
            },
            AwaitPoint::StepPending {
                index: 1,
                step: "store_retried",
                poll: 4
            },
            AwaitPoint::BeforeEnding { steps_completed: 2 },
        ],
        "{report}"
    );
    // Waiting for the resource, or between the attempts: no attempt in progress.
    assert_eq!(report.points[2].cleanup, Some(Cleanup::NoStepInProgress));
    assert_eq!(report.points[4].cleanup, Some(Cleanup::NoStepInProgress));
    assert!(matches!(
        report.points[5].cleanup,
        Some(Cleanup::Completed {
            step: "store_retried",
            ..
        })
    ));
    assert!(jobs.tasks.is_empty());
}
