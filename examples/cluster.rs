//! Two instances of one cluster on PostgreSQL, and a cancel that crosses between them.
//!
//! `api-1` runs a report; `api-2`, which does not run it, cancels it by id: the store
//! decides (`Requested`), `api-1` stops the step at once and runs its cleanup, and `api-2`'s
//! cancellation yields the cleanup as `api-1` recorded it. The id is then refused on
//! `api-2` too. Both instances live in this process for the demonstration; the crate's
//! tests run them as separate processes (`task-manager-postgres/tests/store/processes.rs`).
//!
//! ```text
//! cargo run --example cluster                        # starts a throwaway server
//! TM_DATABASE_URL=postgresql://... cargo run --example cluster
//! cargo run --release --example cluster -- --measure # the README's figures
//! ```

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use task_manager_core::{flow, CancelReason, HasTaskManager, Passport, Task, TaskId, TaskManager};
use task_manager_postgres::PgCluster;
use tokio::sync::mpsc;

#[derive(HasTaskManager)]
struct Reports {
    tasks: TaskManager,
    /// Each task whose step began.
    began: mpsc::UnboundedSender<TaskId>,
    /// Each task whose step was stopped, and when (the step's future was dropped).
    stopped: mpsc::UnboundedSender<(TaskId, Instant)>,
}

/// Sends when the step's future is dropped: the instant the step stopped.
struct Stopped(Option<(TaskId, mpsc::UnboundedSender<(TaskId, Instant)>)>);

impl Drop for Stopped {
    fn drop(&mut self) {
        if let Some((id, stopped)) = self.0.take() {
            let _ = stopped.send((id, Instant::now()));
        }
    }
}

#[flow(name = report)]
impl Reports {
    /// Runs until cancelled when the payload is `true`, else returns at once.
    #[step(cancel = stop_gathering)]
    async fn gather(&self, task: &mut Task<bool>) -> Result<u32, Infallible> {
        if !*task.payload() {
            return Ok(0);
        }
        let mut stopped = Stopped(Some((task.id(), self.stopped.clone())));
        let _ = self.began.send(task.id());
        std::future::pending::<()>().await;
        stopped.0 = None;
        Ok(1)
    }

    async fn stop_gathering(&self, _task: &mut Task<bool>, _reason: CancelReason) {}
}

struct Instance {
    reports: Arc<Reports>,
    began: mpsc::UnboundedReceiver<TaskId>,
    stopped: mpsc::UnboundedReceiver<(TaskId, Instant)>,
}

