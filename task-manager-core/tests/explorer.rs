//! The cancellation explorer: what it finds on correct flows, and that it catches flows
//! (here: hand-written runner code with planted bugs) that break the contract.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use task_manager_core::__private::{self, Scope, StepRun};
use task_manager_core::__private::{FlowInfo, StepInfo};
use task_manager_core::testing::{AwaitPoint, CancelExplorer, ExploreError};
use task_manager_core::{
    flow, CancelReason, Cleanup, HasTaskManager, Passport, SubmitError, Task, TaskHandle,
    TaskManager,
};

const TICK: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ends {
    Completes,
    FailsAtCheck,
    PanicsAtCheck,
}

#[derive(Default)]
struct Info {
    fetched: Option<u32>,
    cleanup_saw: Option<Option<u32>>,
}

type JobTask = Task<Ends, Info>;

#[derive(HasTaskManager)]
struct Jobs {
    tasks: TaskManager,
}

#[flow(name = job)]
impl Jobs {
    /// Two awaits: two `Pending` polls.
    #[step(cancel = undo_fetch)]
    async fn fetch(&self, task: &mut JobTask) -> Result<u32, String> {
        tokio::time::sleep(TICK).await;
        task.info_mut().fetched = Some(7);
        tokio::time::sleep(TICK).await;
        Ok(7)
    }

    /// No await: never `Pending`.
    #[step(cancel = undo_check)]
    async fn check(&self, task: &mut JobTask, value: u32) -> Result<u32, String> {
        match task.payload() {
            Ends::Completes => Ok(value + 1),
            Ends::FailsAtCheck => Err("bad value".into()),
            Ends::PanicsAtCheck => panic!("check exploded"),
        }
    }

    /// One await, no cleanup declared.
    #[step]
    async fn store(&self, _task: &mut JobTask, value: u32) -> Result<u32, String> {
        tokio::time::sleep(TICK).await;
        Ok(value)
    }

    async fn undo_fetch(&self, task: &mut JobTask, _reason: CancelReason) {
        tokio::time::sleep(TICK).await; // a cleanup may await; it is not a cancel point
        task.info_mut().cleanup_saw = Some(task.info().fetched);
    }

    async fn undo_check(&self, task: &mut JobTask, _reason: CancelReason) {
        task.info_mut().cleanup_saw = Some(task.info().fetched);
    }
}

fn jobs() -> Arc<Jobs> {
    Arc::new(Jobs {
        tasks: TaskManager::new(),
    })
}

