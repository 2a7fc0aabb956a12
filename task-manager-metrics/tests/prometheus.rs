//! The add-on under the Prometheus exporter: after a run with every kind of ending, a
//! cancel while queued and a cleanup, the rendered text (what `/metrics` serves) counts what
//! happened.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusBuilder;
use task_manager_core::{flow, CancelReason, HasTaskManager, Passport, Task, TaskManager};
use task_manager_metrics::TaskMetrics;
use tokio::sync::{mpsc, Semaphore};

#[derive(HasTaskManager)]
struct Metered {
    tasks: TaskManager,
    gate: Semaphore,
    entered: mpsc::UnboundedSender<()>,
}

#[flow(name = metered, limit = 1)]
impl Metered {
    #[step(cancel = undo)]
    async fn work(&self, _task: &mut Task<bool>) -> Result<(), String> {
        self.entered.send(()).unwrap();
        self.gate.acquire().await.unwrap().forget();
        Ok(())
    }

    #[step]
    async fn finish(&self, task: &mut Task<bool>) -> Result<(), String> {
        if *task.payload() {
            return Err("refused on purpose".into());
        }
        Ok(())
    }

    async fn undo(&self, _task: &mut Task<bool>, _reason: CancelReason) {}
}

/// The value of the sample of `metric` whose labels include all of `labels`.
fn sample(text: &str, metric: &str, labels: &[&str]) -> f64 {
    let found: Vec<f64> = text
        .lines()
        .filter(|line| {
            line.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .map(|line| line.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one sample of {metric} {labels:?} in:\n{text}"
    );
    found[0]
}

#[tokio::test]
async fn the_counters_match_what_happened() {
    let handle = PrometheusBuilder::new().install_recorder().unwrap();
    let (entered, mut entries) = mpsc::unbounded_channel();
    let metered = Arc::new(Metered {
        tasks: TaskManager::builder()
            .addon(TaskMetrics::new())
            .build()
            .unwrap(),
        gate: Semaphore::new(0),
        entered,
    });

    // A runs and waits in `work`; B queues behind it (limit 1) and is cancelled there.
    let a = metered.execute_metered(Passport::new(false)).unwrap();
    entries.recv().await.unwrap();
    let b = metered.execute_metered(Passport::new(false)).unwrap();
    let text = handle.render();
    assert_eq!(
        sample(&text, "task_manager_tasks_queued", &["flow=\"metered\""]),
        1.0
    );
    b.cancel("not needed");
    assert!(b.await.is_cancelled());
    // A is cancelled in the middle of `work`; its cleanup runs.
    a.cancel("user left");
    assert!(a.await.is_cancelled());
    // C fails at `finish`; D completes.
    metered.gate.add_permits(2);
    let c = metered.execute_metered(Passport::new(true)).unwrap().await;
    assert!(!c.is_completed());
    let d = metered.execute_metered(Passport::new(false)).unwrap().await;
    assert!(d.is_completed());

    let text = handle.render();
    let flow = "flow=\"metered\"";
    assert_eq!(
        sample(&text, "task_manager_tasks_submitted_total", &[flow]),
        4.0
    );
    assert_eq!(
        sample(&text, "task_manager_tasks_started_total", &[flow]),
        3.0
    );
    for (ending, count) in [("cancelled", 2.0), ("failed", 1.0), ("completed", 1.0)] {
        let label = format!("ending=\"{ending}\"");
        assert_eq!(
            sample(&text, "task_manager_tasks_finished_total", &[flow, &label]),
            count,
            "{ending}"
        );
    }
    assert_eq!(
        sample(
            &text,
            "task_manager_cancels_total",
            &[flow, "source=\"request\""]
        ),
        2.0
    );
    assert_eq!(sample(&text, "task_manager_tasks_queued", &[flow]), 0.0);
    assert_eq!(sample(&text, "task_manager_tasks_registered", &[flow]), 0.0);
    assert_eq!(
        sample(
            &text,
            "task_manager_cleanup_duration_seconds_count",
            &[flow, "step=\"work\""]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "task_manager_step_duration_seconds_count",
            &[flow, "step=\"work\"", "end=\"cancelled\""]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "task_manager_step_duration_seconds_count",
            &[flow, "step=\"finish\"", "end=\"failed\""]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "task_manager_task_duration_seconds_count",
            &[flow, "ending=\"cancelled\""]
        ),
        2.0
    );
}
