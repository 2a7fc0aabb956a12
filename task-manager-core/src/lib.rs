//! # task-manager
//!
//! Long, multi-step async workflows on tokio that can be cancelled at any moment, cleanly.
//!
//! Write an ordinary `impl` block; `#[flow]` on the block and `#[step]` on its async methods
//! turn it into a task that:
//! - runs the steps in order, each step's `Ok` output feeding the next step's input, the last
//!   one's output being the task's result;
//! - gives every step and cleanup `&mut` access to the task's typed runtime info;
//! - is registered under its id, so that anyone holding the id can cancel it: the step in
//!   progress stops at once, its own cleanup runs (exactly once), no later step starts;
//! - is cancelled the same way by its deadline and when its handle is dropped.
//!
//! ```
//! use std::sync::Arc;
//! use task_manager_core::{flow, CancelReason, HasTaskManager, Passport, Task, TaskManager};
//!
//! #[derive(Default)]
//! struct QueryInfo { server_request_id: Option<u32> }
//!
//! #[derive(HasTaskManager)]
//! struct Queries { tasks: TaskManager }
//!
//! #[flow(name = query)]
//! impl Queries {
//!     #[step(cancel = abort_prepare)]
//!     async fn prepare(&self, task: &mut Task<&'static str, QueryInfo>) -> Result<String, std::io::Error> {
//!         Ok(format!("prepared {}", task.payload()))
//!     }
//!
//!     #[step(cancel = abort_send)]
//!     async fn send(&self, task: &mut Task<&'static str, QueryInfo>, sql: String) -> Result<usize, std::io::Error> {
//!         task.info_mut().server_request_id = Some(7);
//!         Ok(sql.len())
//!     }
//!
//!     async fn abort_prepare(&self, _task: &mut Task<&'static str, QueryInfo>, _reason: CancelReason) {}
//!
//!     async fn abort_send(&self, task: &mut Task<&'static str, QueryInfo>, _reason: CancelReason) {
//!         let _ = task.info().server_request_id; // tell the server to drop that request
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let queries = Arc::new(Queries { tasks: TaskManager::new() });
//! let passport = Passport::new("SELECT 1");
//! let id = passport.id();                         // anyone with the id can cancel the task
//! let handle = queries.execute_query(passport)?;  // the task starts now
//! let outcome = handle.await;
//! assert_eq!(outcome.report().info.server_request_id, Some(7));
//! assert_eq!(outcome.into_result()?, "prepared SELECT 1".len());
//! assert!(!queries.tasks.contains(id));
//! # Ok(()) }
//! ```
//!
//! # The types you meet first
//!
//! [`TaskManager`] (in your struct, with `#[derive(HasTaskManager)]`), [`Passport`] (what
//! you submit: payload, id, deadline), [`Task`] (what a step receives), [`TaskHandle`] (what
//! `execute_*` returns; await it for the [`Outcome`]: its [`Ending`] and its [`Report`]),
//! [`Cancellation`] (what [`TaskManager::cancel`] answers: a [`CancelStatus`] at once, and a
//! future of the [`Cleanup`]), and [`CancelReason`]. The rest is for status
//! ([`TaskStatus`], [`TaskManager::snapshot`]), observation ([`Addon`], [`TaskEvent`]), the
//! queue add-on ([`Limit`], [`TaskManagerBuilder`]) and shutdown ([`ShutdownReport`]).
//!
//! # The queue add-on
//!
//! When the work is scarce (a database, a GPU), limit it. Nothing below costs anything to a
//! flow that does not use it.
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use task_manager_core::{flow, HasTaskManager, Limit, Passport, Task, TaskManager, TaskState};
//!
//! #[derive(HasTaskManager)]
//! struct Reports { tasks: TaskManager }
//!
//! #[flow(name = report, limit = 1, queue = 100, max_wait = "30s")]   // one at a time
//! impl Reports {
//!     #[step]
//!     async fn gather(&self, task: &mut Task<u32>) -> Result<u32, std::io::Error> { Ok(*task.payload()) }
//!
//!     #[step(resource = "db")]                 // waits for one of the manager's "db" permits
//!     async fn store(&self, _task: &mut Task<u32>, rows: u32) -> Result<u32, std::io::Error> { Ok(rows) }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let tasks = TaskManager::builder()
//!     .limit_flow("report", Limit::new(2).with_max_wait(Duration::from_secs(5)))  // replaces `limit = 1`
//!     .resource("db", 4)
//!     .build()?;
//! let reports = Arc::new(Reports { tasks });
//! let first = reports.execute_report(Passport::new(1))?;
//! let second = reports.execute_report(Passport::new(2))?;
//! let urgent = Passport::new(3).with_priority(10);
//! let id = urgent.id();
//! let third = reports.execute_report(urgent)?;
//! assert_eq!(reports.tasks.status(id).map(|s| s.state), Some(TaskState::Queued { position: 0 }));
//! assert_eq!(reports.tasks.counts("report").queued, 1);
//! assert_eq!(first.await.into_result()? + second.await.into_result()? + third.await.into_result()?, 6);
//! # Ok(()) }
//! ```
//!
//! **Configuration.** A flow's own limit is declared with `#[flow(limit = N, queue = C,
//! max_wait = "..")]`; a manager's builder can set or replace it by flow name
//! ([`TaskManagerBuilder::limit_flow`]), or give one line to every flow without a limit of its
//! own ([`TaskManagerBuilder::limit_all`]). Resources are named and sized on the builder
//! ([`TaskManagerBuilder::resource`]) and claimed by steps (`#[step(resource = "db")]`).
//! Limits are per manager: two managers do not share permits, unless they are instances of
//! one cluster whose store shares limits ([`Cluster::shares_limits`], as
//! `task-manager-postgres` does by default): then every limit and resource declared for a
//! clustered manager is one line in the store for all its instances. The builder also takes the
//! manager's cleanup deadline ([`TaskManagerBuilder::cleanup_timeout`]); everything it is
//! given is checked at `build`.
//!
//! **Order.** A task takes its place in line when it is submitted (synchronously, inside
//! `execute_*`), so that start order is submission order, not the order in which the runtime
//! first polls the tasks. Higher [`Passport::with_priority`] goes first; equal priorities go in
//! submission order. A freed permit is handed straight to the first live waiter: nobody
//! overtakes a waiting task.
//!
//! **Starvation.** Priorities are strict, and there is deliberately no aging: under a
//! sustained stream of higher-priority work a low-priority task waits. Aging would make "higher
//! goes first" false in ways that are hard to predict, and a wait that must end has better
//! tools: the limit's max wait ([`Limit::with_max_wait`]) refuses it after a bounded time with
//! [`CancelReason::QueueWaitExceeded`], and its deadline still runs. Bound the queue
//! ([`Limit::with_queue_capacity`], default [`Limit::DEFAULT_QUEUE_CAPACITY`]) so that a backlog
//! turns into refusals ([`SubmitError::QueueFull`]) rather than into endless waits.
//!
//! **Cancelled while queued.** The task gives up its place at once: it is skipped when a
//! permit frees, no longer counted in positions, and a full queue makes room by dropping it
//! before refusing anyone. None of its steps or cleanups runs; it ends
//! [`Ending::Cancelled`] with `step: None, steps_completed: 0` and its report's cleanup is
//! [`Cleanup::NoStepInProgress`] ("cancelled before it started").
//!
//! **Cancelled while waiting for a resource.** The step that waits has not begun, so its
//! cleanup does not run: the task ends `Cancelled { step: None, steps_completed: k }` (the
//! `k` steps before it completed), exactly as a cancel between two steps. `step: Some(..)`
//! keeps its one meaning: a step that was interrupted and cleaned up.
//!
//! **Permits are guards.** A task's permit is held from admission to its end, a step's
//! resource permit from the step's start to its end, or, if the step is stopped (cancel,
//! timeout, panic), to the end of its cleanup, which may still be using the resource. Both are
//! released on every path, the runtime dropping the task included.
//!
//! **Time.** A task's deadline (the flow's `timeout` or the passport's) counts from
//! submission, time spent queued included; so does the max wait. A task whose deadline passes
//! while queued ends `Cancelled { reason: Timeout, step: None, .. }`.
//!
//! **Errors.** A full queue refuses at submission ([`SubmitError::QueueFull`]). A wait over the
//! max wait ends the task with [`CancelReason::QueueWaitExceeded`] in its outcome (via
//! [`TaskError::is_queue_wait_exceeded`]). Zero permits, a zero capacity or a zero max wait do
//! not compile in `#[flow]`, and are refused by [`TaskManagerBuilder::build`] with a
//! [`ConfigError`]. A step naming a resource its manager does not have is refused at every
//! submission of its flow ([`SubmitError::UnknownResource`]): the manager only meets its flows
//! then.
//!
//! **Shutdown.** A queued task, or one whose step waits for a resource, is registered like
//! any other: [`TaskManager::shutdown`] cancels it, it leaves its line at once and ends
//! `Cancelled { reason: Shutdown, step: None, .. }` with nothing to clean up.
//!
//! **Status.** [`TaskManager::status`] (and [`TaskManager::snapshot`], for every task at once)
//! says [`TaskState::Queued`] (with the position) or [`TaskState::WaitingForResource`];
//! [`TaskManager::counts`] counts a flow's queued and running tasks.
//!
//! **Events.** Add-ons ([`TaskManagerBuilder::addon`]) hear the queue act: [`EventKind::Queued`]
//! when a task has to wait for its flow's limit (a task admitted at once is not queued; one
//! cancelled in its queue never gets [`EventKind::Started`]), and
//! [`EventKind::WaitingForResource`] when a step has to wait for a permit. A wait over the max
//! wait is told as a cancel by [`CancelSource::MaxWait`].
//!
//! # Many instances
//!
//! A manager built with [`TaskManagerBuilder::cluster`] is one instance of a cluster whose
//! store implements [`Cluster`] (the `task-manager-postgres` crate's `PgCluster` does, on
//! PostgreSQL). It takes tasks through [`TaskManager::submit_in_cluster`], which refuses an id
//! any instance has; any instance cancels them with [`TaskManager::cancel_in_cluster`], decided
//! in the store; and a task that reaches its own ending claims it in the store first, so that
//! a cancel from another instance that won there ends it cancelled. If the store shares
//! limits ([`Cluster::shares_limits`]), the manager's limits and resources are the cluster's:
//! a flow's line and a step's resource are lines of the store, with the queue add-on's
//! rules, across every instance (see [`TaskManagerBuilder::cluster`]). Every instance's tasks
//! are read from the store's records with [`TaskManager::status_in_cluster`] and
//! [`TaskManager::snapshot_in_cluster`] ([`TaskManager::status`] and
//! [`TaskManager::snapshot`] stay this instance's). A manager without a
//! cluster is unchanged. What stays local is listed in [`Cluster`]'s docs and the workspace
//! README ("Many instances").
//!
//! An instance that loses its place in the cluster (its store's lease expired) abandons its
//! tasks ([`CancelDelivery::abandon_all`]: they end [`Ending::Abandoned`], no cleanup runs
//! there), and another instance takes them over. A flow with
//! `#[flow(on_owner_lost = cancel)]` (feature `cluster-state`: its payload and runtime info
//! implement serde's traits) persists them at each step boundary and generates
//! `register_<flow>`: an instance that registered the service runs the interrupted step's
//! cleanup of the tasks it takes over, with [`CancelReason::OwnerLost`]. With
//! `#[flow(on_owner_lost = resume)]` each boundary also persists the input of the step that
//! begins (serde too), and that instance then runs the interrupted step again from it and
//! goes on with the task ([`CancelDelivery::resume`]): a step may begin more than once, its
//! cleanup runs once per interrupted attempt, and a step that completed never runs again.
//! See the workspace README ("When an instance dies").
//!
//! The contract, and what each piece guarantees, is in the crate's README.
//!
//! With the `testing` feature (for your tests), the `testing` module has the cancellation
//! explorer: it cancels one of your flows at each of its await points in turn and checks the
//! contract at each.

