//! The context every step and cleanup of a task receives.

mod events;
mod fanout;

pub use fanout::{FanOut, FanOutError};

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::family::Family;
use crate::id::TaskId;
use crate::passport::{Link, Passport};
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

    /// Makes `passport` the passport of a child of this task: submit it with the child flow's
    /// ordinary `execute_<flow>`, from this task's step. The child is a task like any other
    /// (its own id, status, report, cleanups and events, cancellable by id), and besides:
    ///
    /// * cancelling this task (by id, timeout, dropped handle, shutdown) cancels the child
    ///   with [`CancelReason::Parent`](crate::CancelReason::Parent), and the child's cleanups
    ///   finish before this task's step cleanup starts;
    /// * the child never outlives the step that started it: when the step ends (returns,
    ///   fails, panics, is stopped) while the child runs, the runner cancels the child
    ///   ([`CancelReason::ParentStepEnded`](crate::CancelReason::ParentStepEnded), or
    ///   `Parent` if this task was cancelled) and waits for it to end before going on;
    /// * its deadline is at most this task's: if its own is later (or it has none), it ends
    ///   when this task's deadline passes, cancelled with a `Parent` reason whose cause is `Timeout`.
    ///
    /// A child started while this task is being cancelled is cancelled at once. Submitting
    /// the passport once this task has ended is refused with
    /// [`SubmitError::ParentEnded`](crate::SubmitError::ParentEnded).
    ///
    /// A step has `&self`, and `execute_<flow>` takes the `Arc` of its struct: keep the
    /// child flows on a struct held in an `Arc` field, sharing the manager (a clone of a
    /// `TaskManager` shares its registry), or, for a flow of the same struct, keep a `Weak`
    /// of it (`Arc::new_cyclic`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use task_manager_core::{flow, HasTaskManager, Passport, Task, TaskManager};
    ///
    /// #[derive(HasTaskManager)]
    /// struct Shards { tasks: TaskManager }
    ///
    /// #[flow(name = shard)]
    /// impl Shards {
    ///     #[step]
    ///     async fn query(&self, task: &mut Task<u32>) -> Result<u32, String> { Ok(*task.payload() * 10) }
    /// }
    ///
    /// #[derive(HasTaskManager)]
    /// struct Reports { tasks: TaskManager, shards: Arc<Shards> }
    ///
    /// #[flow(name = report)]
    /// impl Reports {
    ///     #[step]
    ///     async fn fan_out(&self, task: &mut Task<Vec<u32>>) -> Result<Vec<u32>, String> {
    ///         let plan = task.payload().clone();
    ///         let children = plan.into_iter().map(|s| self.shards.execute_shard(task.child(Passport::new(s))));
    ///         task.fan_out(children).limit(2).try_join().await.map_err(|e| e.to_string())
    ///     }
    /// }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let tasks = TaskManager::new();
    /// let shards = Arc::new(Shards { tasks: tasks.clone() });
    /// let reports = Arc::new(Reports { tasks, shards });
    /// let outcome = reports.execute_report(Passport::new(vec![1, 2, 3])).unwrap().await;
    /// assert_eq!(outcome.into_result().unwrap(), vec![10, 20, 30]);
    /// # }
    /// ```
    pub fn child<C>(&self, mut passport: Passport<C>) -> Passport<C> {
        let shared = &self.shared;
        if !shared.has_family() {
            shared.family_or_root(|| {
                let timeout = self.passport.timeout().or(shared.flow().timeout());
                let deadline =
                    timeout.and_then(|timeout| shared.live().submitted_at.checked_add(timeout));
                Family::root(self.id(), deadline)
            });
        }
        passport.set_parent(Link(Arc::clone(&self.shared) as _));
        // The explorer's arming goes on to the children: their await points are the tree's.
        #[cfg(feature = "testing")]
        if let (None, Some(armed)) = (passport.armed(), self.passport.armed()) {
            passport.set_armed(armed.clone());
        }
        passport
    }

    /// The ids of this task's children that have not ended yet.
    pub fn children(&self) -> Vec<TaskId> {
        self.shared
            .family()
            .map(|family| family.children_ids())
            .unwrap_or_default()
    }

    /// This task's parent, if it is a child ([`child`](Self::child)).
    pub fn parent(&self) -> Option<TaskId> {
        self.shared.family().and_then(|family| family.parent_id())
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
