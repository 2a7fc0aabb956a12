//! One instance of a task-manager cluster as an OS process, driven over its standard input
//! and output: what the crate's process tests (`tests/store/processes.rs`, `storm.rs`) and
//! the `cluster` example start several of. Not a tool for production.
//!
//! `tm-cluster-node URL SCHEMA INSTANCE [LEASE_MS RENEW_MS]` joins the cluster (with a lease
//! of `LEASE_MS` renewed every `RENEW_MS`, default 30 s and 10 s), builds a manager with it
//! (flow `probe` limited to 2 tasks at once, resource `r` with 1 permit) and prints `ready`
//! once it holds a lease. Then, one command per line (ids are UUIDs, reasons hex-encoded
//! UTF-8):
//!
//! * `submit ID GATED WORK_US`: submits a `probe` task through `submit_in_cluster`; answers
//!   `submitted ID ok` or `submitted ID refused KIND`. `GATED` 1: each step, and each
//!   cleanup, waits for its gate; 0: each step sleeps `WORK_US` microseconds.
//! * `durable ID GATED WORK_US`: the same with a `durable` task, a flow of the same three
//!   steps with `on_owner_lost = cancel` (registered at start, so that this instance runs the
//!   cleanups of the `durable` tasks it claims) and no limit or resource.
//! * `open ID GATE`: opens a gate once (gate `i` is step `i`'s, `100 + i` its cleanup's).
//! * `cancel ID REASON`: `cancel_in_cluster`; answers `cancel ID STATUS`, then, once the
//!   owner recorded the ending, `cancelled ID CLEANUP`.
//! * `flush`: waits until this instance's records are written; answers `flushed`.
//! * `renew`: renews the lease now; answers `lease renewed TOKEN`, `lease taken TOKEN`, or
//!   `lease lost OLD abandoned N taken NEW` (the instance abandoned its tasks).
//! * `claim`: claims the tasks of the instances whose lease expired; answers `claimed ID`
//!   per task, then `claims N`.
//! * `dropped`: answers `dropped N`, the writes the store refused for good so far.
//! * `quit`.
//!
//! And by itself: `began ID STEP` and `cleanup ID STEP` when a step or a cleanup begins,
//! `ended ID KIND STEP REASON` when a task ends (`-` for none; KIND `abandoned` for a task
//! this instance lost with its lease). Each cleanup also inserts a
//! row into the schema's `cleanups` table (created here), so that a test counts the
//! cleanups that ran, wherever they ran.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::BufRead;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use task_manager_core::{
    flow, Addon, CancelReason, Ending, EventKind, HasTaskManager, Limit, Passport, RecordedCleanup,
    Task, TaskEvent, TaskId, TaskManager,
};
use task_manager_postgres::{LeaseRenewal, PgCluster};
use tokio::sync::{mpsc, Semaphore};
use tokio_postgres::NoTls;

struct Job {
    gated: bool,
    work: Duration,
}

#[derive(HasTaskManager)]
struct Node {
    tasks: TaskManager,
    gates: Gates,
    db: tokio_postgres::Client,
    schema: String,
}

/// Gates by (task, number), made on first use by either side.
#[derive(Default)]
struct Gates(Mutex<HashMap<(TaskId, u32), Arc<Semaphore>>>);

impl Gates {
    fn get(&self, id: TaskId, gate: u32) -> Arc<Semaphore> {
        let mut gates = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(
            gates
                .entry((id, gate))
                .or_insert_with(|| Arc::new(Semaphore::new(0))),
        )
    }

    async fn pass(&self, id: TaskId, gate: u32) {
        if let Ok(permit) = self.get(id, gate).acquire_owned().await {
            permit.forget();
        }
    }

    fn open(&self, id: TaskId, gate: u32) {
        self.get(id, gate).add_permits(1);
    }
}

#[flow(name = probe)]
impl Node {
    #[step(cancel = undo_0)]
    async fn s0(&self, task: &mut Task<Job>) -> Result<(), Infallible> {
        self.work(task, 0).await
    }

    #[step(cancel = undo_1, resource = "r")]
    async fn s1(&self, task: &mut Task<Job>) -> Result<(), Infallible> {
        self.work(task, 1).await
    }

    #[step(cancel = undo_2)]
    async fn s2(&self, task: &mut Task<Job>) -> Result<(), Infallible> {
        self.work(task, 2).await
    }

    async fn undo_0(&self, task: &mut Task<Job>, reason: CancelReason) {
        self.undo(task, 0, reason).await;
    }

    async fn undo_1(&self, task: &mut Task<Job>, reason: CancelReason) {
        self.undo(task, 1, reason).await;
    }

    async fn undo_2(&self, task: &mut Task<Job>, reason: CancelReason) {
        self.undo(task, 2, reason).await;
    }
}

/// A `durable` task's payload: (gated, work in microseconds).
type Durable = (bool, u64);