#![doc(html_no_source)]
#![deny(missing_docs)]

mod alarms;
mod builder;
mod cancel;
mod cell;
mod checks;
mod cleanup;
mod cluster;
mod cluster_cancellation;
mod clustered;
mod clustered_outcome;
mod clustered_status;
mod compensation;
mod error;
mod family;
mod flow;
mod handle;
mod id;
mod limit;
mod manager;
mod observe;
mod outcome;
mod passport;
mod queue;
mod reason;
mod registry;
mod report;
mod retry;
mod run;
mod shared;
mod shutdown;
mod status;
mod sync;
mod task;
mod watch;

#[cfg(feature = "testing")]
pub mod testing;

#[doc(hidden)]
pub mod __private;

pub use builder::TaskManagerBuilder;
pub use cancel::{CancelAll, Cancellation};
pub use cleanup::{Cleanup, CleanupError};
pub use cluster::{
    CancelDelivery, Cluster, ClusterCancelRecord, ClusterEnding, ClusterFuture, ClusterPermit,
    ClusterSeal, ClusterState, ClusterTaskEnded, ClusterTaskState, ClusterTaskStatus, Delivered,
    EndedAs, Entered, LineEntry, LostTask, OutcomeRecord, RecordedCleanup, RecordedCompensation,
    Recovered, SealedAs, Sealing,
};
pub use cluster_cancellation::ClusterCancellation;
pub use clustered_outcome::{ClusterOutcome, OutcomeError, OutcomeErrorKind};
pub use compensation::Compensation;
pub use error::{ClusterError, ClusterErrorKind, ConfigError, SubmitError};
pub use family::DescendantCleanup;
pub use flow::StepRef;
pub use handle::TaskHandle;
pub use id::{ParseTaskIdError, TaskId};
pub use limit::{Limit, LimitOf};
pub use manager::{HasTaskManager, TaskManager};
pub use observe::{Addon, EventKind, FlowStep, Progress, TaskEvent};
pub use outcome::{Ending, Outcome, TaskEnd, TaskError};
pub use passport::Passport;
pub use reason::{CancelError, CancelReason, CancelSource, CancelStatus, ParentCancel};
pub use report::{Attempt, Report, StepEnd, StepRecord, Steps};
pub use retry::{Jitter, Retry};
pub use shutdown::{ShutdownReport, UnfinishedTask};
pub use status::{FlowCounts, TaskSnapshot, TaskState, TaskStatus, TaskTree};
pub use task::{CancelSignal, Cancelled, FanOut, FanOutError, Task};

