//! Instances of one cluster on PostgreSQL: a cancel that crosses between them, and a limit
//! that holds across them.
//!
//! `api-1` runs a report; `api-2`, which does not run it, cancels it by id: the store
//! decides (`Requested`), `api-1` stops the step at once and runs its cleanup, and `api-2`'s
//! cancellation yields the cleanup as `api-1` recorded it. The id is then refused on
//! `api-2` too. Then each of three instances submits three renders, a flow limited to 3 at
//! once on each builder: being clustered, the limit is the cluster's, so 3 run at once in
//! all, never more, and the others wait in the store's line. The instances live in this
//! process for the demonstration; the crate's tests run them as separate processes
//! (`task-manager-postgres/tests/store/processes.rs`, `limits.rs`).
//!
//! ```text
//! cargo run --example cluster                        # starts a throwaway server
//! TM_DATABASE_URL=postgresql://... cargo run --example cluster
//! cargo run --release --example cluster -- --measure # the README's figures
//! ```

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use task_manager_core::{
    flow, CancelReason, Cluster, Entered, HasTaskManager, Limit, LineEntry, Passport, Task, TaskId,
    TaskManager,
};
use task_manager_postgres::PgCluster;

/// How many renders run at once in the whole cluster.
const RENDERS_AT_ONCE: usize = 3;
use tokio::sync::mpsc;

