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
//! The contract, and what each piece guarantees, is in the crate's README.
//!
//! With the `testing` feature (for your tests), the `testing` module has the cancellation
//! explorer: it cancels one of your flows at each of its await points in turn and checks the
//! contract at each.

#![doc(html_no_source)]
#![deny(missing_docs)]

mod cancel;
mod cleanup_deadline;
mod error;
mod flow;
mod handle;
mod id;
mod limits;
mod manager;
mod outcome;
mod passport;
mod probe;
mod reason;
mod registry;
mod report;
mod scope;
mod shared;
mod shutdown;
mod submit;
mod sync;
mod task;

#[cfg(feature = "testing")]
pub mod testing;

#[doc(hidden)]
pub mod __private;

pub use cancel::{
    CancelAll, CancelError, CancelFinished, CancelStatus, Cancellation, Cleanup, CleanupError,
};
pub use error::{ConfigError, SubmitError};
pub use flow::FlowInfo;
pub use handle::TaskHandle;
pub use id::{ParseTaskIdError, TaskId};
pub use manager::{HasTaskManager, TaskManager, TaskState, TaskStatus};
pub use outcome::{Ending, Outcome, TaskError};
pub use passport::Passport;
pub use reason::CancelReason;
pub use report::{Report, StepEnd, StepRecord};
pub use shutdown::{ShutdownReport, UnfinishedTask};
pub use task::{CancelSignal, Cancelled, Task};

pub use task_manager_macros::{flow, step, HasTaskManager};