/// Turns an `impl` block into a flow: its `#[step]` methods run in order as one task, each
/// step's `Ok` value feeding the next, and anyone holding the task's id can cancel it, which
/// stops the step in progress and runs that step's cleanup.
///
/// ```
/// use std::sync::Arc;
/// use task_manager_core::{flow, CancelReason, HasTaskManager, Passport, Task, TaskManager};
///
/// #[derive(Default)]
/// struct UploadInfo {
///     parts_sent: usize,
/// }
///
/// type UploadTask = Task<Vec<u8>, UploadInfo>;
///
/// #[derive(HasTaskManager)]
/// struct Uploads {
///     tasks: TaskManager,
/// }
///
/// #[flow(name = upload, timeout = "10m")]
/// impl Uploads {
///     #[step]
///     async fn split(&self, task: &mut UploadTask) -> std::io::Result<Vec<Vec<u8>>> {
///         Ok(task.payload().chunks(4).map(<[u8]>::to_vec).collect())
///     }
///
///     #[step(cancel = abort_send)]
///     async fn send(&self, task: &mut UploadTask, parts: Vec<Vec<u8>>) -> std::io::Result<usize> {
///         for _part in &parts {
///             tokio::task::yield_now().await; // a cancel stops the step at an await
///             task.info_mut().parts_sent += 1;
///         }
///         Ok(parts.len())
///     }
///
///     async fn abort_send(&self, task: &mut UploadTask, reason: CancelReason) {
///         println!("{} parts to delete ({reason})", task.info().parts_sent);
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let uploads = Arc::new(Uploads { tasks: TaskManager::new() });
/// let outcome = uploads.execute_upload(Passport::new(b"hello, world".to_vec()))?.await;
/// assert_eq!(outcome.report().info.parts_sent, 3);
/// assert_eq!(outcome.into_result()?, 3);
/// # Ok(()) }
/// ```
///
/// # Mistakes
///
/// A misuse is reported at compile time on the token at fault, with the rule and the fix,
/// every one in the same build. The repository's `tests/ui` holds the whole catalogue;
/// for instance a step whose input is not the previous step's output,
///
/// ```compile_fail
/// # use std::convert::Infallible;
/// # use task_manager_core::{flow, HasTaskManager, Task, TaskManager};
/// # struct Payload;
/// # #[derive(HasTaskManager)] struct Queries { tasks: TaskManager }
/// #[flow(name = query)]
/// impl Queries {
///     #[step]
///     async fn prepare(&self, task: &mut Task) -> Result<String, Infallible> {
///         Ok(String::new())
///     }
///
///     #[step]
///     async fn send(&self, task: &mut Task, payload: Payload) -> Result<(), Infallible> {
///         Ok(())
///     }
/// }
/// # fn main() {}
/// ```
///
/// is told, on `Payload`: "this step takes `Payload`, but the step before it returns
/// `String`", with the note "a step's input parameter receives the `Ok` value of the step
/// before it: make this parameter `String`, or make the step before return
/// `Result<Payload, _>`".
///
#[doc = include_str!("../docs/flow_expansion.md")]
///
pub use task_manager_macros::flow;

