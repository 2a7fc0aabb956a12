//! Cluster-wide lines: a flow's limit, `limit_all` and the named resources of a clustered
//! manager, kept in the store for every instance (core's `Cluster::enter_line`).
//!
//! # Why permits tied to a session rather than leases
//! A permit held by an instance that dies must come back. A lease (a row with an expiry the
//! holder renews) comes back only once it expires: a waiter elsewhere waits out the lease
//! (seconds, if renewals are not to be a load of their own), and every holder writes a
//! renewal per period even when nothing changes. Here each instance holds one session-level
//! advisory lock (its *presence*, a random key) on its admission connection, and every
//! entry it makes carries that key. PostgreSQL releases the lock the moment that connection
//! ends, the process killed with `kill -9` included (the kernel closes its socket), so the
//! entries are dead from then on, and the next re-check of their line deletes them
//! (`line_reap`, which looks the keys up in `pg_locks`; run by every instance waiting in
//! the line, every `recheck_lines_every`, and by an entry that finds the line full). Nothing is renewed while all is
//! well. The price is the same as a lease's expiry, sooner: if the admission connection
//! drops while the instance lives (a network cut, a server restart), its entries die with
//! it; the instance takes the same key again on reconnecting, and the entries not yet
//! reaped live on, but a permit reaped meanwhile may have been handed to another task
//! while the first still runs (its place in a line is taken again at the back).
//!
//! # Invariants
//! * Every operation on a line runs in one transaction that locks the line's row first
//!   (`admission.sql`): the operations of every instance on a line are serialised, so two
//!   instances taking the last permit at once are served in turn, the second finding it
//!   taken; a released permit goes to the first waiter (priority, then arrival order
//!   across the cluster, a sequence) whose task's ending is not decided (`line_decided`:
//!   a cancel won its record), in the releaser's own transaction, never back to a free pool
//!   while such a waiter waits. The line's row counts its entries, so that an entry costs
//!   the same however long the line is.
//! * An instance's operations go through one task, in the order they were asked: a
//!   task's exit from a line always comes after its entry.
//! * A grant is told to the waiter's instance by `NOTIFY` on its channel, committed with the
//!   grant. A notification is lost while the instance's connection is down: every
//!   `recheck_every` (and after every reconnection) the instance re-checks each line it
//!   waits in (reaping the dead, granting what they held) and reads which of its waiters
//!   were granted.
//! * A wait is registered here before its entry is sent, so that a grant notified before
//!   the entry's answer arrives is not lost.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use task_manager_core::{
    ClusterError, ClusterErrorKind, ClusterFuture, ClusterPermit, Entered, LineEntry, TaskId,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::sleep;
use tokio_postgres::{AsyncMessage, Client, Config, NoTls, Statement};

use crate::error::StoreError;
use crate::id::PgId;
use crate::schema::SchemaName;
use crate::store::PgCluster;

/// The advisory lock class of the instances' presence locks (`"tmln"` as a big-endian
/// `i32`); `admission.sql` names the same number.
const PRESENCE_CLASS: i32 = 0x746d_6c6e;

/// The first and the longest wait before the admission connection is made again.
const RECONNECT_FIRST: Duration = Duration::from_millis(20);
const RECONNECT_MAX: Duration = Duration::from_secs(1);

/// One instance's side of the cluster-wide lines: the task that talks to the store, and the
/// waits it wakes.
pub(crate) struct Admission {
    ops: mpsc::UnboundedSender<Op>,
    waits: Arc<Waits>,
}

/// What this instance's waits are waiting for, by (line, task).
#[derive(Default)]
struct Waits(Mutex<HashMap<(String, TaskId), Wait>>);

struct Wait {
    entry: LineEntry,
    /// Fired once the store granted the entry; `None` once fired.
    granted: Option<oneshot::Sender<()>>,
}

