//! One instance of a task-manager cluster as an OS process, driven over its standard input
//! and output: what the crate's process tests (`tests/store/processes.rs`, `storm.rs`,
//! `limits.rs`) and the `cluster` example start several of. Not a tool for production.
//!
//! `tm-cluster-node URL SCHEMA INSTANCE [SETTINGS]` joins the cluster, builds a manager with
//! it (flow `probe` limited to 2 tasks at once, resource `r` with 1 permit: cluster-wide,
//! the store's default) and prints `ready` once it holds a lease. `SETTINGS`,
//! comma-separated, change that: `limit=N`, `capacity=N` (the flow's queue), `max_wait_ms=N`,
//! `r=N` (the resource's permits), `recheck_ms=N` (`recheck_lines_every`), `local` (limits
//! per instance), `resumable_limit=N` (the `resumable` flow limited to N at once; no limit
//! otherwise), `lease_ms=N` and `renew_ms=N` (the lease, default 30 s renewed every 10 s;
//! both or neither). Then, one command per line (ids are UUIDs, reasons hex-encoded UTF-8):
//!
//! * `submit ID GATED WORK_US [PRIORITY [COUNT]]`: submits a `probe` task through
//!   `submit_in_cluster`; answers `submitted ID ok` or `submitted ID refused KIND` (`full`,
//!   `duplicate`, `error`). `GATED` 1: each step, and each cleanup, waits for its gate; 0:
//!   each step sleeps `WORK_US` microseconds. `COUNT` 1: step 0 and step 1 count themselves
//!   in the schema's `counts` table (rows `probe` and `r`: how many run now, and the most
//!   that ever ran at once) and step 0 notes its start in `starts` (in the cluster's order).
//! * `durable ID GATED WORK_US`: the same with a `durable` task, a flow of the same three
//!   steps with `on_owner_lost = cancel` (registered at start, so that this instance runs the
//!   cleanups of the `durable` tasks it claims) and no limit or resource.
//! * `undoable ID GATED WORK_US`: the same with an `undoable` task, a flow with
//!   `on_owner_lost = cancel` whose steps `u0` and `u1` return at once and declare a
//!   compensation, and whose step `u2` works as a `durable` step does; its cleanup and
//!   compensations each insert a row into the schema's `undos` table, in the order they ran.
//! * `resumable ID GATED WORK_US`: the same with a `resumable` task, a flow with
//!   `on_owner_lost = resume` (registered at start) whose steps `r0`, `r1` and `r2` work as
//!   `durable` steps do, each inserting a row into the schema's `completions` table as it
//!   returns (`r0` returns 10, `r1` its input plus 1, which `r2` takes), with cleanups as
//!   `durable`'s and a compensation of `r0` counted in `undos`.
//! * `tallied ID GATED WORK_US`: the same with a `tallied` task, a flow with
//!   `on_owner_lost = resume` (registered at start) whose steps `t0`, `t1` and `t2` work as
//!   `durable` steps do, and count themselves in the schema's `tallies` table, with this
//!   instance's name: each step inserts `began` as its first statement (before it says `began
//!   ID STEP`) and `returned` as its last, each cleanup `cleanup` with its reason (then waits
//!   at its gate if gated).
//! * `open ID GATE`: opens a gate once (gate `i` is step `i`'s, `100 + i` its cleanup's).
//! * `cancel ID REASON`: `cancel_in_cluster`; answers `cancel ID STATUS`, then, once the
//!   owner recorded the ending, `cancelled ID CLEANUP`.
//! * `flush`: waits until this instance's records are written; answers `flushed`.
//! * `renew`: renews the lease now; answers `lease renewed TOKEN`, `lease taken TOKEN`, or
//!   `lease lost OLD abandoned N taken NEW` (the instance abandoned its tasks).
//! * `claim`: claims the tasks of the instances whose lease expired; answers `claimed ID`
//!   per task, then `claims N`.
//! * `dropped`: answers `dropped N`, the writes the store refused for good so far.
//! * `status TAG ID`: `status_in_cluster`; answers `status TAG STATE STEP DONE INSTANCE
//!   ENDED` (`STEP` as `name:index`, `-` for none; `DONE` the steps completed; `ENDED` the
//!   ending's kind, `-` before it), or
//!   `status TAG none`, or `status TAG error:HEX` (the error's text).
//! * `outcome TAG ID HOW`: the task's outcome read back from the store: `HOW` `tallied`,
//!   `resumable` (the generated `tallied_outcome`, `resumable_outcome`, which wait),
//!   `try_tallied`, `try_resumable` (`try_tallied_outcome`, ..., which do not), `string` or `u64`
//!   (`outcome_in_cluster` as that type); answers `outcome TAG completed OUTPUT`, `outcome
//!   TAG cancelled STEP CLEANUP`, `outcome TAG running`, `outcome TAG other:DEBUG` or
//!   `outcome TAG error KIND HEX` (`KIND` the `OutcomeErrorKind` variant, `HEX` the error's
//!   text). The output of a `resumable` or `tallied` task is `ID:12` (its id, and its last
//!   step's input plus 1).
//! * `snapshot TAG`: `snapshot_in_cluster`; answers `snapshot TAG` followed by one
//!   `ID:STATE:INSTANCE` per task, or `snapshot TAG error:HEX`.
//! * `quit`.
//!
//! And by itself: `began ID STEP` and `cleanup ID STEP` when a step or a cleanup begins,
//! `finished ID KIND` when any task of this instance ends (a resumed task too, which has
//! no handle here; KIND `completed`, `cancelled`, or the ending's debug form),
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
    flow, Addon, CancelReason, ClusterOutcome, Ending, EventKind, HasTaskManager, Limit, Passport,
    RecordedCleanup, Task, TaskEnd, TaskEvent, TaskId, TaskManager,
};
use task_manager_postgres::{LeaseRenewal, PgCluster};
use tokio::sync::{mpsc, Semaphore};
use tokio_postgres::NoTls;