/// Marks a method of a [`#[flow]`](macro@flow) block as a step, with its cleanup if it has
/// one: `#[step(cancel = cleanup_method)]`.
///
/// The cleanup runs, exactly once, when the step is interrupted after it began: by a
/// cancel, by the deadline, or by a panic in the step. It gets the task (with what the step
/// wrote into its runtime info) and the reason.
///
/// ```
/// use std::sync::Arc;
/// use tokio::sync::oneshot;
/// use task_manager_core::{flow, CancelReason, Cleanup, Ending, HasTaskManager, Passport, Task, TaskManager};
///
/// #[derive(Default)]
/// struct QueryInfo {
///     server_request_id: Option<u32>,
/// }
///
/// /// The payload tells the caller when the query is on the server.
/// type QueryTask = Task<Option<oneshot::Sender<()>>, QueryInfo>;
///
/// #[derive(HasTaskManager)]
/// struct Queries {
///     tasks: TaskManager,
/// }
///
/// #[flow(name = query)]
/// impl Queries {
///     #[step(cancel = abort_send)]
///     async fn send(&self, task: &mut QueryTask) -> Result<u32, std::io::Error> {
///         task.info_mut().server_request_id = Some(17);
///         if let Some(sent) = task.payload_mut().take() {
///             let _ = sent.send(());
///         }
///         std::future::pending::<()>().await; // a long query
///         Ok(0)
///     }
///
///     async fn abort_send(&self, task: &mut QueryTask, reason: CancelReason) {
///         // Tell the server to drop request 17.
///         assert_eq!(task.info().server_request_id, Some(17));
///         assert_eq!(reason, CancelReason::from("user left"));
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let queries = Arc::new(Queries { tasks: TaskManager::new() });
/// let (sent, on_server) = oneshot::channel();
/// let passport = Passport::new(Some(sent));
/// let id = passport.id();
/// let handle = queries.execute_query(passport)?;
/// on_server.await?; // the step has begun
///
/// let cleanup = queries.tasks.cancel(id, "user left").await;
/// assert!(matches!(cleanup, Some(Cleanup::Completed { step: "send", .. })));
/// let outcome = handle.await;
/// assert!(matches!(outcome.ending(), Ending::Cancelled { step: Some("send"), .. }));
/// # Ok(()) }
/// ```
///
/// # Policies
///
/// * `timeout = "2s"`: each attempt of the step has this time limit, counted from its first
///   poll. At the limit the attempt's future is dropped, the step's cleanup runs with
///   [`CancelReason::StepTimeout`], and the task ends [`Ending::TimedOut`] (unless `retry`
///   retries it). The flow's own deadline and cancels stop the step as they would without it.
/// * `retry = policy_fn`, with `fn policy_fn() -> Retry<E>` (`E` the step's error type, which
///   must implement `Display`; the step's input must be `Clone`, as each attempt gets its
///   own): a failed attempt whose error the [`Retry`] policy accepts (or a timed-out one) is
///   followed, after the policy's wait, by another, until one succeeds, the attempts or the
///   time budget run out, or an error is permanent. Attempts never overlap: the next begins
///   after the previous one's future was dropped and, if it timed out, its cleanup finished.
///   A cancel during the wait ends the task at once, with no cleanup (no attempt is in
///   progress). [`Report::attempts`] lists every attempt of a step that was retried, and
///   [`EventKind::StepRetrying`] tells each retry.
///   A panicked attempt is retried only if the policy says
///   [`retry_panics(true)`](Retry::retry_panics). The policy function is called at the step's
///   first failure (a step that never fails never builds its policy).
/// * On a step with `resource = ".."`, each attempt waits for a permit and holds it until it
///   ends (its cleanup included); the wait between two attempts holds none.
/// * [`Passport::with_step_timeout`] gives one task's timed step another limit.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use task_manager_core::{flow, Ending, HasTaskManager, Passport, Retry, Task, TaskManager};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("the bank is unavailable")]
/// struct Unavailable;
///
/// fn retries() -> Retry<Unavailable> {
///     Retry::attempts(3).fixed(Duration::from_millis(100))
/// }
///
/// #[derive(HasTaskManager)]
/// struct Bank {
///     tasks: TaskManager,
///     calls: std::sync::atomic::AtomicU32,
/// }
///
/// #[flow(name = pay)]
/// impl Bank {
///     #[step(timeout = "2s", retry = retries)]
///     async fn charge(&self, _task: &mut Task) -> Result<u32, Unavailable> {
///         let call = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
///         if call < 2 { Err(Unavailable) } else { Ok(call) }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let bank = Arc::new(Bank { tasks: TaskManager::new(), calls: Default::default() });
/// let outcome = bank.execute_pay(Passport::new(())).unwrap().await;
/// assert_eq!(outcome.report().attempts().len(), 3);
/// assert!(matches!(outcome.ending(), Ending::Completed(2)));
/// # }
/// ```
///
pub use task_manager_macros::step;

/// Derives [`HasTaskManager`](trait@HasTaskManager): the struct's flows register their
/// tasks in its `TaskManager` field.
///
/// ```
/// use task_manager_core::{HasTaskManager, TaskManager};
///
/// #[derive(HasTaskManager)]
/// struct Queries {
///     #[task_manager] // the flows' manager; needed because there are two
///     queries: TaskManager,
///     maintenance: TaskManager,
/// }
///
/// let queries = Queries { queries: TaskManager::new(), maintenance: TaskManager::new() };
/// assert!(queries.task_manager().is_empty());
/// # let _ = queries.maintenance;
/// ```
///
pub use task_manager_macros::HasTaskManager;
