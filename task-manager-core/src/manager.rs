//! The registry of running tasks and the ways to reach them by id.

use std::fmt;
use std::sync::Arc;

use crate::cancel::{CancelAll, Cancellation};
use crate::id::TaskId;
use crate::observe::{AddonSet, FlowStep, Progress};
use crate::queue::{FlowCounts, Queues};
use crate::reason::CancelStatus;
use crate::reason::{CancelReason, CancelSource};
use crate::registry::Registry;
use crate::shared::TaskShared;

/// Holds every running task of the flows of one manager struct, by id.
///
/// Put one in your struct, derive [`HasTaskManager`](macro@crate::HasTaskManager), and every
/// `#[flow]` on that struct registers its tasks here. Cloning is cheap and shares the
/// registry, so a clone can be handed to whoever needs to cancel.
///
/// ```
/// use task_manager_core::{TaskManager, TaskId, CancelStatus};
///
/// let tasks = TaskManager::new();
/// assert!(tasks.is_empty());
/// assert_eq!(tasks.status(TaskId::new()), None);
/// assert_eq!(tasks.cancel(TaskId::new(), "no such task").status(), CancelStatus::NotFound);
/// ```
#[derive(Clone)]
pub struct TaskManager {
    pub(crate) registry: Arc<Registry>,
    /// The add-ons every task of this manager tells its events to; `None` if there are none.
    pub(crate) addons: Option<Arc<AddonSet>>,
}

/// Where a running task is, as seen by [`TaskManager::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskStatus {
    /// The flow the task runs.
    pub flow: &'static str,
    /// The step in progress (or waiting for its resource): `None` before the first step has
    /// begun (while queued, too).
    pub step: Option<&'static str>,
    /// The index of that step in the flow (0-based).
    pub step_index: Option<usize>,
    /// What the task is doing.
    pub state: TaskState,
    /// The last progress a step reported ([`Task::set_progress`](crate::Task::set_progress)).
    pub progress: Option<Progress>,
}

impl TaskStatus {
    /// The step in progress as flow `S`'s generated step enum; `None` before the first step
    /// or if the task is of another flow.
    ///
    /// ```
    /// # use task_manager_core::*;
    /// # #[derive(HasTaskManager)] struct Queries { tasks: TaskManager }
    /// # #[flow(name = query)]
    /// # impl Queries {
    /// #     #[step] async fn prepare(&self, _t: &mut Task) -> Result<(), std::io::Error> { Ok(()) }
    /// #     #[step] async fn send(&self, _t: &mut Task) -> Result<(), std::io::Error> { Ok(()) }
    /// # }
    /// # fn demo(queries: &Queries, id: TaskId) {
    /// if let Some(QueryStep::Send) = queries.tasks.status(id).and_then(|s| s.step_as::<QueryStep>()) {
    ///     println!("{id} is waiting for the server");
    /// }
    /// # }
    /// ```
    pub fn step_as<S: FlowStep>(&self) -> Option<S> {
        if self.flow != S::FLOW {
            return None;
        }
        S::from_index(self.step_index?)
    }
}

/// The state of a running task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskState {
    /// Running its steps.
    Running,
    /// A cancel took effect; the task is stopping (its cleanup may be running).
    Cancelling,
    /// Its ending is decided, not by a cancel, and it is on its way out: a step panicked and
    /// that step's cleanup is running, or its last step returned and it is sealing its outcome.
    /// A cancel now changes nothing ([`CancelStatus::AlreadyFinished`](crate::CancelStatus)).
    Finishing,
    /// Waiting in its flow's queue for admission (queue add-on); no step has begun.
    Queued {
        /// How many queued tasks will be admitted before it, as of now (0: it is next). A
        /// later task of higher priority can push it back.
        position: usize,
    },
    /// Admitted, and waiting for a permit of the resource its next step needs (queue
    /// add-on); that step (in [`TaskStatus::step`]) has not begun.
    WaitingForResource {
        /// The resource's name.
        resource: &'static str,
    },
}

