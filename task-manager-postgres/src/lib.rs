//! The PostgreSQL store of a task-manager cluster: task records shared by every instance,
//! cancels decided atomically with the tasks' own endings, and their delivery to the
//! instance that runs the task.
//!
//! [`PgCluster`] implements core's [`Cluster`](task_manager_core::Cluster) seam: a manager
//! built with `TaskManager::builder().cluster(cluster)` reserves its tasks' ids here
//! (`submit_in_cluster`), writes their records, claims their own endings here against every
//! instance's cancels, and applies the cancels decided here (`cancel_in_cluster`, from any
//! instance) to its running tasks. How each call is served: `src/cluster.rs`. The store
//! underneath can also be used directly:
//!
//! * **Joining.** [`PgCluster::connect`]`(url).instance("api-1").await` parses the URL,
//!   connects, creates or migrates the schema and prepares the statements. Each failure is
//!   a typed [`ConnectError`]: a malformed URL, an unreachable server, refused credentials,
//!   a schema migrated by a newer version of this crate.
//! * **Task records**, one row per task: id, flow, owning instance, state, step, progress,
//!   the winning cancel's reason, source and requester, times, how it ended and what its
//!   cleanup did. Written at submission ([`PgCluster::insert`]: an id is unique across the
//!   cluster), at step boundaries ([`PgCluster::begin_step`]), and at the end
//!   ([`PgCluster::seal`], [`PgCluster::record_ending`]); read from any instance
//!   ([`PgCluster::status`], [`PgCluster::list`]; through a manager, core's
//!   `TaskManager::status_in_cluster` and `snapshot_in_cluster`, served by `src/status.rs`);
//!   finished ones purged after a configurable
//!   time ([`PgCluster::purge_finished`]).
//! * **Cancel from any instance.** [`PgCluster::request_cancel`] answers `Requested`,
//!   `AlreadyRequested`, `AlreadyFinished` or `NotFound`, decided by one conditional update
//!   of the task's row against the owner's own seal: exactly one of them wins, as with
//!   core's in-process phase byte.
//! * **Delivery** of each winning cancel to the owning instance ([`PgCluster::listen`],
//!   [`Cancels`]): `LISTEN`/`NOTIFY` on a channel per instance, a re-scan of the instance's
//!   undelivered cancels after every (re)connect of the listening connection and
//!   periodically, reconnection with backoff, typed errors while the server is down.
//! * **Cluster-wide limits** (a manager's flow limits and step resources,
//!   `Cluster::enter_line`): one line per limit in the store, shared by every instance:
//!   see "Cluster-wide limits" below and [`PgCluster::line`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use task_manager_core::{CancelReason, CancelSource, CancelStatus, TaskId};
//! use task_manager_postgres::{CancelEvent, NewTask, PgCluster};
//!
//! let url = std::env::var("TM_DATABASE_URL")?;
//! let a = PgCluster::connect(&url).instance("api-1").await?;
//! let b = PgCluster::connect(&url).instance("api-2").await?;
//! let mut cancels_of_a = a.listen().await?;
//!
//! let id = TaskId::new();
//! a.insert(NewTask::new(id, "query")).await?;
//! let answer = b.request_cancel(id, &CancelReason::from("user left"), CancelSource::Request).await?;
//! assert_eq!(answer, CancelStatus::Requested);
//!
//! if let Some(CancelEvent::Cancel(cancel)) = cancels_of_a.next().await {
//!     assert_eq!((cancel.id, cancel.requested_by.as_str()), (id, "api-2"));
//! }
//! # Ok(()) }
//! ```
//!
//! # The schema
//! Created and migrated by [`PgCluster::connect`] in its own schema (`task_manager` unless
//! [`Connect::schema`] says otherwise): `schema_migrations` (the versions applied) and
//! `tasks`. Migrating is one transaction under an advisory lock on the schema's name, so
//! instances starting together migrate once; a schema at a newer version than this crate
//! knows is refused ([`ConnectError::SchemaTooNew`]). Every statement takes its values as
//! parameters; the schema's name, checked to be a plain identifier, is the only text
//! formatted into SQL.
//!
//! Cluster-wide lines add `lines` (each line's permits and capacity), `line_entries` (who
//! holds and who waits, with the arrival sequence `line_arrivals`) and the functions that
//! enter, leave and grant (`src/admission.sql`).
//!
//! # Cluster-wide limits
//! A manager built with a `PgCluster` (unless [`Connect::limits_per_instance`]) keeps every
//! limit and resource it declares in the store: the builder's `limit_flow`, `limit_all` and
//! `resource`, and a flow's own `#[flow(limit)]`, each one line (`flow:NAME`, `all`,
//! `resource:NAME`) for every instance. The rules are the in-process ones: higher priority
//! first, then arrival order across the cluster; at most `capacity` waiting, a newcomer
//! beyond that refused (`SubmitError::QueueFull` from `submit_in_cluster`, which makes the
//! flow's entry before it returns); the max wait counted from submission; a task cancelled
//! while it waits (from any instance) leaves the line and runs nothing. Each operation on a
//! line is one call of a function that first locks the line's row, so that the instances'
//! operations on one line are serialised: two instances taking the last permit at once are
//! served one after the other, and the second waits. A released permit goes to the first
//! live waiter in the releaser's own transaction, and a `NOTIFY` on the waiter's instance's
//! channel wakes it; every [`Connect::recheck_lines_every`] (default 1 s) and after every
//! reconnection, an instance with waiting tasks runs the grant of their lines again and
//! reads what was granted, since a `NOTIFY` is lost while its connection is down.
//!
//! **A dead instance's permits come back: session-scoped, not leased.** Each instance holds
//! a session-level advisory lock (its presence, a random key) on its admission connection,
//! and each of its entries names that key. PostgreSQL releases the lock when the connection
//! ends, also when the process is killed (its socket closes); from then on its entries are
//! dead, and the next re-check of their line by an instance that waits in it (every
//! `recheck_lines_every`), or an entry that finds the line full, deletes them and hands
//! their permits on. A lease would need each holder to renew its rows every
//! period, and would keep a dead holder's permits until the lease ran out; the presence lock
//! costs nothing while all is well and frees at once. Its price, which a lease pays too once
//! it expires: an instance cut from the server (its admission connection lost while it
//! runs) loses its entries once another instance reaps them, and a task of it already
//! running keeps running while its permit may be handed to another, so the limit can be
//! exceeded until it ends. It takes the same key again on reconnecting, so entries not yet
//! reaped live on; a waiting task whose entry was reaped takes its place again, at the back.
//!
//! # Text
//! Ids are `uuid`s. Cancel reasons, failure and panic messages are user text of any
//! content: they are stored as `bytea` (their UTF-8 bytes), because PostgreSQL's `text`
//! cannot hold a NUL character and an escape scheme would have to be known by every reader.
//! Names (instance, flow, step) are `text`: a NUL in one is refused with a typed error.
//!
//! # Why tokio-postgres
//! The client is [`tokio_postgres`] rather than sqlx 0.8. Its `rust-version` (1.85) is the
//! workspace's, declared and kept (sqlx 0.8 declares none); it builds no proc macros, no
//! query checker and no pool, so it adds little to a build on small machines; it pipelines
//! concurrent statements on one connection, which is all a store of short single-row
//! statements needs; and its `Connection::poll_message` hands the listener both the
//! notifications and the end of its connection, so that the listener owns the order that
//! matters: `LISTEN`, then the re-scan, on each new connection. (sqlx's `PgListener` could
//! do this too, through `try_recv`, which reports a lost connection; it was not needed.)
//! TLS is not supported yet (`NoTls`).

mod admission;
mod claim;
mod cluster;
mod connect;
mod error;
mod id;
mod lease;
mod link;
mod listen;
mod owner;
mod reason;
mod record;
mod recover;
mod schema;
mod sql;
mod status;
mod store;

pub use admission::LineCounts;
pub use claim::ClaimedTask;
pub use connect::{Connect, Instance, NoInstance};
pub use error::{ConnectError, StoreError};
pub use lease::LeaseRenewal;
pub use listen::{CancelEvent, Cancels, PendingCancel};
pub use record::{
    CancelRecord, CleanupRecord, CompensationRecord, Ended, EndingRecord, Listing, NewTask, Seal,
    TaskRecord, TaskState,
};
pub use store::PgCluster;
