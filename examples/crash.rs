//! A crash is the loss of a lease: an instance killed mid-step, and the cluster taking its
//! task over.
//!
//! `api-1` runs in a child process (this example started again with `--api-1`): it joins the
//! cluster with a 2 s lease, starts a task whose step `upload` never ends by itself, and says
//! so. The parent, `api-2`, kills it with `SIGKILL` (no destructor, no cleanup, no last
//! write) and waits: `api-1`'s lease expires 2 s after its last renewal, and `api-2`, which
//! claims the tasks of expired leases after each renewal of its own, takes the task over.
//! The flow has `on_owner_lost = cancel` and `api-2` registered it: `api-2` runs the
//! interrupted step's cleanup, once, with `OwnerLost { instance: "api-1" }` and the payload
//! persisted at the step's boundary, and the record ends cancelled with that cleanup. A
//! cancel of the task from `api-2` then finds it decided.
//!
//! `api-1` also starts a `transfer` task, of a flow with `on_owner_lost = resume`, whose
//! second step `send` (given the first step's output, 4 chunks) hangs on `api-1`. `api-2`
//! claims it too: it runs `send`'s cleanup for `api-1`'s attempt, then `send` again from its
//! persisted input (4 chunks), then `confirm`; `prepare`, completed on `api-1`, does not run
//! again. Its record ends `Completed`, on `api-2`.
//!
//! ```text
//! cargo run --example crash                        # starts a throwaway server
//! TM_DATABASE_URL=postgresql://... cargo run --example crash
//! cargo run --release --example crash -- --measure # the README's figures
//! ```
//!
//! `--measure` also times a 3-step flow whose steps return at once, with `on_owner_lost`
//! (each step boundary persisted and awaited) and without it, on a clustered manager, and
//! without a cluster: per task one after another, and tasks per second with 200 in flight.

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use task_manager_core::{flow, CancelReason, HasTaskManager, Passport, Task, TaskId, TaskManager};
use task_manager_postgres::{PgCluster, TaskState};

/// `api-1`'s lease: short, for the demonstration (the default is 30 s), renewed every 500 ms.
const LEASE: Duration = Duration::from_secs(2);
const RENEW: Duration = Duration::from_millis(500);

#[derive(HasTaskManager)]
struct Uploads {
    tasks: TaskManager,
    /// Told when the step begins.
    began: tokio::sync::Notify,
}

#[flow(name = upload, on_owner_lost = cancel)]
impl Uploads {
    #[step(cancel = abort_upload)]
    async fn upload(&self, task: &mut Task<String>) -> Result<(), Infallible> {
        let _ = task.payload();
        self.began.notify_one();
        std::future::pending().await
    }

    async fn abort_upload(&self, task: &mut Task<String>, reason: CancelReason) {
        println!(
            "api-2: the cleanup of `upload` runs for task {} ({}): {reason}",
            task.id(),
            task.payload()
        );
    }
}

/// A flow that resumes where its instance was lost.
#[derive(HasTaskManager)]
struct Transfers {
    tasks: TaskManager,
    /// This instance's name; `send` hangs on `api-1`, as if the instance hung there.
    instance: &'static str,
    /// Told when `send` begins.
    began: tokio::sync::Notify,
}

#[flow(name = transfer, on_owner_lost = resume)]
impl Transfers {
    #[step]
    async fn prepare(&self, task: &mut Task<String>) -> Result<u32, Infallible> {
        println!(
            "{}: `prepare` of {}: 4 chunks",
            self.instance,
            task.payload()
        );
        Ok(4)
    }

