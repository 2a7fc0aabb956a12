//! Delivery of cancels to the instance that owns the task: [`Cancels`].
//!
//! # How a cancel travels
//! The winning cancel's update and a `NOTIFY` on the owner's channel commit together (see
//! `sql.rs`). The owner's listener holds its own connection, `LISTEN`s on its channel, and
//! on every notification *scans*: it reads the instance's records in `cancelling` whose
//! cancel it has not taken yet, yields them, then marks them taken
//! (`cancel_delivered_at`). The notification is only a wake-up; the records are the truth.
//!
//! # Invariants
//! * `NOTIFY` is lost while no `LISTEN` is in place (the connection was cut, the server
//!   restarted). So a scan follows every (re)connect, *after* its `LISTEN` took effect: a
//!   cancel committed before the `LISTEN` is found by the scan, one committed after it is
//!   notified. A periodic scan (`rescan_every`) is the backstop for anything else.
//! * A cancel is marked taken only after it was handed to the stream's channel, so none is
//!   lost. It may be yielded twice if the mark did not reach the server (the connection
//!   died in between): delivery is at least once, and a consumer treats a second cancel of
//!   the same task as core does (`AlreadyRequested`).
//! * One listener per instance ([`crate::PgCluster::listen`] refuses a second while one
//!   lives): two would split the instance's cancels between them.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use task_manager_core::{CancelReason, CancelSource, TaskId};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{interval_at, sleep, Instant, MissedTickBehavior};
use tokio_postgres::{AsyncMessage, Client, Config, NoTls};

use crate::error::{describe, StoreError};
use crate::id::PgId;
use crate::reason::{decode_reason, decode_source};
use crate::schema::SchemaName;
use crate::sql::ListenerStatements;

/// How many cancels one scan reads at most (it scans again while batches come back full).
const SCAN_BATCH: i64 = 500;
/// How many events wait in the stream before the listener waits for its consumer.
const EVENT_BUFFER: usize = 256;

/// A cancel that won one of this instance's tasks, as the listener delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PendingCancel {
    /// The task.
    pub id: TaskId,
    /// The winning reason, byte for byte.
    pub reason: CancelReason,
    /// By what means it was asked.
    pub source: CancelSource,
    /// The instance that asked.
    pub requested_by: String,
    /// When the cancel was decided (the server's clock).
    pub requested_at: SystemTime,
}

/// What the listener reports, in order.
#[derive(Debug)]
#[non_exhaustive]
pub enum CancelEvent {
    /// A cancel won one of this instance's tasks: stop it.
    Cancel(PendingCancel),
    /// The listening connection was lost and is back: its `LISTEN` is in place again, and
    /// the re-scan that follows delivers what was cancelled meanwhile. `reconnects` counts
    /// the reconnections since [`PgCluster::listen`](crate::PgCluster::listen).
    Listening {
        /// Reconnections so far.
        reconnects: u64,
    },
    /// Something failed; the listener goes on. [`StoreError::Unavailable`]: the connection
    /// was lost, or a reconnection attempt failed (the server is down); the next attempt
    /// follows after a backoff. [`StoreError::Corrupt`]: a cancel's record was unreadable
    /// (it is marked taken, not delivered).
    Error(StoreError),
}

/// The stream of this instance's cancels, from [`PgCluster::listen`](crate::PgCluster::listen).
///
/// Read it with [`next`](Cancels::next) or as a [`Stream`](futures_core::Stream). Dropping
/// it stops the listener; the cancels that arrive meanwhile wait in the store and are
/// delivered to the next listener of this instance.
///
/// ```no_run
/// # async fn demo(cluster: task_manager_postgres::PgCluster) -> Result<(), task_manager_postgres::StoreError> {
/// use task_manager_postgres::CancelEvent;
/// let mut cancels = cluster.listen().await?;
/// while let Some(event) = cancels.next().await {
///     match event {
///         CancelEvent::Cancel(cancel) => println!("stop {}: {}", cancel.id, cancel.reason),
///         CancelEvent::Listening { .. } => {}
///         CancelEvent::Error(error) => eprintln!("cancel listener: {error}"),
///         _ => {}
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Cancels {
    events: mpsc::Receiver<CancelEvent>,
    listener: JoinHandle<()>,
    listening: Arc<AtomicBool>,
}

