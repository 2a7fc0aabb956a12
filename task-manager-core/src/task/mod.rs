//! The context every step and cleanup of a task receives.

mod events;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::id::TaskId;
use crate::passport::Passport;
use crate::shared::TaskShared;

/// The context of one running task, handed by `&mut` to each of its steps and cleanups in
/// turn: the passport (`P` is its payload type) and the runtime info (`R`), which the steps
/// read and write without locks, since steps of one task never run at once.
///
/// ```
/// use task_manager_core::{Task, TaskId};
///
/// #[derive(Default, Debug, PartialEq)]
/// struct QueryInfo { server_request_id: Option<String> }
///
/// async fn prepare(task: &mut Task<&'static str, QueryInfo>) -> usize {
///     if task.is_cancelled() { return 0; }
///     task.info_mut().server_request_id = Some("r-17".into());
///     task.payload().len()
/// }
/// # let _ = prepare;
/// ```
pub struct Task<P = (), R = ()> {
    passport: Passport<P>,
    info: R,
    shared: Arc<TaskShared>,
}

impl<P, R> Task<P, R> {
    pub(crate) fn new(passport: Passport<P>, info: R, shared: Arc<TaskShared>) -> Self {
        Task {
            passport,
            info,
            shared,
        }
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.passport.id()
    }

    /// The name of the flow this task runs.
    pub fn flow_name(&self) -> &'static str {
        self.shared.flow().name()
    }

    /// The passport the task was started with.
    pub fn passport(&self) -> &Passport<P> {
        &self.passport
    }

    /// The passport's payload.
    pub fn payload(&self) -> &P {
        self.passport.payload()
    }

    /// The passport's payload, mutably (a step may take what it needs out of it).
    pub fn payload_mut(&mut self) -> &mut P {
        self.passport.payload_mut()
    }

    /// The runtime info written so far.
    pub fn info(&self) -> &R {
        &self.info
    }

    /// The runtime info, to write: later steps, the cleanup and the outcome's report see it.
    pub fn info_mut(&mut self) -> &mut R {
        &mut self.info
    }

    /// Whether a cancel has been requested (a non-blocking check, for work that stops itself).
    pub fn is_cancelled(&self) -> bool {
        self.shared.cell().is_cancel_requested()
    }

    /// Completes when a cancel is requested. A step is stopped at its next await anyway; this
    /// is for work inside a step that must notice by itself (`select!` in a sub-operation).
    pub fn cancelled(&self) -> Cancelled {
        self.signal().cancelled()
    }

    /// A handle on this task's cancel signal to give to a sub-operation: a spawned task, or a
    /// blocking loop on another thread (`spawn_blocking`), which checks it between units of work.
    pub fn signal(&self) -> CancelSignal {
        CancelSignal {
            shared: Arc::clone(&self.shared),
        }
    }

    pub(crate) fn shared(&self) -> &TaskShared {
        &self.shared
    }

    pub(crate) fn into_info(self) -> R {
        self.info
    }
}

impl<P: fmt::Debug, R: fmt::Debug> fmt::Debug for Task<P, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id())
            .field("flow", &self.flow_name())
            .field("payload", self.payload())
            .field("info", &self.info)
            .finish()
    }
}

/// One task's cancel signal, detached from the task context so that it can move to another
/// thread or task. Cheap to clone.
///
/// ```
/// # use task_manager_core::CancelSignal;
/// fn crunch(signal: CancelSignal, chunks: &[Vec<u8>]) -> Option<usize> {
///     let mut total = 0;
///     for chunk in chunks {
///         if signal.is_cancelled() {
///             return None;          // stop between two units of blocking work
///         }
///         total += chunk.len();
///     }
///     Some(total)
/// }
/// # let _ = crunch;
/// ```
#[derive(Clone)]
pub struct CancelSignal {
    shared: Arc<TaskShared>,
}

impl CancelSignal {
    /// Whether a cancel has been requested.
    pub fn is_cancelled(&self) -> bool {
        self.shared.cell().is_cancel_requested()
    }

    /// Completes when a cancel is requested (at once if one already was).
    pub fn cancelled(&self) -> Cancelled {
        Cancelled {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl fmt::Debug for CancelSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelSignal")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// Completes when the task's cancel is requested; see [`Task::cancelled`].
#[must_use = "futures do nothing unless awaited"]
pub struct Cancelled {
    shared: Arc<TaskShared>,
}

impl Future for Cancelled {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.shared.cell().poll_cancel_requested(cx)
    }
}

impl fmt::Debug for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cancelled")
    }
}
