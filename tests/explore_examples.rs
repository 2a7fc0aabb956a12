//! The cancellation explorer on every example flow: each is cancelled at each of its await
//! points in turn, and must keep the contract there.

use std::sync::Arc;
use std::time::Duration;

use task_manager_core::testing::{AwaitPoint, CancelExplorer, ExploreReport};
use task_manager_core::TaskManager;
use task_manager_support::panics::silence_planned_panics;
use task_manager_support::soak::{Kind, Payload, Soak};

#[allow(dead_code)] // its `main` is not called here: only its flow is used
#[path = "../examples/quickstart.rs"]
mod quickstart;

use quickstart::{Job, MyTaskManager};

fn points(report: &ExploreReport) -> Vec<String> {
    report
        .points
        .iter()
        .map(|point| point.point.to_string())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn quickstart_flow_keeps_the_contract_at_every_await_point() {
    let manager = Arc::new(MyTaskManager {
        tasks: TaskManager::new(),
    });
    let report = CancelExplorer::new(
        &manager.tasks,
        || Job {
            work: Duration::from_millis(10),
        },
        |passport| manager.execute_test_flow(passport),
    )
    // The runtime info is what the steps wrote: step_1 writes it as its last act, so only a
    // cancel after step_1 finds it written (and step_2's cleanup saw it).
    .check(|case| {
        let written = case.outcome.report().info.some_runtime_value.is_some();
        if written == (case.point.steps_completed() >= 1) {
            Ok(())
        } else {
            Err(format!("runtime value written: {written}"))
        }
    })
    .run()
    .await
    .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        points(&report),
        [
            "before step `step_1` began",
            "step `step_1` suspended (poll 1 returned Pending)",
            "before step `step_2` began",
            "step `step_2` suspended (poll 1 returned Pending)",
            "after the steps (2 completed), before the task claimed its ending",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn soak_flow_keeps_the_contract_at_every_await_point() {
    silence_planned_panics();
    for kind in [Kind::Completes, Kind::Panics, Kind::Cancelled] {
        let soak = Soak::new();
        let report = CancelExplorer::new(
            &soak.tasks,
            || Payload::new(41, kind),
            |passport| soak.execute_soak(passport),
        )
        // The cleanup copies what it saw of the first step's reservation into `released`:
        // nothing if the cancel came before `reserve` wrote it, task 41's once it had.
        .check(|case| {
            let info = &case.outcome.report().info;
            let expected = match case.point.step_in_progress() {
                None => None,
                Some(_) if case.point.steps_completed() >= 1 => Some(Some(41)),
                Some(_) => Some(None),
            };
            if info.released == expected {
                Ok(())
            } else {
                Err(format!(
                    "the cleanup released {:?}, expected {expected:?}",
                    info.released
                ))
            }
        })
        .run()
        .await
        .unwrap_or_else(|error| panic!("{kind:?}: {error}"));
        let last = report.points.last().map(|point| point.point);
        match kind {
            Kind::Completes | Kind::Cancelled => assert_eq!(
                last,
                Some(AwaitPoint::BeforeEnding { steps_completed: 2 }),
                "{kind:?}"
            ),
            Kind::Panics => assert_eq!(
                last,
                Some(AwaitPoint::StepPanicked {
                    index: 1,
                    step: "work"
                })
            ),
        }
    }
}

#[allow(dead_code)] // its `main` is not called here: only its flow is used
#[path = "../examples/saga.rs"]
mod saga;

/// The saga: a retrying step (two outages, then success), a failing last step, and two
/// compensations. Cancelled at each await point (the attempts, the waits between them, the
/// compensations), it keeps the contract, and the compensations of the steps completed by
/// then run once each, in reverse order.
#[tokio::test(start_paused = true)]
async fn saga_flow_keeps_the_contract_at_every_await_point() {
    let shop = Arc::new(saga::Shop {
        tasks: TaskManager::new(),
        outages: std::sync::atomic::AtomicU32::new(0),
        verbose: false,
    });
    let report = CancelExplorer::new(
        &shop.tasks,
        || {
            // Each run meets two outages before its charge goes through.
            shop.outages.store(2, std::sync::atomic::Ordering::SeqCst);
            saga::Order {
                item: "teapot",
                cents: 2_500,
            }
        },
        |passport| shop.execute_order(passport),
    )
    .check(|case| {
        let undone: Vec<_> = case
            .outcome
            .report()
            .compensations()
            .iter()
            .map(|compensation| compensation.step())
            .collect();
        let completed = case.point.steps_completed();
        let expected: &[&str] = match completed {
            0 => &[],
            1 => &["reserve"],
            _ => &["charge", "reserve"],
        };
        if undone == expected {
            Ok(())
        } else {
            Err(format!(
                "{completed} step(s) completed, yet the compensations were {undone:?}"
            ))
        }
    })
    .run()
    .await
    .unwrap_or_else(|error| panic!("{error}"));
    let points = points(&report);
    let between = points
        .iter()
        .filter(|point| point.contains("waiting between two attempts"))
        .count();
    assert_eq!(
        between, 2,
        "each wait between two attempts is an await point: {points:?}"
    );
    // `refund` awaits: a cancel while it runs finds the task's ending claimed.
    assert!(
        points
            .iter()
            .any(|point| point.starts_with("compensating step `charge`")),
        "each poll of a compensation that awaits is an await point: {points:?}"
    );
}

/// A retrying flow whose first attempt overruns its time limit (its cleanup runs, then the
/// wait, then the next attempt), whose second fails with an error the policy retries, and
/// whose third succeeds.
mod flaky {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use task_manager_core::{flow, CancelReason, HasTaskManager, Retry, Task, TaskManager};

    #[derive(Debug, thiserror::Error)]
    #[error("busy")]
    pub struct Busy;

    fn three_attempts() -> Retry<Busy> {
        Retry::attempts(3).fixed(Duration::from_millis(50))
    }

    #[derive(HasTaskManager)]
    pub struct Flaky {
        pub tasks: TaskManager,
        pub calls: AtomicU32,
    }

    #[flow(name = flaky)]
    impl Flaky {
        #[step(cancel = hang_up, timeout = "100ms", retry = three_attempts)]
        async fn call(&self, _task: &mut Task) -> Result<u32, Busy> {
            match self.calls.fetch_add(1, Ordering::SeqCst) {
                0 => std::future::pending().await,
                1 => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    Err(Busy)
                }
                n => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    Ok(n)
                }
            }
        }

        #[step]
        async fn after(&self, _task: &mut Task, n: u32) -> Result<u32, Busy> {
            tokio::task::yield_now().await;
            Ok(n)
        }

        async fn hang_up(&self, _task: &mut Task, _reason: CancelReason) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn retrying_flow_with_a_timed_out_attempt_keeps_the_contract_at_every_await_point() {
    let flaky = Arc::new(flaky::Flaky {
        tasks: TaskManager::new(),
        calls: std::sync::atomic::AtomicU32::new(0),
    });
    let report = CancelExplorer::new(
        &flaky.tasks,
        || flaky.calls.store(0, std::sync::atomic::Ordering::SeqCst),
        |passport| flaky.execute_flaky(passport),
    )
    .run()
    .await
    .unwrap_or_else(|error| panic!("{error}"));
    let points = points(&report);
    assert_eq!(
        points
            .iter()
            .filter(|point| point.contains("waiting between two attempts"))
            .count(),
        2,
        "{points:?}"
    );
    assert_eq!(
        points.last().map(String::as_str),
        Some("after the steps (2 completed), before the task claimed its ending")
    );
}
