//! Where tasks are, computed from the registry: one task ([`TaskManager::status`]), every
//! task at once ([`TaskManager::snapshot`]), and one flow's counts ([`TaskManager::counts`]).
//! Each reads the task's cell and shared flags, and the queue's position for a queued task;
//! nothing here is on a task's path.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::id::TaskId;
use crate::manager::TaskManager;
use crate::observe::{FlowStep, Progress};
use crate::registry::Registry;
use crate::shared::TaskShared;

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
    /// The task's parent, if it is a child ([`Task::child`](crate::Task::child)); its
    /// children are in [`TaskManager::children`] and [`TaskManager::tree`].
    pub parent: Option<TaskId>,
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
}

impl TaskManager {
    /// The ids of the running task `id`'s children that have not ended, oldest first (see
    /// [`Task::child`](crate::Task::child)); empty for a task without children or an unknown id.
    pub fn children(&self, id: TaskId) -> Vec<TaskId> {
        let Some(task) = self.registry.get(id) else {
            return Vec::new();
        };
        let mut children: Vec<(TaskId, Option<Instant>)> = task
            .family()
            .map(|family| family.children_ids())
            .unwrap_or_default()
            .into_iter()
            .map(|child| {
                let at = self.registry.get(child).map(|c| c.live().submitted_at);
                (child, at)
            })
            .collect();
        children.sort_by_key(|(child, at)| (*at, *child));
        children.into_iter().map(|(child, _)| child).collect()
    }

    /// The running task `id` with its descendants, as a tree: its status and, for each child
    /// that has not ended, the same, oldest first. `None` for an unknown id. A task that
    /// starts or ends meanwhile may or may not be in it.
    ///
    /// ```
    /// # use task_manager_core::{TaskManager, TaskId};
    /// let tasks = TaskManager::new();
    /// assert!(tasks.tree(TaskId::new()).is_none());
    /// ```
    pub fn tree(&self, id: TaskId) -> Option<TaskTree> {
        let status = self.status(id)?;
        let children = self
            .children(id)
            .into_iter()
            .filter_map(|child| self.tree(child))
            .collect();
        Some(TaskTree {
            id,
            status,
            children,
        })
    }
}

/// A running task and its descendants, as [`TaskManager::tree`] saw them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskTree {
    /// The task.
    pub id: TaskId,
    /// Its status.
    pub status: TaskStatus,
    /// Its children that had not ended, oldest first, each with its own.
    pub children: Vec<TaskTree>,
}

/// One running task as [`TaskManager::snapshot`] saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskSnapshot {
    /// The task.
    pub id: TaskId,
    /// Its flow, state, step and progress, as [`TaskManager::status`] gives them.
    pub status: TaskStatus,
    /// Time since it was submitted (tokio's clock: a paused test clock stands still).
    pub elapsed: Duration,
}

impl TaskManager {
    /// Every running task's id, flow, state, current step, age and progress, oldest first.
    ///
    /// It locks one registry shard at a time to copy the tasks out, then reads each task's
    /// status; a task that starts or ends meanwhile may or may not be listed. Meant for
    /// dashboards and debugging endpoints: it allocates, so do not call it per task.
    ///
    /// ```
    /// # use task_manager_core::TaskManager;
    /// # let tasks = TaskManager::new();
    /// for task in tasks.snapshot() {
    ///     println!("{task}");  // id, flow, state, step, age, progress on one line
    /// }
    /// ```
    pub fn snapshot(&self) -> Vec<TaskSnapshot> {
        let mut found: Vec<(TaskId, Arc<TaskShared>)> = Vec::new();
        // Copy out first: reading a task's status under a shard lock would nest its locks
        // inside the shard's.
        self.registry
            .for_each(|id, task| found.push((id, Arc::clone(task))));
        found.sort_by_key(|(_, task)| task.live().submitted_at);
        let now = Instant::now();
        found
            .into_iter()
            .map(|(id, task)| TaskSnapshot {
                id,
                status: status_of(&task, &self.registry),
                elapsed: now.saturating_duration_since(task.live().submitted_at),
            })
            .collect()
    }
}

impl fmt::Display for TaskSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = &self.status;
        write!(f, "{} {} {:?}", self.id, status.flow, status.state)?;
        match (status.step, status.step_index) {
            (Some(step), Some(index)) => write!(f, " at step {index} `{step}`")?,
            _ => f.write_str(" before its first step")?,
        }
        write!(f, ", {:?} old", self.elapsed)?;
        if let Some(parent) = status.parent {
            write!(f, ", child of {parent}")?;
        }
        if let Some(progress) = status.progress {
            write!(f, ", progress {progress}")?;
        }
        Ok(())
    }
}

/// The tasks of one flow on one manager, by state, as counted by
/// [`TaskManager::counts`](crate::TaskManager::counts).
///
/// ```
/// use task_manager_core::{FlowCounts, TaskManager};
///
/// let tasks = TaskManager::new();
/// assert_eq!(tasks.counts("query"), FlowCounts::default());
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct FlowCounts {
    /// Waiting in the flow's queue for admission (not yet started). Cancelled tasks on their
    /// way out are not counted.
    pub queued: usize,
    /// Admitted and not yet ended: running a step, between steps, waiting for a step's
    /// resource, or being cancelled.
    pub running: usize,
    /// Of the running ones, those waiting for a step's resource.
    pub waiting_for_resource: usize,
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
        parent: task.family().and_then(|family| family.parent_id()),
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