#[flow(name = durable, on_owner_lost = cancel)]
impl Node {
    #[step(cancel = undo_durable_0)]
    async fn d0(&self, task: &mut Task<Durable>) -> Result<(), Infallible> {
        self.work_durable(task, 0).await
    }

    #[step(cancel = undo_durable_1)]
    async fn d1(&self, task: &mut Task<Durable>) -> Result<(), Infallible> {
        self.work_durable(task, 1).await
    }

    #[step(cancel = undo_durable_2)]
    async fn d2(&self, task: &mut Task<Durable>) -> Result<(), Infallible> {
        self.work_durable(task, 2).await
    }

    async fn undo_durable_0(&self, task: &mut Task<Durable>, reason: CancelReason) {
        self.undo_durable(task, 0, reason).await;
    }

    async fn undo_durable_1(&self, task: &mut Task<Durable>, reason: CancelReason) {
        self.undo_durable(task, 1, reason).await;
    }

    async fn undo_durable_2(&self, task: &mut Task<Durable>, reason: CancelReason) {
        self.undo_durable(task, 2, reason).await;
    }
}

impl Node {
    async fn work(&self, task: &mut Task<Job>, step: u32) -> Result<(), Infallible> {
        println!("began {} {step}", task.id());
        if task.payload().gated {
            self.gates.pass(task.id(), step).await;
        } else if !task.payload().work.is_zero() {
            tokio::time::sleep(task.payload().work).await;
        } else {
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    async fn work_durable(&self, task: &mut Task<Durable>, step: u32) -> Result<(), Infallible> {
        println!("began {} {step}", task.id());
        let (gated, work) = *task.payload();
        if gated {
            self.gates.pass(task.id(), step).await;
        } else if work > 0 {
            tokio::time::sleep(Duration::from_micros(work)).await;
        } else {
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    async fn undo_durable(&self, task: &mut Task<Durable>, step: u32, reason: CancelReason) {
        self.count_cleanup(task.id(), step, &reason).await;
        if task.payload().0 {
            self.gates.pass(task.id(), 100 + step).await;
        }
    }

    async fn undo(&self, task: &mut Task<Job>, step: u32, reason: CancelReason) {
        self.count_cleanup(task.id(), step, &reason).await;
        if task.payload().gated {
            self.gates.pass(task.id(), 100 + step).await;
        }
    }

    /// Says `cleanup ID STEP` and counts the cleanup in the schema's `cleanups` table.
    async fn count_cleanup(&self, id: TaskId, step: u32, reason: &CancelReason) {
        println!("cleanup {id} {step}");
        let insert = format!(
            "INSERT INTO \"{}\".cleanups (id, step, reason) VALUES ($1::text::uuid, $2, $3)",
            self.schema
        );
        let step_number = i32::try_from(step).unwrap_or(i32::MAX);
        if let Err(e) = self
            .db
            .execute(
                &insert,
                &[&id.to_string(), &step_number, &said(reason).as_bytes()],
            )
            .await
        {
            println!("error {id} counting the cleanup: {e}");
        }
    }
}

/// Says when a task waits: in its flow's line (`queued ID`), or for step `i`'s resource
/// (`waiting ID i`), where no step is in progress.
struct Waits;

impl Addon for Waits {
    fn on_event(&self, event: &TaskEvent<'_>) {
        match &event.kind {
            EventKind::Queued => println!("queued {}", event.id),
            EventKind::WaitingForResource { step, .. } => {
                println!("waiting {} {}", event.id, step.index)
            }
            _ => {}
        }
    }
}

/// A requested cancel's own words; other reasons as they display.
fn said(reason: &CancelReason) -> String {
    match reason {
        CancelReason::Requested(message) => message.to_string(),
        other => other.to_string(),
    }
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

fn describe_cleanup(cleanup: Option<&RecordedCleanup>) -> String {
    match cleanup {
        None => "none".into(),
        Some(RecordedCleanup::Completed { step, .. }) => format!("completed:{step}"),
        Some(RecordedCleanup::NoStepInProgress) => "no_step".into(),
        Some(RecordedCleanup::Lost { step }) => format!("lost:{step}"),
        Some(other) => format!("{other:?}").replace(' ', "_"),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (url, schema, instance, lease) = match args.as_slice() {
        [_, url, schema, instance] => (url, schema, instance, None),
        [_, url, schema, instance, lease_ms, renew_ms] => (
            url,
            schema,
            instance,
            Some((
                Duration::from_millis(lease_ms.parse()?),
                Duration::from_millis(renew_ms.parse()?),
            )),
        ),
        _ => return Err("usage: tm-cluster-node URL SCHEMA INSTANCE [LEASE_MS RENEW_MS]".into()),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(url, schema, instance, lease))
}

async fn run(
    url: &str,
    schema: &str,
    instance: &str,
    lease: Option<(Duration, Duration)>,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut connect = PgCluster::connect(url).instance(instance).schema(schema);
    if let Some((lease_for, renew_every)) = lease {
        connect = connect.lease(lease_for, renew_every);
    }
    let cluster = connect.await?;
    let (db, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(connection);
    db.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS \"{schema}\".cleanups (id uuid NOT NULL, step int NOT NULL, reason bytea NOT NULL)"
    ))
    .await?;
    let tasks = TaskManager::builder()
        .cluster(cluster.clone())
        .addon(Waits)
        // Room in the line for every task a test submits (the storm: 2,000 an instance, sent
        // faster than two at a time run): a refused submission is not what these tests test.
        .limit_flow("probe", Limit::new(2).with_queue_capacity(100_000))
        .resource("r", 1)
        .build()?;
    let node = Arc::new(Node {
        tasks,
        gates: Gates::default(),
        db,
        schema: schema.to_owned(),
    });
    // This instance runs the cleanups of the `durable` tasks it claims from lost instances.
    node.register_durable();

    // Standard input is read on a thread of its own: the runtime has no `io-std`.
    let (lines, mut commands) = mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    // Ready once the instance holds its lease (taken by the manager's lease keeper).
    while cluster.lease_id().is_none() {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    println!("ready");
    while let Some(line) = commands.recv().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [kind @ ("submit" | "durable"), id, gated, work] => {
                let id: TaskId = id.parse()?;
                let (gated, work_us): (bool, u64) = (*gated == "1", work.parse()?);
                let this = Arc::clone(&node);
                let submitted = if *kind == "submit" {
                    let job = Job {
                        gated,
                        work: Duration::from_micros(work_us),
                    };
                    let passport = Passport::new(job).with_id(id);
                    node.tasks
                        .submit_in_cluster(passport, |p| this.execute_probe(p))
                        .await
                } else {
                    let passport = Passport::new((gated, work_us)).with_id(id);
                    node.tasks
                        .submit_in_cluster(passport, |p| this.execute_durable(p))
                        .await
                };
                match submitted {
                    Ok(handle) => {
                        println!("submitted {id} ok");
                        tokio::spawn(async move {
                            let outcome = handle.await;
                            let line = match outcome.ending() {
                                Ending::Completed(()) => format!("ended {id} completed - -"),
                                Ending::Abandoned { step, .. } => {
                                    format!("ended {id} abandoned {} -", step.unwrap_or("-"))
                                }
                                Ending::Cancelled { reason, step, .. } => format!(
                                    "ended {id} cancelled {} {}",
                                    step.unwrap_or("-"),
                                    hex(&said(reason))
                                ),
                                other => {
                                    format!("ended {id} other:{other:?} - -").replace(' ', "_")
                                }
                            };
                            println!("{line}");
                        });
                    }
                    Err(error) => {
                        let kind = match error {
                            task_manager_core::SubmitError::DuplicateInCluster { .. } => {
                                "duplicate"
                            }
                            _ => "error",
                        };
                        println!("submitted {id} refused {kind}");
                    }
                }
            }
            ["open", id, gate] => node.gates.open(id.parse()?, gate.parse()?),
            ["cancel", id, reason] => {
                let id: TaskId = id.parse()?;
                let reason = unhex(reason).ok_or("a reason must be hex-encoded UTF-8")?;
                match node.tasks.cancel_in_cluster(id, reason).await {
                    Ok(cancellation) => {
                        println!("cancel {id} {:?}", cancellation.status());
                        tokio::spawn(async move {
                            match cancellation.await {
                                Ok(cleanup) => {
                                    println!(
                                        "cancelled {id} {}",
                                        describe_cleanup(cleanup.as_ref())
                                    )
                                }
                                Err(e) => println!("cancelled {id} error:{}", hex(&e.to_string())),
                            }
                        });
                    }
                    Err(e) => println!("cancel {id} error:{}", hex(&e.to_string())),
                }
            }
            ["flush"] => {
                cluster.flush().await;
                println!("flushed");
            }
            ["renew"] => match cluster.renew_lease().await {
                Ok(LeaseRenewal::Renewed(token)) => println!("lease renewed {token}"),
                Ok(LeaseRenewal::Taken(token)) => println!("lease taken {token}"),
                Ok(LeaseRenewal::Lost {
                    lost,
                    abandoned,
                    taken,
                }) => println!("lease lost {lost} abandoned {abandoned} taken {taken}"),
                Ok(other) => println!("lease {other:?}"),
                Err(e) => println!("lease error:{}", hex(&e.to_string())),
            },
            ["claim"] => match cluster.claim_expired().await {
                Ok(claimed) => {
                    for task in &claimed {
                        println!("claimed {}", task.id);
                    }
                    println!("claims {}", claimed.len());
                }
                Err(e) => println!("claims error:{}", hex(&e.to_string())),
            },
            ["dropped"] => println!("dropped {}", cluster.dropped_writes()),
            ["quit"] => break,
            _ => println!("unknown {line}"),
        }
    }
    Ok(())
}