impl Waits {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, TaskId), Wait>> {
        // No user code runs under this lock.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Fires the wait of `task` in `line`, if there is one.
    fn grant(&self, line: &str, task: TaskId) {
        let mut waits = self.lock();
        if let Some(wait) = waits.get_mut(&(line.to_owned(), task)) {
            if let Some(granted) = wait.granted.take() {
                let _ = granted.send(());
            }
        }
    }
}

/// An operation for the admission task.
enum Op {
    Enter {
        entry: LineEntry,
        answer: oneshot::Sender<Answer>,
    },
    Exit {
        line: String,
        task: TaskId,
    },
}

/// The store's answer to an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Admitted,
    Queued,
    Full,
    /// The server refused the statement (not a lost connection): its words.
    Failed(String),
}

/// The settings the admission task needs.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) config: Config,
    pub(crate) schema: SchemaName,
    pub(crate) instance: String,
    pub(crate) recheck_every: Duration,
}

impl Admission {
    /// Starts the admission task on the current runtime. Its connection is made at once,
    /// and again whenever it is lost; operations asked meanwhile wait for it.
    pub(crate) fn start(settings: Settings) -> Admission {
        let (ops, receiver) = mpsc::unbounded_channel();
        let waits = Arc::new(Waits::default());
        tokio::spawn(run(settings, receiver, Arc::clone(&waits)));
        Admission { ops, waits }
    }

    /// `Cluster::enter_line`, on this store.
    pub(crate) fn enter(&self, entry: LineEntry) -> ClusterFuture<Result<Entered, ClusterError>> {
        let key = (entry.line.clone(), entry.task);
        let (granted, on_grant) = oneshot::channel();
        self.waits.lock().insert(
            key.clone(),
            Wait {
                entry: entry.clone(),
                granted: Some(granted),
            },
        );
        // From here on, dropping the entry (its future, its wait, its permit) leaves the line.
        let guard = Exit {
            line: key.0,
            task: key.1,
            ops: self.ops.clone(),
            waits: Arc::clone(&self.waits),
            armed: true,
        };
        let (answer, answered) = oneshot::channel();
        let capacity = entry.capacity;
        let task = entry.task;
        let sent = self.ops.send(Op::Enter { entry, answer });
        Box::pin(async move {
            let mut guard = guard;
            let answer = match sent {
                Ok(()) => answered.await.ok(),
                Err(_) => None,
            };
            match answer {
                Some(Answer::Admitted) => {
                    guard.forget_wait();
                    Ok(Entered::Admitted(ClusterPermit::new(guard)))
                }
                Some(Answer::Queued) => Ok(Entered::Queued(Box::pin(Queued {
                    on_grant,
                    guard: Some(guard),
                }))),
                Some(Answer::Full) => {
                    guard.disarm();
                    Ok(Entered::Full { capacity })
                }
                Some(Answer::Failed(detail)) => {
                    guard.disarm();
                    Err(ClusterError::new(
                        ClusterErrorKind::Refused,
                        Some(task),
                        "entering a cluster-wide line",
                        detail,
                    ))
                }
                None => {
                    guard.disarm();
                    Err(ClusterError::new(
                        ClusterErrorKind::Unavailable,
                        Some(task),
                        "entering a cluster-wide line",
                        "the instance's admission task has stopped",
                    ))
                }
            }
        })
    }
}

/// A place in a line: ready with the permit once the store grants it. Dropped before, it
/// leaves the line (its guard's drop).
struct Queued {
    on_grant: oneshot::Receiver<()>,
    guard: Option<Exit>,
}

impl Future for Queued {
    type Output = ClusterPermit;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ClusterPermit> {
        match Pin::new(&mut self.on_grant).poll(cx) {
            Poll::Ready(Ok(())) => {
                let mut guard = self.guard.take().expect("a place is granted once");
                guard.forget_wait();
                Poll::Ready(ClusterPermit::new(guard))
            }
            // The admission task is gone (the cluster with it): no grant will come.
            Poll::Ready(Err(_)) | Poll::Pending => Poll::Pending,
        }
    }
}