struct Job {
    gated: bool,
    work: Duration,
    count: bool,
}

/// The node's limits, from its `SETTINGS` argument.
struct Settings {
    limit: usize,
    capacity: usize,
    max_wait: Option<Duration>,
    resource: usize,
    recheck: Option<Duration>,
    local: bool,
    lease: Option<(Duration, Duration)>,
    /// The `resumable` flow's limit, if it has one (`resumable_limit=N`).
    resumable_limit: Option<usize>,
}

impl Settings {
    fn parse(text: &str) -> Result<Settings, Box<dyn std::error::Error>> {
        let mut settings = Settings {
            limit: 2,
            // Room in the line for every task a test submits (the storm: 2,000 an instance,
            // sent faster than two at a time run): a refused submission is not what most
            // tests test.
            capacity: 100_000,
            max_wait: None,
            resource: 1,
            recheck: None,
            local: false,
            lease: None,
            resumable_limit: None,
        };
        let (mut lease_for, mut renew_every) = (None, None);
        for word in text.split(',').filter(|word| !word.is_empty()) {
            match word.split_once('=') {
                Some(("limit", n)) => settings.limit = n.parse()?,
                Some(("capacity", n)) => settings.capacity = n.parse()?,
                Some(("max_wait_ms", n)) => {
                    settings.max_wait = Some(Duration::from_millis(n.parse()?))
                }
                Some(("r", n)) => settings.resource = n.parse()?,
                Some(("recheck_ms", n)) => {
                    settings.recheck = Some(Duration::from_millis(n.parse()?))
                }
                Some(("resumable_limit", n)) => settings.resumable_limit = Some(n.parse()?),
                Some(("lease_ms", n)) => lease_for = Some(Duration::from_millis(n.parse()?)),
                Some(("renew_ms", n)) => renew_every = Some(Duration::from_millis(n.parse()?)),
                None if word == "local" => settings.local = true,
                _ => return Err(format!("unknown setting `{word}`").into()),
            }
        }
        settings.lease = match (lease_for, renew_every) {
            (Some(lease_for), Some(renew_every)) => Some((lease_for, renew_every)),
            (None, None) => None,
            _ => return Err("`lease_ms` and `renew_ms` go together".into()),
        };
        Ok(settings)
    }
}

