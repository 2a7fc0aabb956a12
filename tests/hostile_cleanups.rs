//! Cleanups that panic or never finish: they must not wedge the manager or other tasks, the
//! canceller learns what happened, and an optional deadline bounds them.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{
    flow, CancelReason, CancelStatus, Cleanup, CleanupError, ConfigError, Ending, HasTaskManager,
    Passport, Task, TaskHandle, TaskManager, TaskState,
};
use task_manager_support::panics::{silence_planned_panics, PLANNED};
use tokio::sync::Notify;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cleaning {
    Quick,
    Panics,
    Hangs,
}

#[derive(Debug, Clone, Copy)]
struct Order {
    cleaning: Cleaning,
    /// The step panics instead of waiting.
    step_panics: bool,
}

type JobTask = Task<Order, ()>;

/// The step of both flows: panics if the order says so, else tells `begun` and holds until
/// the task is stopped.
async fn hold_until_stopped(task: &JobTask, begun: &Notify) -> Result<(), Infallible> {
    if task.payload().step_panics {
        panic!("{PLANNED}: the step");
    }
    begun.notify_one();
    std::future::pending::<()>().await;
    Ok(())
}

/// The cleanup of both flows, as the order says; a quick one takes `quick`.
async fn clean_as_ordered(task: &JobTask, quick: Duration) {
    match task.payload().cleaning {
        Cleaning::Quick => tokio::time::sleep(quick).await,
        Cleaning::Panics => panic!("{PLANNED}: the cleanup"),
        Cleaning::Hangs => std::future::pending().await,
    }
}

#[derive(HasTaskManager)]
struct Hostile {
    tasks: TaskManager,
    begun: Notify,
}

#[flow(name = hostile)]
impl Hostile {
    #[step(cancel = clean)]
    async fn hold(&self, task: &mut JobTask) -> Result<(), Infallible> {
        hold_until_stopped(task, &self.begun).await
    }

    async fn clean(&self, task: &mut JobTask, _reason: CancelReason) {
        clean_as_ordered(task, Duration::from_millis(10)).await;
    }
}

/// The same flow with its own cleanup deadline.
#[derive(HasTaskManager)]
struct Bounded {
    tasks: TaskManager,
    begun: Notify,
}

#[flow(name = bounded, cleanup_timeout = "5s")]
impl Bounded {
    #[step(cancel = clean)]
    async fn hold(&self, task: &mut JobTask) -> Result<(), Infallible> {
        hold_until_stopped(task, &self.begun).await
    }

    async fn clean(&self, task: &mut JobTask, _reason: CancelReason) {
        clean_as_ordered(task, Duration::from_secs(4)).await;
    }
}

fn hostile(tasks: TaskManager) -> Arc<Hostile> {
    Arc::new(Hostile {
        tasks,
        begun: Notify::new(),
    })
}

fn bounded(tasks: TaskManager) -> Arc<Bounded> {
    Arc::new(Bounded {
        tasks,
        begun: Notify::new(),
    })
}

impl Hostile {
    /// Submits a task whose cleanup does as `cleaning` says, and waits until its step holds.
    async fn begin(self: &Arc<Self>, cleaning: Cleaning) -> TaskHandle<(), Infallible, ()> {
        let handle = self.execute_hostile(order(cleaning)).expect("submit");
        self.begun.notified().await;
        handle
    }
}

impl Bounded {
    /// Submits a task whose cleanup does as `cleaning` says, and waits until its step holds.
    async fn begin(self: &Arc<Self>, cleaning: Cleaning) -> TaskHandle<(), Infallible, ()> {
        let handle = self.execute_bounded(order(cleaning)).expect("submit");
        self.begun.notified().await;
        handle
    }
}

/// What a cancel learns of a cleanup of `hold` that its deadline cut, `after` it began.
fn timed_out_after(after: Duration) -> Cleanup {
    Cleanup::TimedOut {
        step: "hold",
        after,
    }
}

fn order(cleaning: Cleaning) -> Passport<Order> {
    Passport::new(Order {
        cleaning,
        step_panics: false,
    })
}

