//! The fixture of the sub-flow tests (`tests/subflows.rs`, `tests/subflow_storm.rs`): a
//! `node` flow whose one step starts children of the same flow from a plan, to any depth,
//! fans in as the plan says, then does what the plan says itself; every step and cleanup
//! writes to one journal.
//!
//! The journal says, for node `a`: "a began" when its step begins, "a dropped" when the
//! step's future is dropped, "a returned" when it returns; "cleanup a began: `reason`" and
//! "cleanup a finished" around its cleanup.

use std::sync::{Arc, Weak};
use std::time::Duration;

use task_manager_core::{
    flow, CancelReason, FanOutError, HasTaskManager, Outcome, Passport, Task, TaskManager,
};

use crate::{Gate, Journal};

/// The manager of the `node` flow.
#[derive(HasTaskManager)]
pub struct Tree {
    /// The tasks.
    pub tasks: TaskManager,
    /// What the steps and cleanups did, in order.
    pub journal: Journal,
    /// Itself: a step has `&self`, and starting a flow takes the `Arc`.
    me: Weak<Tree>,
}

/// What a node does in its step.
#[derive(Clone, Debug)]
pub struct Node {
    /// Its name in the journal.
    pub name: String,
    /// Its children, started from its step.
    pub children: Vec<Node>,
    /// How it waits for them.
    pub fan_in: FanIn,
    /// At most this many children at once (`None`: no limit).
    pub limit: Option<usize>,
    /// What it does after its fan-in (or at once, without children).
    pub then: Then,
    /// Its own timeout, if any.
    pub timeout: Option<Duration>,
    /// Children of the `job` flow it starts after its `node` children, all at once, waited
    /// for with `join_all`: each named, each passing its gate.
    pub jobs: Vec<(String, Gate)>,
}

/// How a node waits for its children.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FanIn {
    /// `join_all`.
    All,
    /// `try_join`.
    Try,
    /// `race`.
    Race,
    /// `join_any`.
    Any,
    /// Starts them and goes on to `then` without waiting (handles detached).
    Leave,
}

/// What a node does last.
#[derive(Clone, Debug)]
pub enum Then {
    /// Returns `Ok` at once.
    Return,
    /// Returns `Err`.
    Fail,
    /// Waits at the gate until opened, then returns `Err`.
    FailAt(Gate),
    /// Waits at the gate until opened, then returns `Ok`.
    Pass(Gate),
    /// Waits at the gate for ever (until stopped).
    Park(Gate),
    /// Sleeps this long on the (paused) clock, then returns `Ok`.
    Sleep(Duration),
}

impl Node {
    /// A node that returns at once, without children.
    pub fn leaf(name: &str) -> Self {
        Node {
            name: name.to_owned(),
            children: Vec::new(),
            fan_in: FanIn::All,
            limit: None,
            then: Then::Return,
            timeout: None,
            jobs: Vec::new(),
        }
    }

    /// This node with `children`, waited for by `fan_in`.
    pub fn with(mut self, fan_in: FanIn, children: Vec<Node>) -> Self {
        self.fan_in = fan_in;
        self.children = children;
        self
    }

    /// This node doing `then` last.
    pub fn then(mut self, then: Then) -> Self {
        self.then = then;
        self
    }

    /// This node's fan-out limited to `limit`.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// This node with its own timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Its passport (with its timeout, if it has one).
    pub fn passport(self) -> Passport<Node> {
        let timeout = self.timeout;
        let passport = Passport::new(self);
        match timeout {
            Some(timeout) => passport.with_timeout(timeout),
            None => passport,
        }
    }
}

/// A node's task.
pub type NodeTask = Task<Node, ()>;

/// What a node's fan-in saw, in the journal's words.
fn fan_in_said(result: Result<String, FanOutError<String, String, ()>>) -> String {
    match result {
        Ok(said) => said,
        Err(error) => format!("error: {error}"),
    }
}