#[derive(HasTaskManager)]
struct Node {
    tasks: TaskManager,
    gates: Gates,
    db: tokio_postgres::Client,
    schema: String,
    instance: String,
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
        self.counted(task, 0, "probe").await
    }

    #[step(cancel = undo_1, resource = "r")]
    async fn s1(&self, task: &mut Task<Job>) -> Result<(), Infallible> {
        self.counted(task, 1, "r").await
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

#[flow(name = undoable, on_owner_lost = cancel)]
impl Node {
    #[step(compensate = compensate_u0)]
    async fn u0(&self, _task: &mut Task<Durable>) -> Result<u32, Infallible> {
        Ok(10)
    }

    #[step(compensate = compensate_u1)]
    async fn u1(&self, _task: &mut Task<Durable>, _made: u32) -> Result<u32, Infallible> {
        Ok(11)
    }

    #[step(cancel = undo_u2)]
    async fn u2(&self, task: &mut Task<Durable>, _made: u32) -> Result<(), Infallible> {
        self.work_durable(task, 2).await
    }

    async fn undo_u2(&self, task: &mut Task<Durable>, _reason: CancelReason) {
        self.count_undo(task.id(), "cleanup u2").await;
    }

    async fn compensate_u0(&self, task: &mut Task<Durable>, made: u32) {
        self.count_undo(task.id(), &format!("compensate u0 {made}"))
            .await;
    }

    async fn compensate_u1(&self, task: &mut Task<Durable>, made: u32) {
        self.count_undo(task.id(), &format!("compensate u1 {made}"))
            .await;
    }
}

#[flow(name = resumable, on_owner_lost = resume)]
impl Node {
    #[step(cancel = undo_r0, compensate = compensate_r0)]
    async fn r0(&self, task: &mut Task<Durable>) -> Result<u32, Infallible> {
        self.work_durable(task, 0).await?;
        self.count_completion(task.id(), 0).await;
        Ok(10)
    }

    #[step(cancel = undo_r1)]
    async fn r1(&self, task: &mut Task<Durable>, made: u32) -> Result<u32, Infallible> {
        self.work_durable(task, 1).await?;
        self.count_completion(task.id(), 1).await;
        Ok(made + 1)
    }

    #[step(cancel = undo_r2)]
    async fn r2(&self, task: &mut Task<Durable>, made: u32) -> Result<String, Infallible> {
        if made != 11 {
            println!("error {} r2 was given {made}", task.id());
        }
        self.work_durable(task, 2).await?;
        self.count_completion(task.id(), 2).await;
        Ok(task_output(task.id(), made))
    }

    async fn undo_r0(&self, task: &mut Task<Durable>, reason: CancelReason) {
        self.undo_durable(task, 0, reason).await;
    }

    async fn undo_r1(&self, task: &mut Task<Durable>, reason: CancelReason) {
        self.undo_durable(task, 1, reason).await;
    }

    async fn undo_r2(&self, task: &mut Task<Durable>, reason: CancelReason) {
        self.undo_durable(task, 2, reason).await;
    }

    async fn compensate_r0(&self, task: &mut Task<Durable>, made: u32) {
        self.count_undo(task.id(), &format!("compensate r0 {made}"))
            .await;
    }
}

#[flow(name = tallied, on_owner_lost = resume)]
impl Node {
    #[step(cancel = undo_t0)]
    async fn t0(&self, task: &mut Task<Durable>) -> Result<u32, Infallible> {
        self.work_tallied(task, 0).await?;
        Ok(10)
    }

    #[step(cancel = undo_t1)]
    async fn t1(&self, task: &mut Task<Durable>, made: u32) -> Result<u32, Infallible> {
        self.work_tallied(task, 1).await?;
        Ok(made + 1)
    }

    #[step(cancel = undo_t2)]
    async fn t2(&self, task: &mut Task<Durable>, made: u32) -> Result<String, Infallible> {
        if made != 11 {
            println!("error {} t2 was given {made}", task.id());
        }
        self.work_tallied(task, 2).await?;
        Ok(task_output(task.id(), made))
    }

    async fn undo_t0(&self, task: &mut Task<Durable>, reason: CancelReason) {
        self.undo_tallied(task, 0, reason).await;
    }

    async fn undo_t1(&self, task: &mut Task<Durable>, reason: CancelReason) {
        self.undo_tallied(task, 1, reason).await;
    }

    async fn undo_t2(&self, task: &mut Task<Durable>, reason: CancelReason) {
        self.undo_tallied(task, 2, reason).await;
    }
}

/// The output of a `resumable` or `tallied` task whose last step was given `made`: its id
/// and `made + 1`, so that a test tells each task's output from another's.
fn task_output(id: TaskId, made: u32) -> String {
    format!("{id}:{}", made + 1)
}

/// Prints `ended ID ...` once the task's handle yields its outcome (the tests read it).
fn report_ending<T: std::fmt::Debug + Send + 'static>(
    id: TaskId,
    handle: task_manager_core::TaskHandle<T, Infallible, ()>,
) {
    tokio::spawn(async move {
        let outcome = handle.await;
        let line = match outcome.ending() {
            Ending::Completed(_) => format!("ended {id} completed - -"),
            Ending::Abandoned { step, .. } => {
                format!("ended {id} abandoned {} -", step.unwrap_or("-"))
            }
            Ending::Cancelled { reason, step, .. } => format!(
                "ended {id} cancelled {} {}",
                step.unwrap_or("-"),
                hex(&said(reason))
            ),
            other => format!("ended {id} other:{other:?} - -").replace(' ', "_"),
        };
        println!("{line}");
    });
}

