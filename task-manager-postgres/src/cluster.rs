//! `PgCluster` as a manager's [`Cluster`]: the seam of `task_manager_core`, on this store.
//!
//! # How each call is served
//! * `reserve`, `seal`, `request_cancel` and `ended_cleanup` are awaited by the manager: each
//!   is one statement (and a read to explain a conditional update that matched nothing).
//!   `seal` retries while the server is unavailable: a task's ending may only be claimed by
//!   the store, so the task waits for it.
//! * `release`, `submitted`, `step_began` and `ended` are told from the runner's hot path and
//!   must not block it: they are queued to writer tasks, one task's writes always to the same
//!   writer (by its id), which applies them in order, retrying while the server is
//!   unavailable. The writers use connections of their own (`WRITER_CONNECTIONS`, each
//!   writer always the same one), so that the awaited calls never queue behind them, and
//!   the writes of tasks on different connections are applied in parallel. A write the store
//!   refuses for good is dropped and counted ([`PgCluster::dropped_writes`]).
//! * `submitted` names the task's flow: at once (a queued write) for a task that waits in
//!   its flow's line first, so that its record names its flow while it waits; otherwise
//!   the writer keeps the name and the task's next write that matches its record (its
//!   first boundary, or its ending) carries it, so that naming the flow costs no write of
//!   its own (`tests/store/writes.rs`). `submitted_resumable` (a flow with
//!   `on_owner_lost = resume`) queues the flow with the task's payload and info, and is
//!   ready once that is applied (`submit_in_cluster` awaits it): a claim of the task before
//!   its first boundary resumes it from its first step (`recover.rs`).
//! * `persist_step` (a flow with `on_owner_lost`) queues a boundary with state to the same
//!   writers, in order with the task's other writes, and is ready once it is applied. The
//!   plain boundary of the same step, told right after, is not sent when the boundary with
//!   state was written (it would write the same columns again): one statement per
//!   persisted boundary (`tests/store/writes.rs`).
//! * **While the server is down** (stopped, restarting, cut off) no queued write is dropped:
//!   each waits in its writer's queue, in order, retried with a backoff from `RETRY_FIRST`
//!   to `RETRY_MAX` until the server answers, since a task's boundary or ending told to the
//!   store must reach it. A write whose connection was lost after it reached the server may
//!   have been applied, and is sent again: every one is idempotent (a boundary written
//!   again, a release or a final record that finds nothing left to do answers `Ok(false)`).
//!   The awaited calls but `seal` fail at once with `ClusterErrorKind::Unavailable`, naming
//!   the task; the next call reconnects. `tests/store/restart.rs` stops and restarts a server
//!   under two instances.
//! * `status` and `snapshot` (a manager's `status_in_cluster`, `snapshot_in_cluster`) read
//!   the records: `src/status.rs`.
//! * `attach` starts the writers and the delivery task: it listens ([`PgCluster::listen`])
//!   and hands every cancel to the manager through core's `CancelDelivery`, until the
//!   manager is gone; every `purge_every` it also deletes the finished records older than
//!   `keep_finished` ([`PgCluster::purge_finished`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{
    CancelDelivery, CancelReason, CancelSource, CancelStatus, Cluster, ClusterEnding, ClusterError,
    ClusterErrorKind, ClusterFuture, ClusterSeal, Delivered, EndedAs, Entered, LineEntry,
    OutcomeRecord, RecordedCleanup, SealedAs, Sealing, TaskId,
};
use tokio::sync::mpsc;
use tokio::time::sleep;

use crate::error::StoreError;
use crate::link::Link;
use crate::listen::CancelEvent;
use crate::record::{Ended, Seal, TaskState};
use crate::store::PgCluster;

