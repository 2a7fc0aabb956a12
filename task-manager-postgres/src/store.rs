//! [`PgCluster`]: a joined instance and the store's operations.
//!
//! # Invariants
//! * Every write by the owner names the owner (`instance = $2`): an instance writes only the
//!   records of its own tasks. A cancel names none: anyone may ask.
//! * The ending is decided by exactly one conditional update leaving the undecided states
//!   (`queued`, `running`): the cancel's (to `cancelling`) or the owner's seal (to
//!   `finishing`, or to `finished` by [`PgCluster::record_ending`]). See `record.rs`.
//! * When a conditional update matches no row, the record is read to say why. Decided
//!   states never go back to undecided, so what that read finds is the decision that beat
//!   the update (or the record's absence).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{CancelReason, CancelSource, CancelStatus, Progress, SealedAs, TaskId};
use tokio_postgres::Config;

use crate::connect::{Connect, NoInstance, Options};
use crate::error::{visible, StoreError};
use crate::id::PgId;
use crate::link::Link;
use crate::listen::{self, Cancels};
use crate::reason::{encode_reason, micros};
use crate::record::{
    cleanup_columns, Ended, EndingRecord, Listing, NewTask, Seal, TaskRecord, TaskState,
};
use crate::schema::SchemaName;
use crate::sql::decode_record;

/// One instance's membership of a cluster: the store of every instance's task records, and
/// the way cancels reach the instance that runs the task.
///
/// Cheap to clone (one `Arc`); every clone shares one connection, on which concurrent
/// operations are pipelined, plus one more while [`listen`](Self::listen)'s stream lives.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use task_manager_core::{CancelReason, CancelSource, CancelStatus, TaskId};
/// use task_manager_postgres::{Ended, EndingRecord, NewTask, PgCluster, Seal};
///
/// let a = PgCluster::connect("postgresql://app:secret@127.0.0.1/app").instance("api-1").await?;
/// let b = PgCluster::connect("postgresql://app:secret@127.0.0.1/app").instance("api-2").await?;
///
/// let id = TaskId::new();
/// a.insert(NewTask::new(id, "query")).await?;
/// a.begin_step(id, 0, "prepare").await?;
///
/// // Any instance may cancel; the one conditional update decides against A's own seal.
/// let answer = b.request_cancel(id, &CancelReason::from("user left"), CancelSource::Request).await?;
/// assert_eq!(answer, CancelStatus::Requested);
/// assert!(matches!(a.seal(id).await?, Seal::CancelWon(_)));
/// a.record_ending(id, &EndingRecord::new(Ended::Cancelled { step: Some("prepare".into()) }, 0)).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PgCluster {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: Config,
    pub(crate) schema: SchemaName,
    pub(crate) instance: String,
    pub(crate) options: Options,
    pub(crate) link: Link,
    /// Whether a [`Cancels`] of this instance is alive (at most one).
    pub(crate) listening: Arc<AtomicBool>,
    /// The manager's side, once a manager was built with this cluster (`cluster.rs`).
    pub(crate) seam: std::sync::OnceLock<crate::cluster::Seam>,
    /// The cluster-wide lines' task, started by the first entry (`admission.rs`).
    pub(crate) admission: std::sync::OnceLock<crate::admission::Admission>,
    /// The lease this instance writes with (`lease.rs`), shared with the writers' clone.
    pub(crate) lease: Arc<crate::lease::LeaseState>,
}

impl std::fmt::Debug for PgCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCluster")
            .field("instance", &self.inner.instance)
            .field("schema", &self.inner.schema.as_str())
            .finish_non_exhaustive()
    }
}

