//! The fixture of the `queue_*` tests: jobs a test releases one by one, the flows under test,
//! counters of what runs at once, a way to let the runtime run until everything is blocked,
//! and the few lines most tests begin and end with ([`Jobs::with_work_limit`],
//! [`Jobs::submit`], [`all_complete`], ...). The steps and cleanups write to a [`Journal`];
//! waits are bounded by [`soon`](crate::soon).
//!
//! Every queue test runs on a current-thread runtime with tokio's clock paused, which jumps
//! ahead only when every task is blocked: [`settle`] is therefore "run everything that can
//! run".

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{flow, CancelReason, HasTaskManager, Task, TaskManager};
use tokio::sync::oneshot;

use crate::Journal;

mod shortcuts;
pub use shortcuts::{all_complete, Execute, JobHandle};

/// Lets every task that can run, run, until all are blocked. The paused clock moves the 1 ms
/// only once the runtime has nothing else to do; no step here sleeps for less.
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// What a job's step does once it has begun.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    Succeed,
    Fail,
    Panic,
}

/// The payload of the test flows: a name, and optionally a release the step waits for.
pub struct Job {
    pub name: String,
    release: Option<oneshot::Receiver<()>>,
    pause: Duration,
    yields: u32,
    then: Then,
}

/// Lets a gated job's step finish.
pub struct Release(oneshot::Sender<()>);

impl Release {
    pub fn release(self) {
        let _ = self.0.send(());
    }
}

/// A job that runs straight through.
pub fn job(name: &str) -> Job {
    Job {
        name: name.to_string(),
        release: None,
        pause: Duration::ZERO,
        yields: 0,
        then: Then::Succeed,
    }
}

/// A job whose step waits inside until released (dropping the release lets it go on too).
pub fn gated(name: &str) -> (Job, Release) {
    gated_then(name, Then::Succeed)
}

/// A gated job that ends as `then` says once released.
pub fn gated_then(name: &str, then: Then) -> (Job, Release) {
    let (sender, receiver) = oneshot::channel();
    (
        Job {
            release: Some(receiver),
            then,
            ..job(name)
        },
        Release(sender),
    )
}

impl Job {
    /// The step pauses this long (on the paused clock) before it ends.
    pub fn pausing(mut self, pause: Duration) -> Self {
        self.pause = pause;
        self
    }

    /// The step yields to the runtime this many times before it ends.
    pub fn yielding(mut self, yields: u32) -> Self {
        self.yields = yields;
        self
    }

    /// The step ends as `then` says.
    pub fn then(mut self, then: Then) -> Self {
        self.then = then;
        self
    }

    async fn hold(&mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.await;
        }
        if !self.pause.is_zero() {
            tokio::time::sleep(self.pause).await;
        }
        for _ in 0..self.yields {
            tokio::task::yield_now().await;
        }
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("job {0} failed")]
pub struct JobFailed(pub String);

pub type JobTask = Task<Job>;

/// The manager of the test flows, with counters of what runs at once.
#[derive(HasTaskManager)]
pub struct Jobs {
    pub tasks: TaskManager,
    pub journal: Journal,
    /// Tasks of `work` between the start and the end of their step.
    pub working: Gauge,
    /// `store` steps in progress plus `store` cleanups in progress: the users of "db".
    pub in_db: Gauge,
}

impl Jobs {
    pub fn new(tasks: TaskManager) -> Arc<Self> {
        Arc::new(Jobs {
            tasks,
            journal: Journal::default(),
            working: Gauge::default(),
            in_db: Gauge::default(),
        })
    }
}

/// `work`: one step, limited by the builder in the tests that want it.
#[flow(name = work)]
impl Jobs {
    #[step(cancel = undo_work)]
    async fn work(&self, task: &mut JobTask) -> Result<String, JobFailed> {
        let name = task.payload().name.clone();
        let _working = self.working.enter();
        self.journal.record(format!("start {name}"));
        task.payload_mut().hold().await;
        self.journal.record(format!("end {name}"));
        match task.payload().then {
            Then::Succeed => Ok(name),
            Then::Fail => Err(JobFailed(name)),
            Then::Panic => panic!("job {name} panicked"),
        }
    }

    async fn undo_work(&self, task: &mut JobTask, reason: CancelReason) {
        self.journal
            .record(format!("cleanup {} ({reason})", task.payload().name));
    }
}

/// `solo`: limited by its own declaration, one at a time, two may wait.
#[flow(name = solo, limit = 1, queue = 2)]
impl Jobs {
    #[step(cancel = undo_solo)]
    async fn solo(&self, task: &mut JobTask) -> Result<String, JobFailed> {
        let name = task.payload().name.clone();
        self.journal.record(format!("start {name}"));
        task.payload_mut().hold().await;
        Ok(name)
    }

    async fn undo_solo(&self, task: &mut JobTask, reason: CancelReason) {
        self.journal
            .record(format!("cleanup {} ({reason})", task.payload().name));
    }
}

/// `save`: a free first step, then a step that needs the "db" resource, then a free step.
#[flow(name = save)]
impl Jobs {
    #[step]
    async fn load(&self, task: &mut JobTask) -> Result<(), JobFailed> {
        self.journal.record(format!("load {}", task.payload().name));
        Ok(())
    }

    #[step(cancel = undo_store, resource = "db")]
    async fn store(&self, task: &mut JobTask) -> Result<(), JobFailed> {
        let name = task.payload().name.clone();
        let _in_db = self.in_db.enter();
        self.journal.record(format!("store {name}"));
        task.payload_mut().hold().await;
        match task.payload().then {
            Then::Succeed => Ok(()),
            Then::Fail => Err(JobFailed(name)),
            Then::Panic => panic!("job {name} panicked in store"),
        }
    }

    #[step]
    async fn notify(&self, task: &mut JobTask) -> Result<String, JobFailed> {
        let name = task.payload().name.clone();
        self.journal.record(format!("notify {name}"));
        Ok(name)
    }

    async fn undo_store(&self, task: &mut JobTask, reason: CancelReason) {
        // The cleanup still talks to the database: it counts as a user of "db".
        let _in_db = self.in_db.enter();
        self.journal
            .record(format!("cleanup {} ({reason})", task.payload().name));
        tokio::time::sleep(Duration::from_millis(10)).await;
        self.journal
            .record(format!("cleaned {}", task.payload().name));
    }
}

/// `fetch`: a single step, which needs the "db" resource.
#[flow(name = fetch)]
impl Jobs {
    #[step(cancel = undo_fetch, resource = "db")]
    async fn fetch(&self, task: &mut JobTask) -> Result<String, JobFailed> {
        let name = task.payload().name.clone();
        let _in_db = self.in_db.enter();
        self.journal.record(format!("fetch {name}"));
        task.payload_mut().hold().await;
        Ok(name)
    }

    async fn undo_fetch(&self, task: &mut JobTask, reason: CancelReason) {
        self.journal
            .record(format!("cleanup {} ({reason})", task.payload().name));
    }
}

/// How many are inside, and the most ever inside at once.
#[derive(Default)]
pub struct Gauge {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl Gauge {
    pub fn enter(&self) -> GaugeGuard<'_> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        GaugeGuard(self)
    }

    pub fn now(&self) -> usize {
        self.now.load(Ordering::SeqCst)
    }

    pub fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }
}

pub struct GaugeGuard<'a>(&'a Gauge);

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}