    #[step(cancel = abort_send)]
    async fn send(&self, task: &mut Task<String>, chunks: u32) -> Result<u32, Infallible> {
        println!(
            "{}: `send` of {} begins, {chunks} chunks",
            self.instance,
            task.payload()
        );
        if self.instance == "api-1" {
            self.began.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(chunks)
    }

    #[step]
    async fn confirm(&self, task: &mut Task<String>, sent: u32) -> Result<u32, Infallible> {
        println!(
            "{}: `confirm` of {}: {sent} chunks sent",
            self.instance,
            task.payload()
        );
        Ok(sent)
    }

    async fn abort_send(&self, task: &mut Task<String>, reason: CancelReason) {
        println!(
            "{}: the cleanup of `send` runs for task {} ({}): {reason}",
            self.instance,
            task.id(),
            task.payload()
        );
    }
}

fn join(
    url: &str,
    schema: &str,
    name: &str,
) -> task_manager_postgres::Connect<task_manager_postgres::Instance> {
    PgCluster::connect(url)
        .instance(name)
        .schema(schema)
        .lease(LEASE, RENEW)
}

/// A 3-step flow whose steps return at once, with its state persisted at each boundary.
#[derive(HasTaskManager)]
struct Steps {
    tasks: TaskManager,
}

#[flow(name = persisted, on_owner_lost = cancel)]
impl Steps {
    #[step]
    async fn one(&self, task: &mut Task<u64>) -> Result<u64, Infallible> {
        Ok(*task.payload())
    }
    #[step]
    async fn two(&self, _task: &mut Task<u64>, n: u64) -> Result<u64, Infallible> {
        Ok(n + 1)
    }
    #[step]
    async fn three(&self, _task: &mut Task<u64>, n: u64) -> Result<u64, Infallible> {
        Ok(n + 1)
    }
}

/// The same flow without `on_owner_lost`.
#[flow(name = plain)]
impl Steps {
    #[step]
    async fn first(&self, task: &mut Task<u64>) -> Result<u64, Infallible> {
        Ok(*task.payload())
    }
    #[step]
    async fn second(&self, _task: &mut Task<u64>, n: u64) -> Result<u64, Infallible> {
        Ok(n + 1)
    }
    #[step]
    async fn third(&self, _task: &mut Task<u64>, n: u64) -> Result<u64, Infallible> {
        Ok(n + 1)
    }
}

/// Per task one after another, then tasks per second with `in_flight` at once.
async fn measure(
    steps: &Arc<Steps>,
    persisted: bool,
    tasks: usize,
    in_flight: usize,
) -> Result<(Duration, f64), Box<dyn std::error::Error>> {
    let run = |n: u64| {
        let steps = Arc::clone(steps);
        async move {
            let passport = Passport::new(n);
            let handle = if persisted {
                steps
                    .tasks
                    .submit_in_cluster(passport, |p| steps.execute_persisted(p))
                    .await?
            } else {
                steps
                    .tasks
                    .submit_in_cluster(passport, |p| steps.execute_plain(p))
                    .await?
            };
            let value = handle.await.into_result()?;
            Ok::<u64, Box<dyn std::error::Error>>(value)
        }
    };
    let started = Instant::now();
    for n in 0..tasks as u64 {
        run(n).await?;
    }
    let per_task = started.elapsed() / tasks as u32;
    let started = Instant::now();
    let mut running = tokio::task::JoinSet::new();
    for n in 0..tasks as u64 {
        if running.len() >= in_flight {
            running.join_next().await;
        }
        let run = run(n);
        running.spawn(async move { run.await.is_ok() });
    }
    while running.join_next().await.is_some() {}
    let per_second = tasks as f64 / started.elapsed().as_secs_f64();
    Ok((per_task, per_second))
}

async fn measure_all(url: &str, schema: &str) -> Result<(), Box<dyn std::error::Error>> {
    let store = join(url, schema, "measure").await?;
    let clustered = Arc::new(Steps {
        tasks: TaskManager::builder().cluster(store.clone()).build()?,
    });
    let local = Arc::new(Steps {
        tasks: TaskManager::new(),
    });
    let tasks = 1_000;
    for (what, steps, persisted) in [
        (
            "3-step flow, on_owner_lost (each boundary persisted), clustered",
            &clustered,
            true,
        ),
        (
            "the same flow without on_owner_lost, clustered",
            &clustered,
            false,
        ),
        (
            "the same flow without on_owner_lost, in one process",
            &local,
            false,
        ),
    ] {
        let (per_task, per_second) = measure(steps, persisted, tasks, 200).await?;
        println!(
            "{what}: {per_task:?} per task one after another, {per_second:.0} tasks/s with 200 in flight ({tasks} tasks)"
        );
        store.flush().await;
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, url, schema] = args.as_slice() {
        if flag == "--api-1" {
            return api_1(url, schema).await;
        }
    }
    let server = task_manager_support::postgres::server()?;
    let schema = format!("example_crash_{}", std::process::id());
    let store_2 = join(&server.url, &schema, "api-2").await?;
    let api_2 = Arc::new(Uploads {
        tasks: TaskManager::builder().cluster(store_2.clone()).build()?,
        began: tokio::sync::Notify::new(),
    });
    // api-2 runs the cleanups of the `upload` tasks it claims.
    api_2.register_upload();
    // ... and resumes the `transfer` tasks it claims.
    let transfers_2 = Arc::new(Transfers {
        tasks: api_2.tasks.clone(),
        instance: "api-2",
        began: tokio::sync::Notify::new(),
    });
    transfers_2.register_transfer();

    // api-1, a process of its own.
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--api-1", server.url.as_str(), schema.as_str()])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("api-1's output")?).lines();
    let began = lines.next().ok_or("api-1 ended before its task began")??;
    println!("api-1: {began}");
    let id: TaskId = began
        .split(' ')
        .nth(1)
        .ok_or("api-1 said no task id")?
        .parse()?;
    let mut transfer = None;
    for line in lines.by_ref() {
        let line = line?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("api-1: transfer ") {
            let id: TaskId = rest.split(' ').next().ok_or("no transfer id")?.parse()?;
            transfer = Some(id);
            break;
        }
    }
    let transfer = transfer.ok_or("api-1 ended before its transfer began")?;

    child.kill()?;
    child.wait()?;
    let killed = Instant::now();
    println!("api-2: killed api-1 with SIGKILL mid-step");

    // api-2 claims the task once api-1's lease has expired (after its own next renewal), runs
    // its cleanup, and records its ending.
    let record = loop {
        let record = store_2.status(id).await?.ok_or("the task has no record")?;
        if record.state == TaskState::Finished {
            break record;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!(
        "api-2: claimed task {id} {:.1?} after the kill; its record now: {} on {}",
        killed.elapsed(),
        record.state,
        record.instance
    );
    if let Some(cancel) = &record.cancel {
        println!("  ended by: {} (source {})", cancel.reason, cancel.source);
    }
    if let Some(ending) = &record.ending {
        println!(
            "  ending: {:?}, cleanup: {:?}",
            ending.ended, ending.cleanup
        );
    }
    let cancellation = api_2.tasks.cancel_in_cluster(id, "user left").await?;
    println!(
        "api-2: a cancel now answers {:?}, and yields the recorded cleanup {:?}",
        cancellation.status(),
        cancellation.await?
    );

    // The resumed transfer runs on api-2 to its end; anyone reads its ending in the record.
    let record = loop {
        let record = store_2
            .status(transfer)
            .await?
            .ok_or("the transfer has no record")?;
        if record.state == TaskState::Finished {
            break record;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!(
        "api-2: transfer {transfer} resumed and finished: {} on {}, {} steps completed, ending {:?}",
        record.state,
        record.instance,
        record.steps_completed,
        record.ending.map(|ending| ending.ended)
    );

    if args.iter().any(|arg| arg == "--measure") {
        measure_all(&server.url, &schema).await?;
    }

    drop(api_2);
    let (client, connection) = tokio_postgres::connect(&server.url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await?;
    Ok(())
}

/// api-1: joins, starts one task, and runs until it is killed.
async fn api_1(url: &str, schema: &str) -> Result<(), Box<dyn std::error::Error>> {
    let store = join(url, schema, "api-1").await?;
    let uploads = Arc::new(Uploads {
        tasks: TaskManager::builder().cluster(store.clone()).build()?,
        began: tokio::sync::Notify::new(),
    });
    uploads.register_upload();
    let handle = uploads
        .tasks
        .submit_in_cluster(Passport::new("report.pdf".to_owned()), |p| {
            uploads.execute_upload(p)
        })
        .await?;
    uploads.began.notified().await;
    // Step boundaries are written behind the steps (queued): once flushed, the record names
    // the step that runs, before the parent kills this process.
    store.flush().await;
    println!("began {} `upload` of report.pdf", handle.id());
    let transfers = Arc::new(Transfers {
        tasks: uploads.tasks.clone(),
        instance: "api-1",
        began: tokio::sync::Notify::new(),
    });
    transfers.register_transfer();
    let transfer = transfers
        .tasks
        .submit_in_cluster(Passport::new("backup.tar".to_owned()), |p| {
            transfers.execute_transfer(p)
        })
        .await?;
    transfers.began.notified().await;
    // The boundary of `send` (with its input) was written before it began.
    println!("api-1: transfer {} hangs in `send`", transfer.id());
    handle.await;
    Ok(())
}