impl TaskManager {
    /// An empty manager, without limits (a flow's own `#[flow(limit = ..)]` still applies).
    pub fn new() -> Self {
        TaskManager {
            registry: Arc::new(Registry::new()),
            addons: None,
        }
    }

    /// A manager with the queue add-on's lines and resources, and `addons`: what
    /// [`TaskManagerBuilder::build`](crate::TaskManagerBuilder::build) makes once it has
    /// checked them.
    pub(crate) fn with_parts(queues: Queues, addons: Option<Arc<AddonSet>>) -> Self {
        TaskManager {
            registry: Arc::new(Registry::with_queues(queues)),
            addons,
        }
    }

    /// Cancels the running task `id`: the step in progress stops at once, its cleanup runs
    /// with `reason`, and no later step starts. Returns at once with what the request found;
    /// await the answer to wait for the cleanup.
    ///
    /// ```
    /// # use task_manager_core::*;
    /// # async fn demo(tasks: &TaskManager, id: TaskId) {
    /// match tasks.cancel(id, "user left").await {
    ///     Some(cleanup) => println!("task {id} stopped: {cleanup:?}"),
    ///     None => println!("task {id} was not running"),
    /// }
    /// # }
    /// ```
    pub fn cancel(&self, id: TaskId, reason: impl Into<CancelReason>) -> Cancellation {
        match self.registry.get(id) {
            Some(task) => {
                let status = task
                    .cell()
                    .request_cancel_by(reason.into(), CancelSource::Request);
                self.note_if_abandoned(&task, status);
                Cancellation::new(id, status, Some(task))
            }
            None => Cancellation::new(id, CancelStatus::NotFound, None),
        }
    }

    /// Cancels every running task with `reason`.
    pub fn cancel_all(&self, reason: impl Into<CancelReason>) -> CancelAll {
        self.cancel_all_by(reason.into(), CancelSource::CancelAll)
    }

    /// Cancels every running task with `reason`, on behalf of `source` (`cancel_all`, or
    /// the manager's shutdown).
    pub(crate) fn cancel_all_by(&self, reason: CancelReason, source: CancelSource) -> CancelAll {
        let mut found: Vec<(TaskId, Arc<TaskShared>)> = Vec::new();
        // Collect first, cancel after: waking tasks while holding a shard lock would make them
        // contend for it on the way out.
        self.registry
            .for_each(|id, task| found.push((id, Arc::clone(task))));
        let cancellations = found
            .into_iter()
            .map(|(id, task)| {
                let status = task.cell().request_cancel_by(reason.clone(), source);
                self.note_if_abandoned(&task, status);
                Cancellation::new(id, status, Some(task))
            })
            .collect();
        CancelAll { cancellations }
    }

    /// A cancel that took effect on a task waiting in one of this manager's lines tells the
    /// lines, so that a full line gives the task's place away at once (queue add-on).
    fn note_if_abandoned(&self, task: &TaskShared, status: CancelStatus) {
        if status == CancelStatus::Requested && task.is_waiting() {
            self.registry.queues.abandonments().note();
        }
    }

    /// Where the running task `id` is; `None` if no running task has that id. A queued task
    /// is "running" in this sense (registered, cancellable): its state says it is queued.
    pub fn status(&self, id: TaskId) -> Option<TaskStatus> {
        self.registry
            .get(id)
            .map(|task| status_of(&task, &self.registry))
    }