/// Leaves a line when dropped: gives the permit back, or the place in the line.
struct Exit {
    line: String,
    task: TaskId,
    ops: mpsc::UnboundedSender<Op>,
    waits: Arc<Waits>,
    armed: bool,
}

impl Exit {
    /// The entry no longer waits (it holds its permit now).
    fn forget_wait(&mut self) {
        self.waits.lock().remove(&(self.line.clone(), self.task));
    }

    /// Nothing to leave (the entry was refused).
    fn disarm(&mut self) {
        self.forget_wait();
        self.armed = false;
    }
}

impl Drop for Exit {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        self.forget_wait();
        let _ = self.ops.send(Op::Exit {
            line: std::mem::take(&mut self.line),
            task: self.task,
        });
    }
}

/// Why the admission connection could not be made.
enum Unopened {
    /// Another live session holds the presence key.
    KeyTaken,
    /// The server is unreachable or failed: try again later.
    Lost,
}

/// The admission connection: its presence lock held, its channel listened to.
struct Session {
    client: Client,
    enter: Statement,
    exit: Statement,
    grant: Statement,
    entries_here: Statement,
    /// One message per notification: "TASK LINE".
    notifications: mpsc::UnboundedReceiver<String>,
    driver: JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Session {
    /// Connects, takes the presence lock of `holder` and listens on its channel.
    async fn open(settings: &Settings, holder: i32) -> Result<Session, Unopened> {
        let lost = |_| Unopened::Lost;
        let mut config = settings.config.clone();
        config.application_name(format!("tm-lines {}", settings.instance));
        let (client, mut connection) = config.connect(NoTls).await.map_err(lost)?;
        let (notify, notifications) = mpsc::unbounded_channel();
        let driver = tokio::spawn(async move {
            while let Some(Ok(message)) =
                std::future::poll_fn(|cx| connection.poll_message(cx)).await
            {
                if let AsyncMessage::Notification(note) = message {
                    if notify.send(note.payload().to_owned()).is_err() {
                        return;
                    }
                }
            }
        });
        let s = settings.schema.quoted();
        let locked: bool = client
            .query_one(
                "SELECT pg_try_advisory_lock($1, $2)",
                &[&PRESENCE_CLASS, &holder],
            )
            .await
            .map_err(lost)?
            .get(0);
        if !locked {
            return Err(Unopened::KeyTaken);
        }
        let channel: String = client
            .query_one(&format!("SELECT {s}.line_channel($1)"), &[&holder])
            .await
            .map_err(lost)?
            .get(0);
        // The channel is an md5 of fixed form: a plain identifier, quoted all the same.
        client
            .batch_execute(&format!("LISTEN \"{channel}\""))
            .await
            .map_err(lost)?;
        let prepare = |sql: String| {
            let client = &client;
            async move { client.prepare(&sql).await }
        };
        let prepared = async {
            Ok::<_, tokio_postgres::Error>((
                prepare(format!(
                    "SELECT {s}.line_enter($1::text, $2::bigint, $3::bigint, $4::uuid, $5::integer, $6::integer)"
                ))
                .await?,
                prepare(format!("SELECT {s}.line_exit($1::text, $2::uuid)")).await?,
                prepare(format!("SELECT {s}.line_recheck($1::text)")).await?,
                prepare(format!(
                    "SELECT line, task, granted FROM {s}.line_entries WHERE holder = $1"
                ))
                .await?,
            ))
        }
        .await
        .map_err(lost)?;
        let (enter, exit, grant, entries_here) = prepared;
        Ok(Session {
            client,
            enter,
            exit,
            grant,
            entries_here,
            notifications,
            driver,
        })
    }

    async fn apply(&self, op: &Op, holder: i32) -> Result<Option<Answer>, tokio_postgres::Error> {
        match op {
            Op::Enter { entry, .. } => {
                let permits = clamp(entry.permits);
                let capacity = clamp(entry.capacity);
                let answer: String = self
                    .client
                    .query_one(
                        &self.enter,
                        &[
                            &entry.line,
                            &permits,
                            &capacity,
                            &PgId(entry.task),
                            &holder,
                            &entry.priority,
                        ],
                    )
                    .await?
                    .get(0);
                Ok(Some(match answer.as_str() {
                    "admitted" => Answer::Admitted,
                    "full" => Answer::Full,
                    "queued" => Answer::Queued,
                    other => Answer::Failed(format!("the store answered `{other}` to an entry")),
                }))
            }
            Op::Exit { line, task } => {
                self.client
                    .execute(&self.exit, &[line, &PgId(*task)])
                    .await?;
                Ok(None)
            }
        }
    }

    /// The backstop: grants on every line this instance waits in (reaping the dead), then
    /// fires the waits the store granted; an entry the store does not have (reaped while
    /// this connection was down, or not yet made) is made (a second entry of the same task
    /// is answered as the first stands).
    async fn recheck(&self, waits: &Waits, holder: i32) -> Result<(), tokio_postgres::Error> {
        let waiting: Vec<LineEntry> = waits
            .lock()
            .values()
            .filter(|wait| wait.granted.is_some())
            .map(|wait| wait.entry.clone())
            .collect();
        if waiting.is_empty() {
            return Ok(());
        }
        let lines: HashSet<&str> = waiting.iter().map(|entry| entry.line.as_str()).collect();
        for line in lines {
            self.client.execute(&self.grant, &[&line]).await?;
        }
        let mut known = HashSet::new();
        for row in self.client.query(&self.entries_here, &[&holder]).await? {
            let line: String = row.get(0);
            let PgId(task) = row.get(1);
            let granted: bool = row.get(2);
            if granted {
                waits.grant(&line, task);
            }
            known.insert((line, task));
        }
        for entry in waiting {
            if known.contains(&(entry.line.clone(), entry.task)) {
                continue;
            }
            // Reaped while this instance's connection was down: in line again, at the back.
            let op = Op::Enter {
                entry,
                answer: oneshot::channel().0,
            };
            if let (Op::Enter { entry, .. }, Some(Answer::Admitted)) =
                (&op, self.apply(&op, holder).await?)
            {
                waits.grant(&entry.line, entry.task);
            }
        }
        Ok(())
    }
}

/// `Cluster::enter_line` for `cluster`: the first entry starts the instance's admission
/// task (within the runtime the manager's tasks run on).
pub(crate) fn enter(
    cluster: &PgCluster,
    entry: LineEntry,
) -> ClusterFuture<Result<Entered, ClusterError>> {
    let inner = &cluster.inner;
    let admission = inner.admission.get_or_init(|| {
        Admission::start(Settings {
            config: inner.config.clone(),
            schema: inner.schema.clone(),
            instance: inner.instance.clone(),
            recheck_every: inner.options.recheck_lines_every,
        })
    });
    admission.enter(entry)
}

/// A cluster-wide line as the store has it ([`PgCluster::line`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LineCounts {
    /// How many permits it has (as the instance that entered it last with other figures
    /// declared).
    pub permits: u64,
    /// How many may wait.
    pub capacity: u64,
    /// Permits held now (by live instances, and by dead ones not yet reaped).
    pub held: u64,
    /// Tasks waiting now.
    pub waiting: u64,
}