impl Cancels {
    /// The next event. `None` only if the listener task is gone (it panicked).
    pub async fn next(&mut self) -> Option<CancelEvent> {
        self.events.recv().await
    }
}

impl futures_core::Stream for Cancels {
    type Item = CancelEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<CancelEvent>> {
        self.events.poll_recv(cx)
    }
}

impl Drop for Cancels {
    fn drop(&mut self) {
        self.listener.abort();
        self.listening.store(false, Ordering::Release);
    }
}

/// What the listener needs of its cluster.
pub(crate) struct Settings {
    pub(crate) config: Config,
    pub(crate) schema: SchemaName,
    pub(crate) instance: String,
    pub(crate) rescan_every: Duration,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) listening: Arc<AtomicBool>,
}

pub(crate) async fn start(mut settings: Settings) -> Result<Cancels, StoreError> {
    if settings
        .listening
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return Err(StoreError::AlreadyListening {
            instance: settings.instance,
        });
    }
    settings
        .config
        .application_name(format!("tm-listen {}", settings.instance));
    let first = match Session::open(&settings).await {
        Ok(session) => session,
        Err(error) => {
            settings.listening.store(false, Ordering::Release);
            return Err(error);
        }
    };
    let (events, receiver) = mpsc::channel(EVENT_BUFFER);
    let listening = Arc::clone(&settings.listening);
    let listener = tokio::spawn(Listener { settings, events }.run(first));
    Ok(Cancels {
        events: receiver,
        listener,
        listening,
    })
}

struct Listener {
    settings: Settings,
    events: mpsc::Sender<CancelEvent>,
}

/// Why a session ended.
enum Stop {
    /// The connection failed: reconnect.
    Lost(StoreError),
    /// Nobody reads the stream any more: stop.
    Unwanted,
}

impl Listener {
    async fn run(self, first: Session) {
        let mut session = first;
        let mut reconnects = 0;
        loop {
            let error = match session.serve(&self).await {
                Stop::Lost(error) => error,
                Stop::Unwanted => return,
            };
            drop(session);
            if self.events.send(CancelEvent::Error(error)).await.is_err() {
                return;
            }
            session = match self.reconnect().await {
                Some(session) => session,
                None => return,
            };
            reconnects += 1;
            let back = CancelEvent::Listening { reconnects };
            if self.events.send(back).await.is_err() {
                return;
            }
        }
    }

    /// Reconnects with a doubling backoff, reporting each failed attempt. `None`: nobody
    /// reads the stream any more.
    async fn reconnect(&self) -> Option<Session> {
        let mut delay = self.settings.backoff_initial;
        loop {
            tokio::select! {
                () = sleep(delay) => {}
                () = self.events.closed() => return None,
            }
            match Session::open(&self.settings).await {
                Ok(session) => return Some(session),
                Err(error) => {
                    self.events.send(CancelEvent::Error(error)).await.ok()?;
                    delay = (delay * 2).min(self.settings.backoff_max);
                }
            }
        }
    }
}

/// One listening connection.
struct Session {
    client: Client,
    sql: ListenerStatements,
    /// One `()` per notification; closed when the connection ends.
    notifications: mpsc::UnboundedReceiver<()>,
    driver: JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Session {
    /// Connects and `LISTEN`s on the instance's channel: when this returns, every cancel
    /// committed from now on is notified to this session.
    async fn open(settings: &Settings) -> Result<Session, StoreError> {
        let lost = |e| StoreError::from_client("starting the cancel listener", e);
        let (client, mut connection) = settings
            .config
            .connect(NoTls)
            .await
            .map_err(|e| StoreError::unavailable("connecting the cancel listener", e))?;
        let (notify, notifications) = mpsc::unbounded_channel();
        // The connection is driven here rather than by its own future, which would drop
        // notifications: each one becomes a wake-up of the session.
        let driver = tokio::spawn(async move {
            while let Some(Ok(message)) =
                std::future::poll_fn(|cx| connection.poll_message(cx)).await
            {
                if matches!(message, AsyncMessage::Notification(_)) && notify.send(()).is_err() {
                    return;
                }
            }
        });
        let session_or_error = async {
            let sql = ListenerStatements::prepare(&client, &settings.schema).await?;
            let channel: String = client
                .query_one(&sql.channel, &[&settings.instance])
                .await?
                .get(0);
            Ok::<_, tokio_postgres::Error>((sql, channel))
        }
        .await;
        let (sql, channel) = match session_or_error {
            Ok(found) => found,
            Err(e) => {
                driver.abort();
                return Err(lost(e));
            }
        };
        // The channel is `tm_cancel_` and 32 hex digits (see the schema): an identifier
        // that needs no quoting. Checked anyway, since it is formatted into the statement.
        if !channel
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            driver.abort();
            return Err(StoreError::Corrupt {
                id: None,
                detail: format!("the schema's cancel_channel() gave `{channel}`"),
            });
        }
        if let Err(e) = client.batch_execute(&format!("LISTEN {channel}")).await {
            driver.abort();
            return Err(lost(e));
        }
        Ok(Session {
            client,
            sql,
            notifications,
            driver,
        })
    }