/// How many writer tasks share an instance's queued writes (by task id): one task's writes
/// stay in order, and several tasks' writes are pipelined on the writers' connections.
const WRITERS: usize = 16;
/// How many connections the writers use (each writer always the same one: writer `k` uses
/// connection `k % WRITER_CONNECTIONS`, so one task's writes stay on one connection, in
/// order). Each is a server process of its own, so that the writes of different tasks are
/// applied in parallel rather than one after another.
const WRITER_CONNECTIONS: usize = 2;
/// How many tasks a writer remembers as persisted at most (see `write_loop`).
const PERSISTED_MAX: usize = 4096;
/// The first and the longest wait before a write, a seal or a read is tried again while the
/// server is unavailable.
const RETRY_FIRST: Duration = Duration::from_millis(20);
const RETRY_MAX: Duration = Duration::from_secs(1);
/// How often `ended_cleanup` (and a waiting `outcome`) reads the record at first, and at
/// most, while the owner has not recorded the ending yet.
pub(crate) const ENDED_POLL_FIRST: Duration = Duration::from_millis(1);
pub(crate) const ENDED_POLL_MAX: Duration = Duration::from_millis(50);
/// How often the delivery task checks that its manager still lives when no cancel comes.
const ALIVE_CHECK: Duration = Duration::from_secs(1);

/// The manager's side of one `PgCluster`, set by `attach`.
pub(crate) struct Seam {
    writers: Vec<mpsc::UnboundedSender<Write>>,
    dropped_writes: Arc<AtomicU64>,
    /// Writes queued and not yet applied (or dropped), and recoveries not yet recorded.
    pub(crate) pending: Arc<AtomicU64>,
}