#[derive(HasTaskManager)]
struct Reports {
    tasks: TaskManager,
    /// Each task whose step began.
    began: mpsc::UnboundedSender<TaskId>,
    /// Each task whose step was stopped, and when (the step's future was dropped).
    stopped: mpsc::UnboundedSender<(TaskId, Instant)>,
    /// Renders running now, and the most that ever ran at once, on every instance (they
    /// share this process).
    rendering: Arc<(AtomicUsize, AtomicUsize)>,
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

#[flow(name = render)]
impl Reports {
    /// Works for the payload's milliseconds, counting itself among the renders running.
    #[step]
    async fn draw(&self, task: &mut Task<u64>) -> Result<usize, Infallible> {
        let (running, peak) = &*self.rendering;
        let now = running.fetch_add(1, Ordering::AcqRel) + 1;
        peak.fetch_max(now, Ordering::AcqRel);
        tokio::time::sleep(Duration::from_millis(*task.payload())).await;
        running.fetch_sub(1, Ordering::AcqRel);
        Ok(now)
    }
}

struct Instance {
    reports: Arc<Reports>,
    began: mpsc::UnboundedReceiver<TaskId>,
    stopped: mpsc::UnboundedReceiver<(TaskId, Instant)>,
}

fn instance(tasks: TaskManager, rendering: &Arc<(AtomicUsize, AtomicUsize)>) -> Instance {
    let (began, began_rx) = mpsc::unbounded_channel();
    let (stopped, stopped_rx) = mpsc::unbounded_channel();
    Instance {
        reports: Arc::new(Reports {
            tasks,
            began,
            stopped,
            rendering: Arc::clone(rendering),
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
    let (store_1, store_2, store_3) = (
        join("api-1").await?,
        join("api-2").await?,
        join("api-3").await?,
    );
    let rendering = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
    // The same builder as without a cluster: on a clustered one, the limit is cluster-wide.
    let manager = |store: &PgCluster| {
        TaskManager::builder()
            .cluster(store.clone())
            // Room in the line for every render the measure submits at once.
            .limit_flow(
                "render",
                Limit::new(RENDERS_AT_ONCE).with_queue_capacity(10_000),
            )
            .build()
    };
    let mut api_1 = instance(manager(&store_1)?, &rendering);
    let api_2 = instance(manager(&store_2)?, &rendering);
    let api_3 = instance(manager(&store_3)?, &rendering);

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

    let mut renders = Vec::new();
    for instance in [&api_1, &api_2, &api_3] {
        for _ in 0..3 {
            let reports = &instance.reports;
            renders.push(
                reports
                    .tasks
                    .submit_in_cluster(Passport::new(300), |p| reports.execute_render(p))
                    .await?,
            );
        }
    }
    if let Some(line) = store_1.line("flow:render").await? {
        println!(
            "9 renders submitted on 3 instances, limit {RENDERS_AT_ONCE} on each builder: the store's line holds {} of {} permits, {} waiting",
            line.held, line.permits, line.waiting
        );
    }
    for render in renders {
        render.await.into_result()?;
    }
    println!(
        "all 9 rendered; at most {} ran at once in the whole cluster",
        rendering.1.load(Ordering::Acquire)
    );

    if measure {
        measure_cancel(&mut api_1, &api_2, 500).await?;
        measure_store_alone(&store_1, 2_000).await?;
        measure_submission(&api_1, 2_000, true, &rendering).await?;
        measure_submission(&api_1, 2_000, false, &rendering).await?;
        measure_global_limit([&api_1, &api_2, &api_3], 3_000).await?;
        measure_acquire(&store_1, &store_2, 1_000).await?;
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
    rendering: &Arc<(AtomicUsize, AtomicUsize)>,
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
    let local = instance(TaskManager::new(), rendering);
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

/// Tasks per second of the instances together, each task of the cluster-wide limited flow
/// completing at once: what the store's line lets through.
async fn measure_global_limit(
    instances: [&Instance; 3],
    tasks: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut submitters = Vec::new();
    for instance in instances {
        let reports = Arc::clone(&instance.reports);
        let share = tasks / instances.len();
        submitters.push(tokio::spawn(async move {
            let mut handles = Vec::with_capacity(share);
            for _ in 0..share {
                let submitted = reports
                    .tasks
                    .submit_in_cluster(Passport::new(0), |p| reports.execute_render(p))
                    .await;
                handles.push(submitted.map_err(|e| e.to_string())?);
            }
            for handle in handles {
                handle.await.into_result().map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        }));
    }
    for submitter in submitters {
        submitter.await??;
    }
    let elapsed = started.elapsed();
    println!(
        "3 instances, one flow limited to {RENDERS_AT_ONCE} across them, {tasks} tasks completing at once: {:.0} tasks/s ({elapsed:?})",
        tasks as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

/// A permit of a cluster-wide line, through the store's `Cluster::enter_line`: taken while
/// one is free (one round trip, the line locked), and handed from a release on one instance
/// to a waiter on another (the release's transaction, its `NOTIFY`, the waiter's wake-up).
async fn measure_acquire(
    one: &PgCluster,
    other: &PgCluster,
    rounds: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let line = "flow:acquire_measure";
    let entry = |id| LineEntry::new(line, id, 0, 1, 10);
    let mut free = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let asked = Instant::now();
        let Entered::Admitted(permit) = one.enter_line(entry(TaskId::new())).await? else {
            return Err("the permit was not free".into());
        };
        free.push(asked.elapsed());
        drop(permit);
    }
    let mut handed = Vec::with_capacity(rounds);
    let mut held = match one.enter_line(entry(TaskId::new())).await? {
        Entered::Admitted(permit) => permit,
        Entered::Queued(wait) => wait.await,
        _ => return Err("the line was full".into()),
    };
    for round in 0..rounds {
        // The waiter is on the instance that does not hold the permit.
        let there = if round % 2 == 0 { other } else { one };
        let Entered::Queued(wait) = there.enter_line(entry(TaskId::new())).await? else {
            return Err("the permit should have been held".into());
        };
        let released = Instant::now();
        drop(held);
        held = wait.await;
        handed.push(released.elapsed());
    }
    drop(held);
    free.sort();
    handed.sort();
    println!(
        "a cluster-wide permit ({rounds} rounds): taken while free p50 {:?}, p99 {:?}; handed from a release on one instance to a waiter on another p50 {:?}, p99 {:?}",
        percentile(&free, 50),
        percentile(&free, 99),
        percentile(&handed, 50),
        percentile(&handed, 99)
    );
    Ok(())
}

fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() * percent / 100).min(sorted.len() - 1)]
}