#[tokio::test(start_paused = true)]
async fn a_panicking_cleanup_is_reported_to_the_canceller_and_harms_no_one_else() {
    silence_planned_panics();
    let hostile = hostile(TaskManager::new());
    let bystander = hostile.begin(Cleaning::Quick).await;
    let handle = hostile.begin(Cleaning::Panics).await;
    let id = handle.id();

    let cleanup = hostile
        .tasks
        .cancel(id, "go")
        .await
        .expect("a cleanup was due");
    let expected = Cleanup::Panicked {
        step: "hold",
        message: format!("{PLANNED}: the cleanup"),
    };
    assert_eq!(cleanup, expected);
    let error = cleanup.into_result(id).expect_err("a panic is an error");
    assert_eq!(
        error.to_string(),
        format!("the cleanup of step `hold` of task {id} panicked: {PLANNED}: the cleanup")
    );
    assert_eq!(handle.await.report().cleanup, Some(expected));

    // The manager and the other task carry on.
    assert_eq!(hostile.tasks.len(), 1);
    assert!(matches!(
        hostile.tasks.cancel(bystander.id(), "done").await,
        Some(Cleanup::Completed { .. })
    ));
    assert!(bystander.await.is_cancelled());
    assert!(hostile.tasks.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_cleanup_that_never_finishes_wedges_only_its_own_task() {
    let hostile = hostile(TaskManager::new());
    let stuck = hostile.begin(Cleaning::Hangs).await;
    let cancellation = stuck.cancel("go");
    assert_eq!(cancellation.status(), CancelStatus::Requested);
    // The canceller can bound its own wait; the task stays registered, visibly stopping.
    assert!(
        tokio::time::timeout(Duration::from_secs(3600), cancellation)
            .await
            .is_err()
    );
    assert_eq!(
        hostile.tasks.status(stuck.id()).map(|s| s.state),
        Some(TaskState::Cancelling)
    );

    // Other tasks start, run, and are cancelled as usual.
    let other = hostile.begin(Cleaning::Quick).await;
    assert!(matches!(
        hostile.tasks.cancel(other.id(), "done").await,
        Some(Cleanup::Completed { .. })
    ));
    assert!(other.await.is_cancelled());

    // A shutdown names it rather than hanging.
    let report = hostile.tasks.shutdown(Duration::from_secs(5)).await;
    assert_eq!(
        report
            .unfinished
            .iter()
            .map(|task| task.id)
            .collect::<Vec<_>>(),
        [stuck.id()]
    );
    stuck.detach();
}

#[tokio::test(start_paused = true)]
async fn a_flow_cleanup_deadline_drops_a_hanging_cleanup_and_ends_the_task() {
    let bounded = bounded(TaskManager::new());
    let handle = bounded.begin(Cleaning::Hangs).await;
    let id = handle.id();

    let cleanup = bounded
        .tasks
        .cancel(id, "go")
        .await
        .expect("a cleanup was due");
    let expected = timed_out_after(Duration::from_secs(5));
    assert_eq!(cleanup, expected);
    assert_eq!(
        cleanup.into_result(id),
        Err(CleanupError::TimedOut {
            id,
            step: "hold",
            after: Duration::from_secs(5)
        })
    );
    let outcome = handle.await;
    assert!(outcome.is_cancelled());
    assert_eq!(outcome.report().cleanup, Some(expected));
    assert!(bounded.tasks.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_cleanup_that_finishes_within_its_deadline_completes() {
    let bounded = bounded(TaskManager::new());
    let handle = bounded.begin(Cleaning::Quick).await;
    let cleanup = bounded.tasks.cancel(handle.id(), "go").await;
    assert_eq!(
        cleanup,
        Some(Cleanup::Completed {
            step: "hold",
            duration: Duration::from_secs(4)
        })
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicked_steps_hanging_cleanup_is_bounded_too() {
    silence_planned_panics();
    let bounded = bounded(TaskManager::new());
    let passport = Passport::new(Order {
        cleaning: Cleaning::Hangs,
        step_panics: true,
    });
    let outcome = bounded.execute_bounded(passport).expect("submit").await;
    assert!(matches!(
        outcome.ending(),
        Ending::Panicked { step: "hold", .. }
    ));
    assert_eq!(
        outcome.report().cleanup,
        Some(timed_out_after(Duration::from_secs(5)))
    );
}

/// Cancels a task of `hostile` whose cleanup hangs, and asserts that the cleanup was cut
/// `after` it began: the manager's deadline, for this flow has none of its own.
async fn a_hanging_cleanup_is_cut_after(hostile: &Arc<Hostile>, after: Duration) {
    let handle = hostile.begin(Cleaning::Hangs).await;
    assert_eq!(
        hostile.tasks.cancel(handle.id(), "go").await,
        Some(timed_out_after(after))
    );
}

#[tokio::test(start_paused = true)]
async fn the_managers_deadline_applies_to_flows_without_their_own() {
    let tasks = TaskManager::builder()
        .cleanup_timeout(Duration::from_secs(2))
        .build()
        .expect("valid");
    a_hanging_cleanup_is_cut_after(&hostile(tasks), Duration::from_secs(2)).await;
}

#[tokio::test(start_paused = true)]
async fn the_builders_deadline_is_the_managers_deadline() {
    let tasks = TaskManager::builder()
        .cleanup_timeout(Duration::from_secs(2))
        .build()
        .expect("valid");
    assert_eq!(tasks.cleanup_timeout(), Some(Duration::from_secs(2)));
    a_hanging_cleanup_is_cut_after(&hostile(tasks), Duration::from_secs(2)).await;
}

#[tokio::test(start_paused = true)]
async fn a_flows_own_deadline_wins_over_the_managers() {
    let tasks = TaskManager::builder()
        .cleanup_timeout(Duration::from_secs(3600))
        .build()
        .expect("valid");
    let bounded = bounded(tasks);
    let handle = bounded.begin(Cleaning::Hangs).await;
    assert_eq!(
        bounded.tasks.cancel(handle.id(), "go").await,
        Some(timed_out_after(Duration::from_secs(5)))
    );
}

#[test]
fn a_zero_manager_deadline_is_refused_and_a_huge_one_never_comes() {
    let error = TaskManager::builder()
        .cleanup_timeout(Duration::ZERO)
        .build()
        .expect_err("zero");
    assert_eq!(
        error,
        ConfigError::Zero {
            setting: "cleanup_timeout",
            why: "every cleanup would be dropped before it could run"
        }
    );
    assert_eq!(
        error.to_string(),
        "`cleanup_timeout` must be longer than zero: every cleanup would be dropped before it could run"
    );
    let never = TaskManager::builder()
        .cleanup_timeout(Duration::MAX)
        .build()
        .expect("accepted: it never comes");
    assert_eq!(never.cleanup_timeout(), Some(Duration::MAX));
}

#[test]
fn the_builder_refuses_a_zero_deadline_when_it_builds() {
    let error = TaskManager::builder()
        .cleanup_timeout(Duration::ZERO)
        .build()
        .expect_err("zero");
    assert_eq!(
        error,
        ConfigError::Zero {
            setting: "cleanup_timeout",
            why: "every cleanup would be dropped before it could run"
        }
    );
}