impl PgCluster {
    /// Cluster-wide line `name` (`flow:NAME`, `all`, `resource:NAME`) as the store has it:
    /// its figures, the permits held and the tasks waiting, on every instance; `None` if
    /// no task ever entered it. The manager's own `status` and `counts` see this instance's
    /// tasks; this sees the line.
    ///
    /// ```no_run
    /// # async fn demo(cluster: task_manager_postgres::PgCluster) -> Result<(), task_manager_postgres::StoreError> {
    /// if let Some(line) = cluster.line("flow:query").await? {
    ///     println!("{} of {} permits held, {} waiting", line.held, line.permits, line.waiting);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The store is unavailable or refused the read.
    pub async fn line(&self, name: &str) -> Result<Option<LineCounts>, StoreError> {
        let s = self.inner.schema.quoted();
        let session = self.inner.link.session().await?;
        let row = session
            .client
            .query_opt(
                &format!(
                    "SELECT l.permits, l.capacity,
                            count(*) FILTER (WHERE e.granted),
                            count(*) FILTER (WHERE NOT e.granted)
                       FROM {s}.lines l LEFT JOIN {s}.line_entries e ON e.line = l.name
                      WHERE l.name = $1
                      GROUP BY l.permits, l.capacity"
                ),
                &[&name],
            )
            .await
            .map_err(|e| StoreError::from_client("reading a cluster-wide line", e))?;
        let figure = |row: &tokio_postgres::Row, column| {
            u64::try_from(row.get::<_, i64>(column)).unwrap_or(0)
        };
        Ok(row.map(|row| LineCounts {
            permits: figure(&row, 0),
            capacity: figure(&row, 1),
            held: figure(&row, 2),
            waiting: figure(&row, 3),
        }))
    }
}