/// A write queued for the writer tasks.
enum Write {
    Release(TaskId),
    /// The task's flow, and whether it waits in its flow's line first: written at once if
    /// it does (its record names its flow while it waits), else carried by the task's next
    /// write (its first boundary, or its ending), with no write of its own.
    Flow(TaskId, &'static str, bool),
    /// A resumable flow's task's flow with its payload and info; the sender hears when it
    /// is applied.
    FlowWithState(
        TaskId,
        &'static str,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        tokio::sync::oneshot::Sender<()>,
    ),
    Step(TaskId, u32, &'static str),
    Ended(TaskId, ClusterEnding),
    /// A step boundary with the task's persisted state; the sender hears when it is applied.
    Persist(crate::recover::Boundary, tokio::sync::oneshot::Sender<()>),
}

impl Write {
    fn id(&self) -> TaskId {
        match self {
            Write::Release(id)
            | Write::Flow(id, _, _)
            | Write::FlowWithState(id, ..)
            | Write::Step(id, _, _)
            | Write::Ended(id, _) => *id,
            Write::Persist(boundary, _) => boundary.id,
        }
    }
}

impl PgCluster {
    /// How many queued writes (step boundaries, endings) the store refused for good and were
    /// dropped, since a manager was built with this cluster. Zero in a healthy cluster.
    ///
    /// ```no_run
    /// # fn demo(cluster: task_manager_postgres::PgCluster) {
    /// assert_eq!(cluster.dropped_writes(), 0);
    /// # }
    /// ```
    pub fn dropped_writes(&self) -> u64 {
        self.inner
            .seam
            .get()
            .map_or(0, |seam| seam.dropped_writes.load(Ordering::Relaxed))
    }

    /// Waits until every write queued so far (step boundaries, endings) has been applied or
    /// dropped: after it, the records of the tasks that ended before the call are final. It
    /// looks every millisecond; meant for an orderly stop and for tests.
    ///
    /// ```no_run
    /// # async fn demo(cluster: task_manager_postgres::PgCluster) {
    /// cluster.flush().await;
    /// # }
    /// ```
    pub async fn flush(&self) {
        let Some(seam) = self.inner.seam.get() else {
            return;
        };
        while seam.pending.load(Ordering::Acquire) > 0 {
            sleep(Duration::from_millis(1)).await;
        }
    }

    fn queue(&self, write: Write) {
        let Some(seam) = self.inner.seam.get() else {
            return;
        };
        seam.pending.fetch_add(1, Ordering::AcqRel);
        let bits = write.id().as_u128();
        let shard = ((bits as u64) ^ ((bits >> 64) as u64)) as usize % seam.writers.len();
        if seam.writers[shard].send(write).is_err() {
            seam.dropped_writes.fetch_add(1, Ordering::Relaxed);
            seam.pending.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl PgCluster {
    /// The seal core asks for, with what core's `sealing` says (`None`: nothing, as
    /// `Cluster::seal`), retried while the server is unavailable (see the module docs): an
    /// ending this store records with the seal is answered `SealedEnded`.
    fn seal_carrying(
        &self,
        id: TaskId,
        sealing: Option<Sealing>,
    ) -> ClusterFuture<Result<ClusterSeal, ClusterError>> {
        let (sealed, output, ending, flow) = match sealing {
            Some(sealing) => (
                Some(sealing.sealed),
                sealing.output,
                sealing.ending,
                sealing.flow,
            ),
            None => (None, None, None, None),
        };
        let this = self.clone();
        // The endings the seal can record: nothing runs after them (`Completed`; `Failed`
        // with no compensation to run, as the runner says by handing it over).
        let ending = ending.and_then(|ending| match ending.ended {
            EndedAs::Completed => Some(("completed", None)),
            EndedAs::Failed { step } => Some(("failed", Some(step))),
            _ => None,
        });
        Box::pin(async move {
            let mut wait = RETRY_FIRST;
            loop {
                match this
                    .seal_with(id, sealed, output.as_deref(), ending, flow)
                    .await
                {
                    Ok(Seal::Sealed) if ending.is_some() => return Ok(ClusterSeal::SealedEnded),
                    Ok(Seal::Sealed) => return Ok(ClusterSeal::Sealed),
                    Ok(Seal::CancelWon(cancel)) => {
                        return Ok(ClusterSeal::CancelWon {
                            reason: cancel.reason,
                            source: cancel.source,
                        })
                    }
                    Err(StoreError::Unavailable { .. }) => {
                        sleep(wait).await;
                        wait = (wait * 2).min(RETRY_MAX);
                    }
                    Err(e) => return Err(cluster_error(e, id, "sealing a task's ending")),
                }
            }
        })
    }
}

impl Cluster for PgCluster {
    fn attach(&self, delivery: CancelDelivery) -> Result<(), ClusterError> {
        let refused = |detail: &str| {
            ClusterError::new(
                ClusterErrorKind::Refused,
                None,
                "attaching a manager",
                detail,
            )
        };
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            refused("no tokio runtime is running here: build the manager within one")
        })?;
        let dropped_writes = Arc::new(AtomicU64::new(0));
        let mut writers = Vec::with_capacity(WRITERS);
        let mut queues = Vec::with_capacity(WRITERS);
        for _ in 0..WRITERS {
            let (sender, receiver) = mpsc::unbounded_channel();
            writers.push(sender);
            queues.push(receiver);
        }
        let pending = Arc::new(AtomicU64::new(0));
        let seam = Seam {
            writers,
            dropped_writes: Arc::clone(&dropped_writes),
            pending: Arc::clone(&pending),
        };
        if self.inner.seam.set(seam).is_err() {
            return Err(refused(
                "this PgCluster is attached to a manager already (one manager per instance)",
            ));
        }
        // The writers' own connections (each made on its first write): a reservation or a
        // seal then never waits behind the boundary writes of other tasks on the store's one.
        let inner = &self.inner;
        let writing: Vec<PgCluster> = (0..WRITER_CONNECTIONS)
            .map(|_| {
                PgCluster::new(
                    inner.config.clone(),
                    inner.schema.clone(),
                    inner.instance.clone(),
                    inner.options.clone(),
                    Link::lazy(inner.config.clone(), inner.schema.clone()),
                    Arc::clone(&inner.lease),
                )
            })
            .collect();
        for (k, queue) in queues.into_iter().enumerate() {
            runtime.spawn(write_loop(
                writing[k % writing.len()].clone(),
                queue,
                Arc::clone(&dropped_writes),
                Arc::clone(&pending),
            ));
        }
        let _ = self.inner.lease.set_delivery(delivery.clone());
        runtime.spawn(crate::lease::lease_loop(self.clone(), delivery.clone()));
        runtime.spawn(deliver_loop(self.clone(), delivery));
        Ok(())
    }

    fn reserve(&self, id: TaskId) -> ClusterFuture<Result<(), ClusterError>> {
        let this = self.clone();
        Box::pin(async move {
            // A task is recorded with this instance's lease: none yet (just attached, or
            // lost and being retaken), wait for one.
            if this.lease().is_none()
                && this
                    .wait_for_lease(this.inner.options.connect_timeout)
                    .await
                    .is_none()
            {
                return Err(ClusterError::new(
                    ClusterErrorKind::Unavailable,
                    Some(id),
                    "reserving a task id",
                    "this instance holds no lease in the cluster (it could not take one)",
                ));
            }
            this.insert(crate::NewTask::new(id, "").queued())
                .await
                .map_err(|e| cluster_error(e, id, "reserving a task id"))
        })
    }

    fn release(&self, id: TaskId) {
        self.queue(Write::Release(id));
    }

    fn submitted(&self, id: TaskId, flow: &'static str, queued: bool) {
        self.queue(Write::Flow(id, flow, queued));
    }

    fn submitted_resumable(
        &self,
        id: TaskId,
        flow: &'static str,
        _queued: bool,
        payload: Option<Vec<u8>>,
        info: Option<Vec<u8>>,
    ) -> ClusterFuture<Result<(), ClusterError>> {
        let (applied, written) = tokio::sync::oneshot::channel();
        self.queue(Write::FlowWithState(id, flow, payload, info, applied));
        Box::pin(async move {
            // A write refused for good (or a store without a manager): the task runs on,
            // unrecorded state and all.
            let _ = written.await;
            Ok(())
        })
    }

    fn step_began(&self, id: TaskId, index: usize, step: &'static str) {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        self.queue(Write::Step(id, index, step));
    }

    fn seal(&self, id: TaskId) -> ClusterFuture<Result<ClusterSeal, ClusterError>> {
        self.seal_carrying(id, None)
    }

    fn seal_as(
        &self,
        id: TaskId,
        sealed: SealedAs,
    ) -> ClusterFuture<Result<ClusterSeal, ClusterError>> {
        self.seal_carrying(id, Some(Sealing::new(sealed)))
    }

    fn seal_with(
        &self,
        id: TaskId,
        sealing: Sealing,
    ) -> ClusterFuture<Result<ClusterSeal, ClusterError>> {
        self.seal_carrying(id, Some(sealing))
    }

    fn outcome(
        &self,
        id: TaskId,
        wait: bool,
    ) -> ClusterFuture<Result<Option<OutcomeRecord>, ClusterError>> {
        crate::status::outcome(self, id, wait)
    }

    fn ended(&self, id: TaskId, ending: ClusterEnding) {
        self.queue(Write::Ended(id, ending));
    }

    fn request_cancel(
        &self,
        id: TaskId,
        reason: CancelReason,
        source: CancelSource,
    ) -> ClusterFuture<Result<CancelStatus, ClusterError>> {
        let this = self.clone();
        Box::pin(async move {
            this.request_cancel(id, &reason, source)
                .await
                .map_err(|e| cluster_error(e, id, "requesting a cancel"))
        })
    }

    fn persist_step(
        &self,
        id: TaskId,
        index: usize,
        step: &'static str,
        payload: Option<Vec<u8>>,
        info: Option<Vec<u8>>,
        outputs: Vec<(usize, Vec<u8>)>,
    ) -> ClusterFuture<Result<(), ClusterError>> {
        // The same boundary with no step input (a flow that does not resume).
        self.persist_resumable_step(id, index, step, payload, info, None, outputs)
    }

    fn persist_resumable_step(
        &self,
        id: TaskId,
        index: usize,
        step: &'static str,
        payload: Option<Vec<u8>>,
        info: Option<Vec<u8>>,
        input: Option<Vec<u8>>,
        outputs: Vec<(usize, Vec<u8>)>,
    ) -> ClusterFuture<Result<(), ClusterError>> {
        let (applied, written) = tokio::sync::oneshot::channel();
        let boundary = crate::recover::Boundary {
            id,
            index: u32::try_from(index).unwrap_or(u32::MAX),
            step,
            payload,
            info,
            outputs,
            input,
        };
        self.queue(Write::Persist(boundary, applied));
        Box::pin(async move {
            // In order with the task's other writes; a write refused for good (or a store
            // without a manager) lets the step begin anyway.
            let _ = written.await;
            Ok(())
        })
    }

    fn ended_cleanup(
        &self,
        id: TaskId,
    ) -> ClusterFuture<Result<Option<RecordedCleanup>, ClusterError>> {
        let this = self.clone();
        Box::pin(async move {
            let mut wait = ENDED_POLL_FIRST;
            loop {
                match this.status(id).await {
                    Ok(None) => return Ok(None),
                    Ok(Some(record)) if record.state == TaskState::Finished => {
                        let ending = record.ending;
                        return Ok(ending.and_then(|ending| match ending.ended {
                            Ended::Cancelled { .. } => ending.cleanup,
                            _ => None,
                        }));
                    }
                    Ok(Some(_)) => {}
                    Err(StoreError::Unavailable { .. }) => {}
                    Err(e) => return Err(cluster_error(e, id, "waiting for a task's ending")),
                }
                sleep(wait).await;
                wait = (wait * 2).min(ENDED_POLL_MAX);
            }
        })
    }

    fn shares_limits(&self) -> bool {
        !self.inner.options.limits_per_instance
    }

    fn enter_line(&self, entry: LineEntry) -> ClusterFuture<Result<Entered, ClusterError>> {
        crate::admission::enter(self, entry)
    }

    fn status(
        &self,
        id: TaskId,
    ) -> ClusterFuture<Result<Option<task_manager_core::ClusterTaskStatus>, ClusterError>> {
        crate::status::status(self, id)
    }

    fn snapshot(
        &self,
        limit: usize,
    ) -> ClusterFuture<Result<Vec<task_manager_core::ClusterTaskStatus>, ClusterError>> {
        crate::status::snapshot(self, limit)
    }
}

/// Applies one writer's queued writes in order, retrying while the server is unavailable.
/// Ends when the instance's `PgCluster` is gone (its senders with it).
async fn write_loop(
    cluster: PgCluster,
    mut queue: mpsc::UnboundedReceiver<Write>,
    dropped: Arc<AtomicU64>,
    pending: Arc<AtomicU64>,
) {
    // The boundaries with state this writer wrote, by task, not yet followed by the same
    // step's plain boundary: the runner tells that one right after (`step_began`), and it
    // would write the very columns the boundary with state wrote, so it is not sent.
    let mut persisted: HashMap<TaskId, u32> = HashMap::new();
    // The flows of the tasks submitted not to wait in a line, not yet written: each rides
    // on the task's next write that matches its record (its first boundary, or its ending),
    // so that naming the flow costs no write of its own.
    let mut unnamed: HashMap<TaskId, &'static str> = HashMap::new();
    while let Some(write) = queue.recv().await {
        match &write {
            Write::Step(id, index, _) if persisted.get(id) == Some(index) => {
                persisted.remove(id);
                pending.fetch_sub(1, Ordering::AcqRel);
                continue;
            }
            Write::Flow(id, flow, false) => {
                if unnamed.len() >= PERSISTED_MAX {
                    // Tasks abandoned before their first write (told nothing more): forget
                    // them; what is forgotten is only a record without its flow's name.
                    unnamed.clear();
                }
                unnamed.insert(*id, flow);
                pending.fetch_sub(1, Ordering::AcqRel);
                continue;
            }
            Write::Release(id) => {
                persisted.remove(id);
                unnamed.remove(id);
            }
            Write::Step(id, _, _) | Write::Ended(id, _) => {
                persisted.remove(id);
            }
            Write::Flow(..) | Write::FlowWithState(..) | Write::Persist(..) => {}
        }
        let flow = unnamed.get(&write.id()).copied();
        let mut wait = RETRY_FIRST;
        loop {
            let written = match &write {
                Write::Release(id) => cluster.release_id(*id).await.map(drop),
                Write::Flow(id, flow, _) => cluster.name_flow(*id, flow).await,
                Write::FlowWithState(id, flow, payload, info, _) => {
                    cluster.name_flow_with_state(*id, flow, payload, info).await
                }
                Write::Step(id, index, step) => cluster
                    .begin_step_of(*id, *index, step, flow)
                    .await
                    .map(|written| {
                        if written {
                            unnamed.remove(id);
                        }
                    }),
                Write::Ended(id, ending) => {
                    cluster.record_final(*id, ending, flow).await.map(|_| {
                        unnamed.remove(id);
                    })
                }
                Write::Persist(boundary, _) => {
                    cluster
                        .persist_boundary(boundary, flow)
                        .await
                        .map(|written| {
                            if written {
                                unnamed.remove(&boundary.id);
                            }
                            // Only a boundary that was written stands for the plain one: one
                            // that matched nothing (a cancel won, the task was claimed) leaves
                            // the plain one to be sent, and refused or counted as before.
                            if written {
                                if persisted.len() >= PERSISTED_MAX {
                                    // Tasks abandoned between the two (told nothing more): forget
                                    // them; what is forgotten is only written twice.
                                    persisted.clear();
                                }
                                persisted.insert(boundary.id, boundary.index);
                            }
                        })
                }
            };
            match written {
                Ok(()) => {
                    pending.fetch_sub(1, Ordering::AcqRel);
                    match write {
                        Write::Persist(_, applied) | Write::FlowWithState(.., applied) => {
                            let _ = applied.send(());
                        }
                        _ => {}
                    }
                    break;
                }
                Err(StoreError::Unavailable { .. }) => {
                    sleep(wait).await;
                    wait = (wait * 2).min(RETRY_MAX);
                }
                Err(_) => {
                    dropped.fetch_add(1, Ordering::Relaxed);
                    pending.fetch_sub(1, Ordering::AcqRel);
                    break;
                }
            }
        }
    }
}

/// Listens for this instance's cancels and hands each to the manager, until it is gone.
async fn deliver_loop(cluster: PgCluster, delivery: CancelDelivery) {
    let mut wait = RETRY_FIRST;
    let mut cancels = loop {
        if !delivery.is_attached() {
            return;
        }
        match cluster.listen().await {
            Ok(cancels) => break cancels,
            // The listener retries by itself once started; starting needs the server once.
            Err(_) => {
                sleep(wait).await;
                wait = (wait * 2).min(RETRY_MAX);
            }
        }
    };
    // The delivery task must not keep the cluster (and its writers) alive by itself.
    let inner = Arc::downgrade(&cluster.inner);
    let mut purge = tokio::time::interval(cluster.inner.options.purge_every);
    purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    drop(cluster);
    loop {
        let event = tokio::select! {
            event = cancels.next() => event,
            () = sleep(ALIVE_CHECK) => {
                if delivery.is_attached() { continue } else { return }
            }
            _ = purge.tick() => {
                // Finished records older than `keep_finished` go, so that the table does
                // not grow without bound; a failure is tried again at the next tick.
                if let Some(inner) = inner.upgrade() {
                    let _ = PgCluster { inner }.purge_finished().await;
                }
                continue;
            }
        };
        match event {
            None => return,
            Some(CancelEvent::Cancel(cancel)) => {
                if delivery.cancel(cancel.id, cancel.reason, cancel.source)
                    == Delivered::ManagerGone
                {
                    return;
                }
            }
            // Reconnections and failures: the listener goes on by itself, and re-scans.
            Some(_) => {}
        }
    }
}

pub(crate) fn cluster_error(error: StoreError, id: TaskId, during: &'static str) -> ClusterError {
    let kind = match error {
        StoreError::Unavailable { .. } => ClusterErrorKind::Unavailable,
        StoreError::DuplicateId { .. } => ClusterErrorKind::Duplicate,
        _ => ClusterErrorKind::Refused,
    };
    ClusterError::new(kind, Some(id), during, error.to_string())
}