    /// How many tasks of flow `flow` are queued and running on this manager, now. It visits
    /// every registered task (a status call, not a hot-path one).
    ///
    /// ```
    /// # use task_manager_core::TaskManager;
    /// let tasks = TaskManager::new();
    /// let counts = tasks.counts("query");
    /// assert_eq!((counts.queued, counts.running), (0, 0));
    /// ```
    pub fn counts(&self, flow: &str) -> FlowCounts {
        let mut counts = FlowCounts::default();
        self.registry.for_each(|_, task| {
            if task.flow().name() != flow {
                return;
            }
            match state_of(task) {
                Seen::Queued => counts.queued += 1,
                Seen::WaitingForResource(_) => {
                    counts.running += 1;
                    counts.waiting_for_resource += 1;
                }
                // Cancelled while queued, on its way out: it gave up its place already.
                Seen::Cancelling if task.step().is_none() && task.is_waiting() => {}
                Seen::Running | Seen::Cancelling | Seen::Finishing => counts.running += 1,
            }
        });
        counts
    }

    /// The ids of all running tasks (a snapshot).
    pub fn running_ids(&self) -> Vec<TaskId> {
        let mut ids = Vec::new();
        self.registry.for_each(|id, _| ids.push(id));
        ids
    }

    /// Whether a task with this id is running.
    pub fn contains(&self, id: TaskId) -> bool {
        self.registry.get(id).is_some()
    }

    /// How many tasks are running.
    pub fn len(&self) -> usize {
        self.registry.len()
    }

    /// Whether no task is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub(crate) fn status_of(task: &TaskShared, registry: &Registry) -> TaskStatus {
    let flow = task.flow();
    let step_index = task.step();
    let state = match state_of(task) {
        Seen::Running => TaskState::Running,
        Seen::Cancelling => TaskState::Cancelling,
        Seen::Finishing => TaskState::Finishing,
        Seen::WaitingForResource(resource) => TaskState::WaitingForResource { resource },
        Seen::Queued => registry
            .queues
            .with_line(flow, |line| line.queue.position_of(task))
            .flatten()
            // Admitted between the two looks.
            .map_or(TaskState::Running, |position| TaskState::Queued {
                position,
            }),
    };
    TaskStatus {
        flow: flow.name(),
        step: step_index.map(|index| flow.step_name(index)),
        step_index,
        state,
        progress: task.cell().progress(),
    }
}

/// A task's state as its shared flags say, without its queue position.
enum Seen {
    Running,
    Cancelling,
    Finishing,
    Queued,
    WaitingForResource(&'static str),
}

fn state_of(task: &TaskShared) -> Seen {
    if task.cell().is_cancel_requested() {
        return Seen::Cancelling;
    }
    if task.cell().is_sealed() {
        return Seen::Finishing;
    }
    if !task.is_waiting() {
        return Seen::Running;
    }
    match task.step() {
        None => Seen::Queued,
        Some(index) => match task.flow().step_resource(index) {
            Some(resource) => Seen::WaitingForResource(resource),
            None => Seen::Running,
        },
    }
}

impl Default for TaskManager {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for TaskManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskManager")
            .field("running", &self.len())
            .finish()
    }
}

/// Implemented by a struct that holds a [`TaskManager`]: it tells the struct's `#[flow]`s
/// where to register their tasks. Derive it rather than writing it:
///
/// ```
/// use task_manager_core::{HasTaskManager, TaskManager};
///
/// #[derive(HasTaskManager)]
/// struct Queries {
///     tasks: TaskManager,   // found by its type; mark it `#[task_manager]` if there are several
///     endpoint: String,
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no `TaskManager` to register tasks in",
    label = "`{Self}` does not implement `HasTaskManager`",
    note = "a `#[flow]` impl block registers its tasks in its type's `TaskManager`: give the type a field `tasks: TaskManager` and `#[derive(HasTaskManager)]`",
    note = "a field marked `#[task_manager]` must be a `TaskManager` (or a type that itself derives `HasTaskManager`)"
)]
pub trait HasTaskManager {
    /// The manager that registers this struct's tasks.
    fn task_manager(&self) -> &TaskManager;
}

impl HasTaskManager for TaskManager {
    fn task_manager(&self) -> &TaskManager {
        self
    }
}