fn endings(outcomes: &[Outcome<String, String, ()>]) -> String {
    outcomes
        .iter()
        .map(|outcome| match outcome.ending() {
            task_manager_core::Ending::Completed(name) => name.clone(),
            other => format!("{other}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[flow(name = node)]
impl Tree {
    #[step(cancel = clean_up)]
    async fn run(&self, task: &mut NodeTask) -> Result<String, String> {
        let node = task.payload().clone();
        self.journal.record(format!("{} began", node.name));
        let _dropped = self.journal.on_drop(format!("{} dropped", node.name));
        if node.fan_in == FanIn::Leave {
            // Started and detached: nobody waits for them in the step.
            for child in &node.children {
                match self
                    .this()
                    .execute_node(task.child(child.clone().passport()))
                {
                    Ok(handle) => handle.detach(),
                    Err(error) => self
                        .journal
                        .record(format!("{} refused: {error}", child.name)),
                }
            }
        } else if !node.children.is_empty() {
            let children = node.children.iter().map(|child| {
                self.this()
                    .execute_node(task.child(child.clone().passport()))
            });
            let fan_out = task.fan_out(children);
            let fan_out = match node.limit {
                Some(limit) => fan_out.limit(limit),
                None => fan_out,
            };
            let said = match node.fan_in {
                FanIn::All => fan_in_said(fan_out.join_all().await.map(|o| endings(o.as_slice()))),
                FanIn::Try => fan_in_said(fan_out.try_join().await.map(|v| v.join(", "))),
                FanIn::Race => fan_in_said(
                    fan_out
                        .race()
                        .await
                        .map(|(i, o)| format!("{i}: {}", endings(&[o]))),
                ),
                FanIn::Any => {
                    fan_in_said(fan_out.join_any().await.map(|(i, v)| format!("{i}: {v}")))
                }
                FanIn::Leave => unreachable!("handled above"),
            };
            self.journal.record(format!("{} fan-in: {said}", node.name));
        }
        if !node.jobs.is_empty() {
            let jobs = node.jobs.iter().map(|job| {
                self.this()
                    .execute_job(task.child(Passport::new(job.clone())))
            });
            let said = fan_in_said(
                task.fan_out(jobs)
                    .join_all()
                    .await
                    .map(|o| endings(o.as_slice())),
            );
            self.journal.record(format!("{} jobs: {said}", node.name));
        }
        match &node.then {
            Then::Return => {}
            Then::FailAt(gate) => {
                gate.pass().await;
                self.journal.record(format!("{} failed", node.name));
                return Err(format!("{} failed", node.name));
            }
            Then::Fail => {
                self.journal.record(format!("{} failed", node.name));
                return Err(format!("{} failed", node.name));
            }
            Then::Pass(gate) => gate.pass().await,
            Then::Park(gate) => gate.park().await,
            Then::Sleep(duration) => tokio::time::sleep(*duration).await,
        }
        self.journal.record(format!("{} returned", node.name));
        Ok(node.name)
    }

    async fn clean_up(&self, task: &mut NodeTask, reason: CancelReason) {
        let name = task.payload().name.clone();
        self.journal
            .record(format!("cleanup {name} began: {}", say(&reason)));
        // A cleanup with an await: a parent's cleanup must not begin before it ends.
        tokio::task::yield_now().await;
        self.journal.record(format!("cleanup {name} finished"));
    }
}

#[flow(name = job)]
impl Tree {
    #[step(cancel = clean_up_job)]
    async fn work(&self, task: &mut Task<(String, Gate)>) -> Result<String, String> {
        let (name, gate) = task.payload().clone();
        self.journal.record(format!("{name} began"));
        gate.pass().await;
        Ok(name)
    }

    async fn clean_up_job(&self, task: &mut Task<(String, Gate)>, reason: CancelReason) {
        let name = task.payload().0.clone();
        self.journal
            .record(format!("cleanup {name} began: {}", say(&reason)));
        self.journal.record(format!("cleanup {name} finished"));
    }
}

/// A reason in the journal's words: a chain of parents as `parent(..)`, without their ids.
pub fn say(reason: &CancelReason) -> String {
    match reason {
        CancelReason::Parent(cause) => format!("parent({})", say(&cause.reason)),
        CancelReason::ParentStepEnded { .. } => "parent step ended".to_owned(),
        CancelReason::SiblingFailed { .. } => "sibling failed".to_owned(),
        CancelReason::RaceLost { .. } => "race lost".to_owned(),
        other => other.to_string(),
    }
}

impl Tree {
    /// An empty tree manager.
    pub fn new() -> Arc<Self> {
        Self::with_manager(TaskManager::new())
    }

    /// A tree on `tasks`.
    pub fn with_manager(tasks: TaskManager) -> Arc<Self> {
        Arc::new_cyclic(|me| Tree {
            tasks,
            journal: Journal::new(),
            me: me.clone(),
        })
    }

    fn this(&self) -> Arc<Tree> {
        self.me
            .upgrade()
            .expect("a step runs while its flow's struct is alive")
    }
}