fn instance(tasks: TaskManager) -> Instance {
    let (began, began_rx) = mpsc::unbounded_channel();
    let (stopped, stopped_rx) = mpsc::unbounded_channel();
    Instance {
        reports: Arc::new(Reports {
            tasks,
            began,
            stopped,
        }),
        began: began_rx,
        stopped: stopped_rx,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let measure = std::env::args().any(|arg| arg == "--measure");
    let server = task_manager_support::postgres::server()?;
    let schema = format!("example_cluster_{}", std::process::id());
    let join = |name: &'static str| {
        PgCluster::connect(server.url.clone())
            .instance(name)
            .schema(schema.clone())
    };
    let (store_1, store_2) = (join("api-1").await?, join("api-2").await?);
    let mut api_1 = instance(TaskManager::builder().cluster(store_1.clone()).build()?);
    let api_2 = instance(TaskManager::builder().cluster(store_2.clone()).build()?);

    let reports = Arc::clone(&api_1.reports);
    let handle = reports
        .tasks
        .submit_in_cluster(Passport::new(true), |p| reports.execute_report(p))
        .await?;
    let id = handle.id();
    api_1.began.recv().await;
    println!("api-1 runs task {id}; its step `gather` began");

    let cancellation = api_2
        .reports
        .tasks
        .cancel_in_cluster(id, "user pressed stop")
        .await?;
    println!("api-2 cancels it: {:?}", cancellation.status());
    let outcome = handle.await;
    println!("api-1's outcome: {:?}", outcome.ending());
    println!(
        "api-2's cancellation yields the cleanup api-1 recorded: {:?}",
        cancellation.await?
    );
    if let Some(record) = store_2.status(id).await? {
        let by = record.cancel.map(|cancel| cancel.requested_by);
        println!(
            "its record, read on api-2: {} on {}, cancelled by {by:?}",
            record.state, record.instance
        );
    }
    let again = Passport::new(false).with_id(id);
    let reports_2 = Arc::clone(&api_2.reports);
    if let Err(refused) = reports_2
        .tasks
        .submit_in_cluster(again, |p| reports_2.execute_report(p))
        .await
    {
        println!("api-2 refuses the same id: {refused}");
    }

    if measure {
        measure_cancel(&mut api_1, &api_2, 500).await?;
        measure_store_alone(&store_1, 2_000).await?;
        measure_submission(&api_1, 2_000, true).await?;
        measure_submission(&api_1, 2_000, false).await?;
    }

    // The example's schema goes with it.
    let (client, connection) = tokio_postgres::connect(&server.url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await?;
    Ok(())
}

/// From `cancel_in_cluster` called on api-2 to the step stopped on api-1, `rounds` times.
async fn measure_cancel(
    api_1: &mut Instance,
    api_2: &Instance,
    rounds: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut latencies = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let reports = Arc::clone(&api_1.reports);
        let handle = reports
            .tasks
            .submit_in_cluster(Passport::new(true), |p| reports.execute_report(p))
            .await?;
        api_1.began.recv().await;
        let asked = Instant::now();
        let cancellation = api_2
            .reports
            .tasks
            .cancel_in_cluster(handle.id(), "measure")
            .await?;
        // The step of this round's task (the demonstration's stopped one first).
        let stopped = loop {
            match api_1.stopped.recv().await {
                Some((id, stopped)) if id == handle.id() => break stopped,
                Some(_) => {}
                None => return Err("api-1's step never stopped".into()),
            }
        };
        latencies.push(stopped - asked);
        assert!(matches!(
            cancellation.status(),
            task_manager_core::CancelStatus::Requested
        ));
        handle.await;
    }
    latencies.sort();
    println!(
        "cross-instance cancel, cancel_in_cluster on api-2 to step stopped on api-1 ({rounds} rounds): p50 {:?}, p99 {:?}, max {:?}",
        percentile(&latencies, 50),
        percentile(&latencies, 99),
        latencies.last().copied().unwrap_or_default()
    );
    Ok(())
}

/// The time `submit_in_cluster` takes per task on a clustered manager, beside
/// `execute_report` on a manager without a cluster.
async fn measure_submission(
    api_1: &Instance,
    tasks: usize,
    parked: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let clustered = &api_1.reports;
    let mut handles = Vec::with_capacity(tasks);
    let started = Instant::now();
    for _ in 0..tasks {
        let passport = Passport::new(parked);
        handles.push(
            clustered
                .tasks
                .submit_in_cluster(passport, |p| clustered.execute_report(p))
                .await?,
        );
    }
    let per_task_clustered = started.elapsed() / tasks as u32;
    if parked {
        clustered.tasks.cancel_all("measured").finished().await;
    }
    for handle in handles.drain(..) {
        handle.await;
    }
    let local = instance(TaskManager::new());
    let started = Instant::now();
    for _ in 0..tasks {
        handles.push(local.reports.execute_report(Passport::new(false))?);
    }
    let per_task_local = started.elapsed() / tasks as u32;
    for handle in handles {
        handle.await;
    }
    let what = if parked {
        "each task parked in its step"
    } else {
        "each task completing at once: its seal beside the reservations, its writes on the writers' connection"
    };
    println!(
        "submission, one after another ({tasks} tasks, {what}): {per_task_clustered:?} per task clustered, {per_task_local:?} in process"
    );
    Ok(())
}

/// The store's own statements, one after another, with no manager's writes beside them: what
/// a reservation costs by itself (an insert) and what a read costs.
async fn measure_store_alone(
    store: &PgCluster,
    rounds: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    for _ in 0..rounds {
        store
            .insert(task_manager_postgres::NewTask::new(TaskId::new(), "alone"))
            .await?;
    }
    let insert = started.elapsed() / rounds as u32;
    let id = TaskId::new();
    store
        .insert(task_manager_postgres::NewTask::new(id, "alone"))
        .await?;
    let started = Instant::now();
    for _ in 0..rounds {
        store.status(id).await?;
    }
    let read = started.elapsed() / rounds as u32;
    println!(
        "the store alone, one after another ({rounds} each): insert {insert:?}, read {read:?}"
    );
    Ok(())
}

fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() * percent / 100).min(sorted.len() - 1)]
}