impl PgCluster {
    /// Starts joining the cluster whose store is at `url` (a `postgresql://` URL or
    /// `key=value` pairs, as libpq takes them; TLS is not supported yet). Name the instance,
    /// then await: see [`Connect`].
    ///
    /// Awaiting connects, creates or migrates the schema (safe when instances start at
    /// once) and prepares the statements. A malformed URL, an unreachable server, refused
    /// credentials and a schema from a newer version are each a [`ConnectError`](crate::ConnectError).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), task_manager_postgres::ConnectError> {
    /// let cluster = task_manager_postgres::PgCluster::connect("postgresql://app:secret@db/app")
    ///     .instance("api-1")
    ///     .await?;
    /// # let _ = cluster; Ok(()) }
    /// ```
    pub fn connect(url: impl Into<String>) -> Connect<NoInstance> {
        Connect::new(url.into())
    }

    pub(crate) fn new(
        config: Config,
        schema: SchemaName,
        instance: String,
        options: Options,
        link: Link,
        lease: Arc<crate::lease::LeaseState>,
    ) -> Self {
        PgCluster {
            inner: Arc::new(Inner {
                config,
                schema,
                instance,
                options,
                link,
                listening: Arc::new(AtomicBool::new(false)),
                seam: std::sync::OnceLock::new(),
                admission: std::sync::OnceLock::new(),
                lease,
            }),
        }
    }

    /// This instance's name.
    ///
    /// ```no_run
    /// # async fn demo(cluster: task_manager_postgres::PgCluster) {
    /// println!("joined as {}", cluster.instance());
    /// # }
    /// ```
    pub fn instance(&self) -> &str {
        &self.inner.instance
    }

    /// The schema holding the store's tables.
    ///
    /// ```no_run
    /// # async fn demo(cluster: task_manager_postgres::PgCluster) {
    /// assert_eq!(cluster.schema(), "task_manager");
    /// # }
    /// ```
    pub fn schema(&self) -> &str {
        self.inner.schema.as_str()
    }