fn clamp(figure: usize) -> i64 {
    i64::try_from(figure).unwrap_or(i64::MAX)
}

/// A presence key: random, positive, so that no two live instances (nor a new one and a
/// dead one's leftovers, but by a chance of one in 2^31) share one.
fn presence_key() -> i32 {
    let bits = TaskId::new().as_u128();
    let key = ((bits ^ (bits >> 64)) as u32) & 0x7fff_ffff;
    (key as i32).max(1)
}

/// The admission task: applies the operations in order, wakes the granted waits, rechecks
/// every `recheck_every`; reconnects (with the same presence key) when the connection is
/// lost. Ends when every sender of operations is gone (the cluster and all its entries).
async fn run(settings: Settings, mut ops: mpsc::UnboundedReceiver<Op>, waits: Arc<Waits>) {
    let mut holder = presence_key();
    let mut pending: Option<Op> = None;
    let mut delay = RECONNECT_FIRST;
    loop {
        let mut session = match Session::open(&settings, holder).await {
            Ok(session) => session,
            Err(Unopened::KeyTaken) => {
                // Another live session holds this key: take another.
                holder = presence_key();
                continue;
            }
            Err(Unopened::Lost) => {
                if ops.is_closed() && pending.is_none() {
                    return;
                }
                sleep(delay).await;
                delay = (delay * 2).min(RECONNECT_MAX);
                continue;
            }
        };
        delay = RECONNECT_FIRST;
        // Grants notified while no connection listened are found here.
        if session.recheck(&waits, holder).await.is_err() {
            continue;
        }
        let mut recheck = tokio::time::interval(settings.recheck_every);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        recheck.tick().await;
        let lost = loop {
            if let Some(op) = pending.take() {
                match session.apply(&op, holder).await {
                    Ok(answer) => {
                        if let (Op::Enter { answer: reply, .. }, Some(answer)) = (op, answer) {
                            let _ = reply.send(answer);
                        }
                    }
                    Err(_) if session.client.is_closed() => {
                        pending = Some(op);
                        break true;
                    }
                    // Refused for good (a schema edited by hand, a dropped function): the
                    // entry is answered with the server's words; an exit has nothing
                    // left to do.
                    Err(error) => {
                        if let Op::Enter { answer: reply, .. } = op {
                            let _ = reply.send(Answer::Failed(crate::error::describe(&error)));
                        }
                    }
                }
                continue;
            }
            tokio::select! {
                op = ops.recv() => match op {
                    Some(op) => pending = Some(op),
                    None => return,
                },
                note = session.notifications.recv() => match note {
                    Some(note) => {
                        if let Some((task, line)) = note.split_once(' ') {
                            if let Ok(task) = task.parse::<TaskId>() {
                                waits.grant(line, task);
                            }
                        }
                    }
                    None => break true,
                },
                _ = recheck.tick() => {
                    if session.recheck(&waits, holder).await.is_err() && session.client.is_closed() {
                        break true;
                    }
                }
            }
        };
        debug_assert!(lost);
        drop(session);
    }
}