/// The answer to `outcome TAG ID HOW` (see the module docs).
fn say_outcome<T: std::fmt::Display + std::fmt::Debug>(
    tag: &str,
    outcome: Result<Option<ClusterOutcome<T>>, task_manager_core::OutcomeError>,
) {
    match outcome {
        Ok(None) => println!("outcome {tag} running"),
        Ok(Some(ClusterOutcome::Completed(output))) => {
            println!("outcome {tag} completed {output}");
        }
        Ok(Some(ClusterOutcome::Cancelled { step, cleanup, .. })) => println!(
            "outcome {tag} cancelled {} {}",
            step.as_deref().unwrap_or("-"),
            describe_cleanup(cleanup.as_ref())
        ),
        Ok(Some(other)) => {
            println!(
                "outcome {tag} other:{}",
                format!("{other:?}").replace(' ', "_")
            );
        }
        Err(error) => {
            let kind = format!("{:?}", error.kind);
            let kind = kind.split([' ', '(', '{']).next().unwrap_or("-");
            println!("outcome {tag} error {kind} {}", hex(&error.to_string()));
        }
    }
}

impl Node {
    /// Inserts `(id, step, what, this instance, reason)` into the schema's `tallies` table.
    async fn tally(&self, id: TaskId, step: u32, what: &str, reason: Option<&CancelReason>) {
        let insert = format!(
            "INSERT INTO \"{}\".tallies (id, step, what, instance, reason) \
             VALUES ($1::text::uuid, $2, $3, $4, $5)",
            self.schema
        );
        let step_number = i32::try_from(step).unwrap_or(i32::MAX);
        let reason = reason.map(said);
        if let Err(e) = self
            .db
            .execute(
                &insert,
                &[
                    &id.to_string(),
                    &step_number,
                    &what,
                    &self.instance,
                    &reason,
                ],
            )
            .await
        {
            println!("error {id} tallying {what} of step {step}: {e}");
        }
    }

    /// A `tallied` step: `began` counted before it says so, then its work, then `returned`.
    async fn work_tallied(&self, task: &mut Task<Durable>, step: u32) -> Result<(), Infallible> {
        self.tally(task.id(), step, "began", None).await;
        self.work_durable(task, step).await?;
        self.tally(task.id(), step, "returned", None).await;
        Ok(())
    }

    async fn undo_tallied(&self, task: &mut Task<Durable>, step: u32, reason: CancelReason) {
        println!("cleanup {} {step}", task.id());
        self.tally(task.id(), step, "cleanup", Some(&reason)).await;
        if task.payload().0 {
            self.gates.pass(task.id(), 100 + step).await;
        }
    }

    /// Inserts `(id, step)` into the schema's `completions` table: step `step` of task `id`
    /// returned.
    async fn count_completion(&self, id: TaskId, step: u32) {
        let insert = format!(
            "INSERT INTO \"{}\".completions (id, step) VALUES ($1::text::uuid, $2)",
            self.schema
        );
        let step_number = i32::try_from(step).unwrap_or(i32::MAX);
        if let Err(e) = self
            .db
            .execute(&insert, &[&id.to_string(), &step_number])
            .await
        {
            println!("error {id} counting a completion: {e}");
        }
    }

    /// Says `undo ID WHAT` and inserts it into the schema's `undos` table (in order).
    async fn count_undo(&self, id: TaskId, what: &str) {
        println!("undo {id} {what}");
        let insert = format!(
            "INSERT INTO \"{}\".undos (id, what) VALUES ($1::text::uuid, $2)",
            self.schema
        );
        if let Err(e) = self.db.execute(&insert, &[&id.to_string(), &what]).await {
            println!("error {id} counting an undo: {e}");
        }
    }

