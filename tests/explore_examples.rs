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
