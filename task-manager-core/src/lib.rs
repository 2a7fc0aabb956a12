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
//! Limits are per manager: two managers do not share permits.
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
//! [`QueueConfigError`]. A step naming a resource its manager does not have is refused at every
//! submission of its flow ([`SubmitError::UnknownResource`]): the manager only meets its flows
//! then.
//!
//! **Status.** [`TaskManager::status`] says [`TaskState::Queued`] (with the position) or
//! [`TaskState::WaitingForResource`]; [`TaskManager::counts`] counts a flow's queued and running
//! tasks.
//!
//! The contract, and what each piece guarantees, is in the crate's README.

#![doc(html_no_source)]
#![deny(missing_docs)]

mod cancel;
mod error;
mod flow;
mod handle;
mod id;
mod manager;
mod outcome;
mod passport;
mod queue;
mod reason;
mod registry;
mod report;
mod scope;
mod shared;
mod submit;
mod task;

#[doc(hidden)]
pub mod __private;

pub use cancel::{CancelAll, CancelFinished, CancelStatus, Cancellation, Cleanup, CleanupError};
pub use error::SubmitError;
pub use flow::FlowInfo;
pub use handle::TaskHandle;
pub use id::{ParseTaskIdError, TaskId};
pub use manager::{HasTaskManager, TaskManager, TaskState, TaskStatus};
pub use outcome::{Ending, Outcome, TaskError};
pub use passport::Passport;
pub use queue::{FlowCounts, Limit, LimitOf, QueueConfigError, TaskManagerBuilder};
pub use reason::CancelReason;
pub use report::{Report, StepEnd, StepRecord};
pub use task::{CancelSignal, Cancelled, Task};

pub use task_manager_macros::{flow, step, HasTaskManager};