    /// Scans, then scans again on every notification and every backstop period, until the
    /// connection fails or nobody reads the stream.
    async fn serve(&mut self, listener: &Listener) -> Stop {
        // The re-scan: whatever was cancelled while no LISTEN of ours was in place.
        if let Err(stop) = self.scan(listener).await {
            return stop;
        }
        let period = listener.settings.rescan_every;
        let mut backstop = interval_at(Instant::now() + period, period);
        backstop.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                notification = self.notifications.recv() => {
                    if notification.is_none() {
                        return Stop::Lost(self.closed());
                    }
                    // One scan answers every notification received so far.
                    while self.notifications.try_recv().is_ok() {}
                }
                _ = backstop.tick() => {}
                () = listener.events.closed() => return Stop::Unwanted,
            }
            if let Err(stop) = self.scan(listener).await {
                return stop;
            }
        }
    }

    /// Delivers the instance's untaken cancels, oldest first, and marks them taken.
    async fn scan(&self, listener: &Listener) -> Result<(), Stop> {
        let instance = &listener.settings.instance;
        let lost = |e| Stop::Lost(StoreError::from_client("scanning for cancels", e));
        loop {
            let rows = self
                .client
                .query(&self.sql.undelivered, &[instance, &SCAN_BATCH])
                .await
                .map_err(lost)?;
            let mut taken = Vec::with_capacity(rows.len());
            for row in &rows {
                let id = row
                    .try_get::<_, PgId>(0)
                    .map_err(|e| Stop::Lost(corrupt(None, e.to_string())))?;
                taken.push(id);
                let event = match pending_cancel(id.0, row) {
                    Ok(cancel) => CancelEvent::Cancel(cancel),
                    Err(detail) => CancelEvent::Error(corrupt(Some(id.0), detail)),
                };
                listener
                    .events
                    .send(event)
                    .await
                    .map_err(|_| Stop::Unwanted)?;
            }
            if !taken.is_empty() {
                self.client
                    .execute(&self.sql.mark_delivered, &[&taken, instance])
                    .await
                    .map_err(lost)?;
            }
            if (rows.len() as i64) < SCAN_BATCH {
                return Ok(());
            }
        }
    }

    /// The error of a connection found closed (its driver ended).
    fn closed(&self) -> StoreError {
        StoreError::Unavailable {
            during: "listening for cancels",
            detail: "the listening connection was closed".to_owned(),
            source: None,
        }
    }
}

fn pending_cancel(id: TaskId, row: &tokio_postgres::Row) -> Result<PendingCancel, String> {
    let text = |e: tokio_postgres::Error| describe(&e);
    let kind: String = row.try_get(1).map_err(text)?;
    Ok(PendingCancel {
        id,
        reason: decode_reason(
            &kind,
            row.try_get(2).map_err(text)?,
            row.try_get(3).map_err(text)?,
        )?,
        source: decode_source(&row.try_get::<_, String>(4).map_err(text)?)?,
        requested_by: row.try_get(5).map_err(text)?,
        requested_at: row.try_get(6).map_err(text)?,
    })
}

fn corrupt(id: Option<TaskId>, detail: String) -> StoreError {
    StoreError::Corrupt { id, detail }
}