    /// A step that counts itself in `counts` (row `what`) while it runs, if its task counts;
    /// step 0 also notes its start in `starts`.
    async fn counted(&self, task: &mut Task<Job>, step: u32, what: &str) -> Result<(), Infallible> {
        if !task.payload().count {
            return self.work(task, step).await;
        }
        let s = &self.schema;
        let id = task.id().to_string();
        let enter = format!(
            "UPDATE \"{s}\".counts SET running = running + 1, peak = greatest(peak, running + 1) WHERE name = $1"
        );
        let leave = format!("UPDATE \"{s}\".counts SET running = running - 1 WHERE name = $1");
        let started = format!("INSERT INTO \"{s}\".starts (id) VALUES ($1::text::uuid)");
        let mut failed = self.db.execute(&enter, &[&what]).await.err();
        if step == 0 {
            failed = failed.or(self.db.execute(&started, &[&id]).await.err());
        }
        self.work(task, step).await?;
        failed = failed.or(self.db.execute(&leave, &[&what]).await.err());
        if let Some(e) = failed {
            println!("error {id} counting step {step}: {e}");
        }
        Ok(())
    }

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
            EventKind::Finished { ending, .. } => {
                let kind = match ending {
                    TaskEnd::Completed => "completed".to_owned(),
                    TaskEnd::Cancelled { .. } => "cancelled".to_owned(),
                    other => format!("{other:?}").replace(' ', "_"),
                };
                println!("finished {} {kind}", event.id);
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
    let (url, schema, instance, settings) = match args.as_slice() {
        [_, url, schema, instance] => (url, schema, instance, ""),
        [_, url, schema, instance, settings] => (url, schema, instance, settings.as_str()),
        _ => return Err("usage: tm-cluster-node URL SCHEMA INSTANCE [SETTINGS]".into()),
    };
    let settings = Settings::parse(settings)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(url, schema, instance, settings))
}