    /// Records a submitted task, owned by this instance. An id that has a record anywhere
    /// in the cluster is refused with [`StoreError::DuplicateId`].
    ///
    /// ```no_run
    /// # async fn demo(cluster: task_manager_postgres::PgCluster) -> Result<(), task_manager_postgres::StoreError> {
    /// use task_manager_core::TaskId;
    /// use task_manager_postgres::NewTask;
    ///
    /// cluster.insert(NewTask::new(TaskId::new(), "query").queued()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn insert(&self, task: NewTask<'_>) -> Result<(), StoreError> {
        no_nul("flow name", task.flow)?;
        let session = self.inner.link.session().await?;
        let inserted = session
            .client
            .execute(
                &session.sql.insert,
                &[
                    &PgId(task.id),
                    &task.flow,
                    &self.inner.instance,
                    &task.state.as_str(),
                    &self.lease(),
                ],
            )
            .await;
        match inserted {
            Ok(_) => Ok(()),
            // 23505: unique_violation, on the primary key.
            Err(e) if e.code().is_some_and(|code| code.code() == "23505") => {
                Err(StoreError::DuplicateId { id: task.id })
            }
            Err(e) => Err(StoreError::from_client("inserting a task", e)),
        }
    }

    /// A step boundary: step `index` (0-based, so `index` steps have completed) named `step`
    /// begins. A queued task becomes running. `Ok(false)`: the task's ending is already
    /// decided (a cancel won, or it sealed), and nothing was written.
    ///
    /// ```no_run
    /// # async fn demo(cluster: task_manager_postgres::PgCluster, id: task_manager_core::TaskId) -> Result<(), task_manager_postgres::StoreError> {
    /// if !cluster.begin_step(id, 1, "send").await? {
    ///     // A cancel won: do not begin the step.
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn begin_step(&self, id: TaskId, index: u32, step: &str) -> Result<bool, StoreError> {
        self.begin_step_of(id, index, step, None).await
    }

    /// [`begin_step`](Self::begin_step), naming the task's flow too if `flow` is given (a
    /// manager's task whose submission did not write it: `cluster.rs`).
    pub(crate) async fn begin_step_of(
        &self,
        id: TaskId,
        index: u32,
        step: &str,
        flow: Option<&str>,
    ) -> Result<bool, StoreError> {
        no_nul("step name", step)?;
        let index = i32::try_from(index).unwrap_or(i32::MAX);
        let session = self.inner.link.session().await?;
        let written = session
            .client
            .execute(
                &session.sql.begin_step,
                &[
                    &PgId(id),
                    &self.inner.instance,
                    &step,
                    &index,
                    &index,
                    &self.lease(),
                    &flow,
                ],
            )
            .await
            .map_err(|e| StoreError::from_client("recording a step boundary", e))?;
        if written == 1 {
            return Ok(true);
        }
        let record = self.owned_record(id, "recording a step boundary").await?;
        if record.state.is_undecided() {
            return Err(corrupt(id, "an undecided record refused a step boundary"));
        }
        Ok(false)
    }

    /// Records a step's latest progress (until the task's ending is recorded).
    ///
    /// ```no_run
    /// # async fn demo(cluster: task_manager_postgres::PgCluster, id: task_manager_core::TaskId) -> Result<(), task_manager_postgres::StoreError> {
    /// use task_manager_core::Progress;
    /// cluster.set_progress(id, Progress { done: 37, total: 120 }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_progress(&self, id: TaskId, progress: Progress) -> Result<(), StoreError> {
        let done = i64::try_from(progress.done).unwrap_or(i64::MAX);
        let total = i64::try_from(progress.total).unwrap_or(i64::MAX);
        let session = self.inner.link.session().await?;
        let written = session
            .client
            .execute(
                &session.sql.progress,
                &[
                    &PgId(id),
                    &self.inner.instance,
                    &done,
                    &total,
                    &self.lease(),
                ],
            )
            .await
            .map_err(|e| StoreError::from_client("recording progress", e))?;
        if written == 1 {
            return Ok(());
        }
        let record = self.owned_record(id, "recording progress").await?;
        Err(StoreError::Refused {
            id,
            state: record.state,
            refused: "its ending is recorded: no more progress",
        })
    }

    /// The task claims its own ending (core's `seal`): after [`Seal::Sealed`], every cancel
    /// answers `AlreadyFinished`. [`Seal::CancelWon`]: a cancel decided first, and the task
    /// must end cancelled with its reason. Needed only when something runs between the seal
    /// and the final record (a panicked step's cleanup); otherwise
    /// [`record_ending`](Self::record_ending) seals and records in one update.
    ///
    /// ```no_run
    /// # async fn demo(cluster: task_manager_postgres::PgCluster, id: task_manager_core::TaskId) -> Result<(), task_manager_postgres::StoreError> {
    /// use task_manager_postgres::Seal;
    /// match cluster.seal(id).await? {
    ///     Seal::Sealed => { /* run the panicked step's cleanup, then record the ending */ }
    ///     Seal::CancelWon(cancel) => println!("cancelled first: {}", cancel.reason),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn seal(&self, id: TaskId) -> Result<Seal, StoreError> {
        self.seal_with(id, None, None, None, None).await
    }

    /// [`seal`](Self::seal), recording how the task is ending (`sealed`, core's
    /// [`SealedAs`]; `None`: not said): a claim of a task sealed completed ends it completed
    /// (`claim.rs`); keeping `output` (core's `Sealing::output`) and, if
    /// `ending` is one (`("completed" | "failed", step)`, core's `Sealing::ending`),
    /// recording it in the same update: the record is then `finished`. `flow` (core's
    /// `Sealing::flow`) names the task's flow if no earlier write did.
    pub(crate) async fn seal_with(
        &self,
        id: TaskId,
        sealed: Option<SealedAs>,
        output: Option<&[u8]>,
        ending: Option<(&str, Option<&str>)>,
        flow: Option<&str>,
    ) -> Result<Seal, StoreError> {
        if let Some(flow) = flow {
            no_nul("flow name", flow)?;
        }
        let (ending_kind, ending_step) = match ending {
            Some((kind, step)) => (Some(kind), step),
            None => (None, None),
        };
        if let Some(step) = ending_step {
            no_nul("step name", step)?;
        }
        let (kind, steps_completed) = match sealed {
            Some(SealedAs::Completed { steps_completed }) => (
                Some("completed"),
                Some(i32::try_from(steps_completed).unwrap_or(i32::MAX)),
            ),
            Some(SealedAs::Failed) => (Some("failed"), None),
            // A kind this store does not know: said as not said.
            Some(_) | None => (None, None),
        };
        let session = self.inner.link.session().await?;
        let written = session
            .client
            .execute(
                &session.sql.seal,
                &[
                    &PgId(id),
                    &self.inner.instance,
                    &self.lease(),
                    &kind,
                    &steps_completed,
                    &ending_kind,
                    &ending_step,
                    &output,
                    &flow,
                ],
            )
            .await
            .map_err(|e| StoreError::from_client("sealing a task's ending", e))?;
        if written == 1 {
            return Ok(Seal::Sealed);
        }
        let record = self.owned_record(id, "sealing a task's ending").await?;
        match (record.state, record.cancel) {
            (TaskState::Cancelling, Some(cancel)) => Ok(Seal::CancelWon(cancel)),
            (state, _) => Err(StoreError::Refused {
                id,
                state,
                refused: "its ending is already sealed",
            }),
        }
    }

    /// Asks for the task's cancel, from this instance, whichever instance owns it. The
    /// answer is decided atomically with the task's own ending, by one conditional update
    /// of its record, with core's single-answer rule:
    ///
    /// * [`Requested`](CancelStatus::Requested): this request won; the task will end
    ///   cancelled with `reason`. Its owner is notified when the decision commits. A task
    ///   whose claimant is cleaning up its lost step (`cancelling` with the claim's
    ///   `OwnerLost`) is won too: `reason` replaces the claim's, and a resumable task does
    ///   not run again (see the workspace README, "When an instance dies").
    /// * [`AlreadyRequested`](CancelStatus::AlreadyRequested): an earlier cancel won; its
    ///   reason stands.
    /// * [`AlreadyFinished`](CancelStatus::AlreadyFinished): the task had sealed its own
    ///   ending (or recorded it).
    /// * [`NotFound`](CancelStatus::NotFound): no record has this id (never submitted, or
    ///   purged).
    ///
    /// ```no_run
    /// # async fn demo(cluster: task_manager_postgres::PgCluster, id: task_manager_core::TaskId) -> Result<(), task_manager_postgres::StoreError> {
    /// use task_manager_core::{CancelReason, CancelSource};
    /// let answer = cluster.request_cancel(id, &CancelReason::from("user left"), CancelSource::Request).await?;
    /// println!("{answer:?}");
    /// # Ok(()) }
    /// ```
    pub async fn request_cancel(
        &self,
        id: TaskId,
        reason: &CancelReason,
        source: CancelSource,
    ) -> Result<CancelStatus, StoreError> {
        let columns = encode_reason(reason)?;
        let source = source.name();
        let session = self.inner.link.session().await?;
        let won = session
            .client
            .query(
                &session.sql.cancel,
                &[
                    &PgId(id),
                    &columns.kind,
                    &columns.message,
                    &columns.max_wait_us,
                    &source,
                    &self.inner.instance,
                ],
            )
            .await
            .map_err(|e| StoreError::from_client("requesting a cancel", e))?;
        if !won.is_empty() {
            return Ok(CancelStatus::Requested);
        }
        let Some(record) = self.read(id, "requesting a cancel").await? else {
            return Ok(CancelStatus::NotFound);
        };
        Ok(match record.state {
            // Inserted after the update looked: at the request's instant there was no task.
            TaskState::Queued | TaskState::Running => CancelStatus::NotFound,
            TaskState::Cancelling => CancelStatus::AlreadyRequested,
            TaskState::Finishing => CancelStatus::AlreadyFinished,
            TaskState::Finished => match record.ending.map(|ending| ending.ended) {
                Some(Ended::Cancelled { .. }) => CancelStatus::AlreadyRequested,
                _ => CancelStatus::AlreadyFinished,
            },
        })
    }

    /// Records how the task ended, with its cleanup's result: the record becomes
    /// `finished`. A [`Ended::Cancelled`] ending needs that a cancel won; any other needs
    /// that none did (the task sealed, or seals with this very update). Otherwise
    /// [`StoreError::Refused`], and nothing is written.
    ///
    /// ```no_run
    /// # async fn demo(cluster: task_manager_postgres::PgCluster, id: task_manager_core::TaskId) -> Result<(), task_manager_postgres::StoreError> {
    /// use task_manager_postgres::{Ended, EndingRecord};
    /// cluster.record_ending(id, &EndingRecord::new(Ended::Completed, 3)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn record_ending(&self, id: TaskId, ending: &EndingRecord) -> Result<(), StoreError> {
        let (step, message): (Option<&str>, Option<&[u8]>) = match &ending.ended {
            Ended::Completed => (None, None),
            Ended::Failed { step, error } => (Some(step), Some(error.as_bytes())),
            Ended::Cancelled { step } => (step.as_deref(), None),
            Ended::Panicked { step, message } => (Some(step), Some(message.as_bytes())),
        };
        if let Some(step) = step {
            no_nul("step name", step)?;
        }
        let cleanup = ending.cleanup.as_ref().map(cleanup_columns).transpose()?;
        let steps_completed = i32::try_from(ending.steps_completed).unwrap_or(i32::MAX);
        let session = self.inner.link.session().await?;
        let written = session
            .client
            .execute(
                &session.sql.record_ending,
                &[
                    &PgId(id),
                    &self.inner.instance,
                    &ending.ended.kind(),
                    &step,
                    &message,
                    &steps_completed,
                    &cleanup.as_ref().map(|c| c.kind),
                    &cleanup.as_ref().and_then(|c| c.step),
                    &cleanup.as_ref().and_then(|c| c.micros),
                    &cleanup.as_ref().and_then(|c| c.message),
                    &self.lease(),
                ],
            )
            .await
            .map_err(|e| StoreError::from_client("recording a task's ending", e))?;
        if written == 1 {
            return Ok(());
        }
        let record = self.owned_record(id, "recording a task's ending").await?;
        let refused = match record.state {
            TaskState::Cancelling => "a cancel won: its ending can only be Cancelled",
            TaskState::Finished => "its ending is already recorded",
            _ => "no cancel won: its ending cannot be Cancelled",
        };
        Err(StoreError::Refused {
            id,
            state: record.state,
            refused,
        })
    }

    /// The task's record, from any instance; `None` if no record has this id.
    ///
    /// ```no_run
    /// # async fn demo(cluster: task_manager_postgres::PgCluster, id: task_manager_core::TaskId) -> Result<(), task_manager_postgres::StoreError> {
    /// if let Some(record) = cluster.status(id).await? {
    ///     println!("{} on {}: {}", record.flow, record.instance, record.state);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn status(&self, id: TaskId) -> Result<Option<TaskRecord>, StoreError> {
        self.read(id, "reading a task's record").await
    }

    /// The records that `listing` selects, oldest submission first.
    ///
    /// ```no_run
    /// # async fn demo(cluster: task_manager_postgres::PgCluster) -> Result<(), task_manager_postgres::StoreError> {
    /// use task_manager_postgres::{Listing, TaskState};
    /// let running = cluster.list(&Listing::new().states(&[TaskState::Running])).await?;
    /// # let _ = running; Ok(()) }
    /// ```
    pub async fn list(&self, listing: &Listing<'_>) -> Result<Vec<TaskRecord>, StoreError> {
        let states: Option<Vec<&str>> = listing
            .states
            .map(|states| states.iter().map(|state| state.as_str()).collect());
        let limit = i64::from(listing.limit);
        let session = self.inner.link.session().await?;
        let rows = session
            .client
            .query(
                &session.sql.list,
                &[&listing.instance, &listing.flow, &states, &limit],
            )
            .await
            .map_err(|e| StoreError::from_client("listing tasks", e))?;
        rows.iter().map(decode_record).collect()
    }

    /// Deletes the records of tasks that finished longer ago than the configured retention
    /// ([`Connect::keep_finished`], default 24 h), on every instance; returns how many.
    /// Records of unfinished tasks are never deleted. The leases that expired as long ago
    /// go too, unless an unfinished task still names one (it is yet to be claimed).
    ///
    /// ```no_run
    /// # async fn demo(cluster: task_manager_postgres::PgCluster) -> Result<(), task_manager_postgres::StoreError> {
    /// let removed = cluster.purge_finished().await?;
    /// # let _ = removed; Ok(()) }
    /// ```
    pub async fn purge_finished(&self) -> Result<u64, StoreError> {
        self.purge_finished_older_than(self.inner.options.keep_finished)
            .await
    }

    /// Deletes the records of tasks that finished at least `age` ago; returns how many.
    ///
    /// ```no_run
    /// # async fn demo(cluster: task_manager_postgres::PgCluster) -> Result<(), task_manager_postgres::StoreError> {
    /// use std::time::Duration;
    /// cluster.purge_finished_older_than(Duration::from_secs(3600)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn purge_finished_older_than(&self, age: Duration) -> Result<u64, StoreError> {
        let session = self.inner.link.session().await?;
        session
            .client
            .execute(&session.sql.purge, &[&micros(age)])
            .await
            .map_err(|e| StoreError::from_client("purging finished tasks", e))
    }

    /// Starts delivering this instance's cancels: returns once the instance listens on its
    /// channel, then yields every cancel that wins one of its tasks, from any instance. See
    /// [`Cancels`] for the delivery's guarantees. One at a time per instance: a second call
    /// while the first `Cancels` lives is [`StoreError::AlreadyListening`].
    ///
    /// Must be called within a tokio runtime (the listener runs as a task on it).
    ///
    /// ```no_run
    /// # async fn demo(cluster: task_manager_postgres::PgCluster) -> Result<(), task_manager_postgres::StoreError> {
    /// use task_manager_postgres::CancelEvent;
    /// let mut cancels = cluster.listen().await?;
    /// while let Some(event) = cancels.next().await {
    ///     if let CancelEvent::Cancel(cancel) = event {
    ///         println!("stop {}: {}", cancel.id, cancel.reason);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn listen(&self) -> Result<Cancels, StoreError> {
        listen::start(listen::Settings {
            config: self.inner.config.clone(),
            schema: self.inner.schema.clone(),
            instance: self.inner.instance.clone(),
            rescan_every: self.inner.options.rescan_every,
            backoff_initial: self.inner.options.backoff_initial,
            backoff_max: self.inner.options.backoff_max,
            listening: Arc::clone(&self.inner.listening),
        })
        .await
    }

    pub(crate) async fn read(
        &self,
        id: TaskId,
        during: &'static str,
    ) -> Result<Option<TaskRecord>, StoreError> {
        let session = self.inner.link.session().await?;
        let row = session
            .client
            .query_opt(&session.sql.read, &[&PgId(id)])
            .await
            .map_err(|e| StoreError::from_client(during, e))?;
        row.as_ref().map(decode_record).transpose()
    }

    /// The record of a task this instance owns, or why there is none to write.
    async fn owned_record(
        &self,
        id: TaskId,
        during: &'static str,
    ) -> Result<TaskRecord, StoreError> {
        let record = self
            .read(id, during)
            .await?
            .ok_or(StoreError::NotFound { id })?;
        if let Some(refused) = self.fence_refusal(id, &record.instance).await? {
            return Err(refused);
        }
        Ok(record)
    }
}

pub(crate) fn no_nul(field: &'static str, value: &str) -> Result<(), StoreError> {
    if value.contains('\0') {
        return Err(StoreError::Nul {
            field,
            value: visible(value),
        });
    }
    Ok(())
}

fn corrupt(id: TaskId, detail: &str) -> StoreError {
    StoreError::Corrupt {
        id: Some(id),
        detail: detail.to_owned(),
    }
}