#[tokio::test(start_paused = true)]
async fn meets_every_await_point_of_a_completing_flow_and_finds_the_contract_kept() {
    let jobs = jobs();
    let report = CancelExplorer::new(
        &jobs.tasks,
        || Ends::Completes,
        |passport| jobs.execute_job(passport),
    )
    .run()
    .await
    .unwrap_or_else(|error| panic!("{error}"));

    let points: Vec<AwaitPoint> = report.points.iter().map(|point| point.point).collect();
    let fetch = |poll| AwaitPoint::StepPending {
        index: 0,
        step: "fetch",
        poll,
    };
    assert_eq!(
        points,
        [
            AwaitPoint::BeforeStep {
                index: 0,
                step: "fetch"
            },
            fetch(1),
            fetch(2),
            AwaitPoint::BeforeStep {
                index: 1,
                step: "check"
            },
            AwaitPoint::BeforeStep {
                index: 2,
                step: "store"
            },
            AwaitPoint::StepPending {
                index: 2,
                step: "store",
                poll: 1
            },
            AwaitPoint::BeforeEnding { steps_completed: 3 },
        ]
    );
    let cleanups: Vec<Option<Cleanup>> = report.points.iter().map(|p| p.cleanup.clone()).collect();
    assert_eq!(cleanups[0], Some(Cleanup::NoStepInProgress));
    assert!(matches!(
        cleanups[1],
        Some(Cleanup::Completed { step: "fetch", .. })
    ));
    assert_eq!(cleanups[5], Some(Cleanup::NotDeclared { step: "store" }));
    assert_eq!(cleanups[6], Some(Cleanup::NoStepInProgress));
    assert_eq!(report.uncancelled, "completed");
    assert!(jobs.tasks.is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_check_closure_sees_what_the_cleanup_saw() {
    let jobs = jobs();
    let seen = AtomicUsize::new(0);
    CancelExplorer::new(
        &jobs.tasks,
        || Ends::Completes,
        |passport| jobs.execute_job(passport),
    )
    .check(|case| {
        seen.fetch_add(1, Ordering::Relaxed);
        let info = &case.outcome.report().info;
        let expected = match case.point {
            AwaitPoint::StepPending { poll: 1, .. }
                if case.point.step_in_progress() == Some("fetch") =>
            {
                Some(None)
            }
            AwaitPoint::StepPending { step: "fetch", .. } => Some(Some(7)),
            _ => None,
        };
        if info.cleanup_saw == expected {
            Ok(())
        } else {
            Err(format!(
                "the cleanup saw {:?}, expected {expected:?}",
                info.cleanup_saw
            ))
        }
    })
    .run()
    .await
    .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(seen.load(Ordering::Relaxed), 7);
}

#[tokio::test(start_paused = true)]
async fn explores_a_failing_flow_up_to_its_failure() {
    let jobs = jobs();
    let report = CancelExplorer::new(
        &jobs.tasks,
        || Ends::FailsAtCheck,
        |passport| jobs.execute_job(passport),
    )
    .run()
    .await
    .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(report.uncancelled, "failed at step `check`");
    assert_eq!(
        report.points.last().map(|point| point.point),
        Some(AwaitPoint::BeforeEnding { steps_completed: 1 })
    );
    assert_eq!(report.explored(), 5);
}

#[tokio::test(start_paused = true)]
async fn explores_a_flow_that_its_own_deadline_stops() {
    let jobs = jobs();
    let report = CancelExplorer::new(
        &jobs.tasks,
        || Ends::Completes,
        |passport| jobs.execute_job(passport.with_timeout(Duration::from_millis(15))),
    )
    .run()
    .await
    .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(report.uncancelled, "timed out at step `fetch`");
    // Before fetch, and its two sleeps; the deadline passes during the second.
    assert_eq!(report.explored(), 3);
    assert!(report.points.iter().all(|point| point
        .ending
        .starts_with("cancelled: cancelled by the explorer")));
}

#[tokio::test(start_paused = true)]
async fn a_cancel_that_beats_a_panic_still_runs_the_cleanup_once() {
    let jobs = jobs();
    let report = CancelExplorer::new(
        &jobs.tasks,
        || Ends::PanicsAtCheck,
        |passport| jobs.execute_job(passport),
    )
    .run()
    .await
    .unwrap_or_else(|error| panic!("{error}"));
    let last = report.points.last().expect("points");
    assert_eq!(
        last.point,
        AwaitPoint::StepPanicked {
            index: 1,
            step: "check"
        }
    );
    assert!(matches!(
        last.cleanup,
        Some(Cleanup::Completed { step: "check", .. })
    ));
    assert!(report.uncancelled.starts_with("panicked at step `check`"));
}

#[tokio::test(start_paused = true)]
async fn a_failed_check_names_the_point() {
    let jobs = jobs();
    let error = CancelExplorer::new(
        &jobs.tasks,
        || Ends::Completes,
        |passport| jobs.execute_job(passport),
    )
    .check(|case| match case.point {
        AwaitPoint::BeforeStep { step: "store", .. } => {
            Err("no cancel before store, please".into())
        }
        _ => Ok(()),
    })
    .run()
    .await
    .expect_err("the check refuses one point");
    let message = error.to_string();
    assert!(
        matches!(
            error,
            ExploreError::Contract {
                index: 4,
                total: 7,
                ..
            }
        ),
        "{message}"
    );
    assert!(
        message.contains("await point 4 of 7 (before step `store` began)"),
        "{message}"
    );
    assert!(
        message.contains("no cancel before store, please"),
        "{message}"
    );
}

#[tokio::test(start_paused = true)]
async fn refuses_a_flow_that_takes_another_path_each_run() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    #[derive(HasTaskManager)]
    struct Moody {
        tasks: TaskManager,
    }
    #[flow(name = moody)]
    impl Moody {
        #[step]
        async fn only(&self, _task: &mut Task) -> Result<(), Infallible> {
            if RUNS.fetch_add(1, Ordering::Relaxed) > 0 {
                tokio::time::sleep(TICK).await;
            }
            Ok(())
        }
    }
    let moody = Arc::new(Moody {
        tasks: TaskManager::new(),
    });
    let error = CancelExplorer::new(
        &moody.tasks,
        || (),
        |passport| moody.execute_moody(passport),
    )
    .run()
    .await
    .expect_err("the second run differs");
    assert!(
        matches!(error, ExploreError::NotDeterministic { index: 1, .. }),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn refuses_a_submit_closure_that_ignores_its_passport() {
    let jobs = jobs();
    let error = CancelExplorer::new(
        &jobs.tasks,
        || Ends::Completes,
        |_passport| jobs.execute_job(Passport::new(Ends::Completes)),
    )
    .run()
    .await
    .expect_err("another passport");
    assert!(
        matches!(error, ExploreError::PassportNotUsed { .. }),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn refuses_a_manager_the_flow_does_not_register_in() {
    let jobs = jobs();
    let elsewhere = TaskManager::new();
    let error = CancelExplorer::new(
        &elsewhere,
        || Ends::Completes,
        |passport| jobs.execute_job(passport),
    )
    .run()
    .await
    .expect_err("wrong manager");
    assert!(
        matches!(error, ExploreError::WrongManager { .. }),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn refuses_a_multi_thread_runtime() {
    let jobs = jobs();
    let error = CancelExplorer::new(
        &jobs.tasks,
        || Ends::Completes,
        |passport| jobs.execute_job(passport),
    )
    .run()
    .await
    .expect_err("not current-thread");
    assert!(matches!(error, ExploreError::NotCurrentThread), "{error}");
}

/// Runner code as `#[flow]` would write it for two steps, with one planted bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bug {
    None,
    CleanupTwice,
    CleanupOfAStepThatNeverBegan,
    GoesOnAfterAStop,
}

static BROKEN: FlowInfo =
    FlowInfo::new("broken", &[StepInfo::new("first"), StepInfo::new("second")]);

async fn tick() -> Result<(), Infallible> {
    tokio::time::sleep(TICK).await;
    Ok(())
}

fn submit_broken(
    manager: &TaskManager,
    passport: Passport<Bug>,
) -> Result<TaskHandle<(), Infallible, ()>, SubmitError> {
    __private::submit(
        manager,
        &BROKEN,
        passport,
        move |task: Task<Bug, ()>, mut scope: Scope, _| async move {
            let bug = *task.payload();
            for index in 0..2 {
                match scope.step(index, tick()).await {
                    StepRun::Completed(()) => {}
                    StepRun::Failed(error) => return scope.failed(task, index, error),
                    StepRun::Stopped(stop) => {
                        if stop.began() {
                            scope.cleanup(&stop, |_| async {}).await;
                            if bug == Bug::CleanupTwice {
                                scope.cleanup(&stop, |_| async {}).await;
                            }
                        } else if bug == Bug::CleanupOfAStepThatNeverBegan {
                            // Asks anyway: the scope must not call it.
                            let never = |_| -> std::future::Ready<()> {
                                panic!("the cleanup of a step that never began was called")
                            };
                            scope.cleanup(&stop, never).await;
                        }
                        if bug == Bug::GoesOnAfterAStop && index == 0 {
                            continue;
                        }
                        return scope.stopped(task, stop);
                    }
                }
            }
            scope.completed(task, ())
        },
    )
}

async fn explore_broken(bug: Bug) -> Result<usize, ExploreError> {
    let tasks = TaskManager::new();
    CancelExplorer::new(&tasks, || bug, |passport| submit_broken(&tasks, passport))
        .run()
        .await
        .map(|report| report.explored())
}

#[tokio::test(start_paused = true)]
async fn the_hand_written_runner_without_a_bug_passes() {
    assert_eq!(explore_broken(Bug::None).await.ok(), Some(5));
}

#[tokio::test(start_paused = true)]
async fn catches_a_cleanup_run_twice() {
    let error = explore_broken(Bug::CleanupTwice).await.expect_err("caught");
    let message = error.to_string();
    assert!(
        message.contains("(step `first` suspended (poll 1 returned Pending))")
            && message.contains("expected exactly one, of step `first`"),
        "{message}"
    );
}

/// `Scope::cleanup` itself refuses the cleanup of a step that never began (it does not
/// call the closure that makes it), so no runner can get this wrong any more; the explorer
/// still checks it ("no step was in progress, yet cleanups ran").
#[tokio::test(start_paused = true)]
async fn a_cleanup_asked_for_a_step_that_never_began_is_not_run() {
    let explored = explore_broken(Bug::CleanupOfAStepThatNeverBegan)
        .await
        .expect("the scope runs no cleanup for a step that never began");
    assert!(explored > 2, "{explored} await points");
}

#[tokio::test(start_paused = true)]
async fn catches_a_runner_that_goes_on_after_a_stop() {
    let error = explore_broken(Bug::GoesOnAfterAStop)
        .await
        .expect_err("caught");
    assert!(
        matches!(error, ExploreError::Contract { index: 1, .. }),
        "{error}"
    );
}