async fn run(
    url: &str,
    schema: &str,
    instance: &str,
    settings: Settings,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut joining = PgCluster::connect(url).instance(instance).schema(schema);
    if let Some(every) = settings.recheck {
        joining = joining.recheck_lines_every(every);
    }
    if settings.local {
        joining = joining.limits_per_instance();
    }
    if let Some((lease_for, renew_every)) = settings.lease {
        joining = joining.lease(lease_for, renew_every);
    }
    let cluster = joining.await?;
    let (db, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(connection);
    db.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS \"{schema}\".cleanups (id uuid NOT NULL, step int NOT NULL, reason bytea NOT NULL);
         CREATE TABLE IF NOT EXISTS \"{schema}\".counts (name text PRIMARY KEY, running int NOT NULL, peak int NOT NULL);
         INSERT INTO \"{schema}\".counts VALUES ('probe', 0, 0), ('r', 0, 0) ON CONFLICT DO NOTHING;
         CREATE TABLE IF NOT EXISTS \"{schema}\".starts (seq bigserial PRIMARY KEY, id uuid NOT NULL);
         CREATE TABLE IF NOT EXISTS \"{schema}\".undos (seq bigserial PRIMARY KEY, id uuid NOT NULL, what text NOT NULL);
         CREATE TABLE IF NOT EXISTS \"{schema}\".completions (id uuid NOT NULL, step int NOT NULL);
         CREATE TABLE IF NOT EXISTS \"{schema}\".tallies (seq bigserial PRIMARY KEY, id uuid NOT NULL, step int NOT NULL, what text NOT NULL, instance text NOT NULL, reason text);"
    ))
    .await?;
    let mut limit = Limit::new(settings.limit).with_queue_capacity(settings.capacity);
    if let Some(max_wait) = settings.max_wait {
        limit = limit.with_max_wait(max_wait);
    }
    let mut builder = TaskManager::builder()
        .cluster(cluster.clone())
        .addon(Waits)
        .limit_flow("probe", limit)
        .resource("r", settings.resource);
    if let Some(permits) = settings.resumable_limit {
        builder = builder.limit_flow("resumable", Limit::new(permits));
    }
    let tasks = builder.build()?;
    let node = Arc::new(Node {
        tasks,
        gates: Gates::default(),
        db,
        schema: schema.to_owned(),
        instance: instance.to_owned(),
    });
    // This instance runs the cleanups of the `durable` tasks it claims from lost instances.
    node.register_durable();
    node.register_undoable();
    node.register_resumable();
    node.register_tallied();

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
            [kind @ ("submit" | "durable" | "undoable" | "resumable" | "tallied"), id, gated, work, rest @ ..] =>
            {
                let id: TaskId = id.parse()?;
                let (gated, work_us): (bool, u64) = (*gated == "1", work.parse()?);
                let count = rest.get(1) == Some(&"1");
                let priority: i32 = rest.first().map_or(Ok(0), |p| p.parse())?;
                let this = Arc::clone(&node);
                let submitted = if *kind == "submit" {
                    let job = Job {
                        gated,
                        work: Duration::from_micros(work_us),
                        count,
                    };
                    let passport = Passport::new(job).with_id(id).with_priority(priority);
                    node.tasks
                        .submit_in_cluster(passport, |p| this.execute_probe(p))
                        .await
                        .map(|handle| report_ending(id, handle))
                } else if *kind == "durable" {
                    let passport = Passport::new((gated, work_us)).with_id(id);
                    node.tasks
                        .submit_in_cluster(passport, |p| this.execute_durable(p))
                        .await
                        .map(|handle| report_ending(id, handle))
                } else if *kind == "tallied" {
                    let passport = Passport::new((gated, work_us)).with_id(id);
                    node.tasks
                        .submit_in_cluster(passport, |p| this.execute_tallied(p))
                        .await
                        .map(|handle| report_ending(id, handle))
                } else if *kind == "resumable" {
                    let passport = Passport::new((gated, work_us)).with_id(id);
                    node.tasks
                        .submit_in_cluster(passport, |p| this.execute_resumable(p))
                        .await
                        .map(|handle| report_ending(id, handle))
                } else {
                    let passport = Passport::new((gated, work_us)).with_id(id);
                    node.tasks
                        .submit_in_cluster(passport, |p| this.execute_undoable(p))
                        .await
                        .map(|handle| report_ending(id, handle))
                };
                match submitted {
                    // Printed before the spawned report runs: this runtime has one thread.
                    Ok(()) => println!("submitted {id} ok"),
                    Err(error) => {
                        let kind = match &error {
                            task_manager_core::SubmitError::DuplicateInCluster { .. } => {
                                "duplicate"
                            }
                            task_manager_core::SubmitError::QueueFull { .. } => "full",
                            _ => "error",
                        };
                        if kind == "error" {
                            // The error's own text (hex), for the tests that read it.
                            println!("submitted {id} refused error {}", hex(&error.to_string()));
                        } else {
                            println!("submitted {id} refused {kind}");
                        }
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
            ["status", tag, id] => {
                let id: TaskId = id.parse()?;
                match node.tasks.status_in_cluster(id).await {
                    Ok(Some(status)) => println!(
                        "status {tag} {:?} {} {} {} {}",
                        status.state,
                        status
                            .step
                            .map_or("-".to_owned(), |(name, index)| format!("{name}:{index}")),
                        status.steps_completed,
                        status.instance,
                        status.ended.map_or("-".to_owned(), |ended| {
                            format!("{ended:?}")
                                .split([' ', '{'])
                                .next()
                                .unwrap_or("-")
                                .to_owned()
                        }),
                    ),
                    Ok(None) => println!("status {tag} none"),
                    Err(e) => println!("status {tag} error:{}", hex(&e.to_string())),
                }
            }
            ["outcome", tag, id, how] => {
                let id: TaskId = id.parse()?;
                match *how {
                    "tallied" => say_outcome(tag, node.tallied_outcome(id).await.map(Some)),
                    "try_tallied" => say_outcome(tag, node.try_tallied_outcome(id).await),
                    "try_resumable" => say_outcome(tag, node.try_resumable_outcome(id).await),
                    "resumable" => say_outcome(tag, node.resumable_outcome(id).await.map(Some)),
                    "string" => say_outcome(
                        tag,
                        node.tasks.outcome_in_cluster::<String>(id).await.map(Some),
                    ),
                    "u64" => say_outcome(
                        tag,
                        node.tasks.outcome_in_cluster::<u64>(id).await.map(Some),
                    ),
                    _ => println!("unknown outcome {how}"),
                }
            }
            ["snapshot", tag] => match node.tasks.snapshot_in_cluster(10_000).await {
                Ok(tasks) => {
                    let listed: Vec<String> = tasks
                        .iter()
                        .map(|t| format!("{}:{:?}:{}", t.id, t.state, t.instance))
                        .collect();
                    println!("snapshot {tag} {}", listed.join(" "));
                }
                Err(e) => println!("snapshot {tag} error:{}", hex(&e.to_string())),
            },
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
