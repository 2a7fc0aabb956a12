//! The soak: many tasks through one flow, 10% cancelled mid-step, 1% panicking, with a
//! bounded number in flight. `examples/soak.rs` runs it for millions of tasks and prints the
//! RSS; `tests/soak.rs` runs a short one and checks that nothing is left behind.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use task_manager_core::{
    flow, CancelReason, Ending, HasTaskManager, Passport, SubmitError, Task, TaskManager,
};
use tokio::sync::oneshot;

use crate::panics::PLANNED;

/// What a soak task does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Runs both steps to the end.
    Completes,
    /// Waits in its second step until the driver cancels it.
    Cancelled,
    /// Panics in its second step.
    Panics,
}

impl Kind {
    /// The kind of the `n`-th task: 1% panic, 10% are cancelled, the rest complete.
    pub fn of(n: u64) -> Kind {
        if n % 100 == 7 {
            Kind::Panics
        } else if n % 10 == 3 {
            Kind::Cancelled
        } else {
            Kind::Completes
        }
    }
}

/// A soak task's payload.
#[derive(Debug)]
pub struct Payload {
    /// The task's number.
    pub n: u64,
    /// What it does.
    pub kind: Kind,
    /// Told when a `Cancelled` task has reached its second step, so that the cancel lands
    /// while a step is in progress.
    pub reached: Option<oneshot::Sender<()>>,
}

impl Payload {
    /// A payload with no one to tell.
    pub fn new(n: u64, kind: Kind) -> Self {
        Payload {
            n,
            kind,
            reached: None,
        }
    }
}

/// A soak task's runtime info: what was reserved, and what the cleanup released.
#[derive(Debug, Default)]
pub struct Info {
    /// Written by the first step.
    pub reserved: Option<u64>,
    /// Written by the cleanup, from what it saw of `reserved`.
    pub released: Option<Option<u64>>,
}

type SoakTask = Task<Payload, Info>;

/// The soak's manager struct.
#[derive(HasTaskManager)]
pub struct Soak {
    /// Its tasks.
    pub tasks: TaskManager,
    /// How many cleanups ran.
    pub cleanups: AtomicU64,
}

impl Soak {
    /// A soak with a fresh manager.
    pub fn new() -> Arc<Self> {
        Arc::new(Soak {
            tasks: TaskManager::new(),
            cleanups: AtomicU64::new(0),
        })
    }
}

#[flow(name = soak)]
impl Soak {
    #[step(cancel = release)]
    async fn reserve(&self, task: &mut SoakTask) -> Result<u64, Infallible> {
        tokio::task::yield_now().await;
        let n = task.payload().n;
        task.info_mut().reserved = Some(n);
        Ok(n)
    }

    #[step(cancel = release)]
    async fn work(&self, task: &mut SoakTask, reserved: u64) -> Result<u64, Infallible> {
        match task.payload().kind {
            Kind::Completes => tokio::task::yield_now().await,
            Kind::Panics => panic!("{PLANNED}: soak task {reserved}"),
            Kind::Cancelled => {
                if let Some(reached) = task.payload_mut().reached.take() {
                    let _ = reached.send(());
                }
                // Long enough that only the cancel ends it.
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
        }
        Ok(reserved * 2)
    }

    async fn release(&self, task: &mut SoakTask, _reason: CancelReason) {
        task.info_mut().released = Some(task.info().reserved);
        self.cleanups.fetch_add(1, Ordering::Relaxed);
    }
}

/// How to run a soak.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// How many tasks.
    pub tasks: u64,
    /// How many at once, at most.
    pub in_flight: usize,
    /// Call the progress callback after this many have ended.
    pub report_every: u64,
}

/// How the soak's tasks ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Submitted.
    pub submitted: u64,
    /// Ended completed.
    pub completed: u64,
    /// Ended cancelled.
    pub cancelled: u64,
    /// Ended panicked.
    pub panicked: u64,
    /// Ended any other way, or with the wrong kind of ending for their `Kind`: always 0
    /// unless something is wrong.
    pub wrong: u64,
}

impl Counts {
    /// How many tasks have ended.
    pub fn ended(&self) -> u64 {
        self.completed + self.cancelled + self.panicked + self.wrong
    }
}

/// Runs `config.tasks` tasks of the soak flow, calling `progress` every
/// `config.report_every` endings.
///
/// # Errors
/// A submission refused (it never is, unless the manager is shut down).
pub async fn run(
    soak: &Arc<Soak>,
    config: Config,
    mut progress: impl FnMut(&Counts),
) -> Result<Counts, SubmitError> {
    let mut counts = Counts::default();
    let mut in_flight = FuturesUnordered::new();
    let mut tally = |counts: &mut Counts, (kind, ending): (Kind, Ending<u64, Infallible>)| {
        match (kind, ending) {
            (Kind::Completes, Ending::Completed(_)) => counts.completed += 1,
            (Kind::Cancelled, Ending::Cancelled { .. }) => counts.cancelled += 1,
            (Kind::Panics, Ending::Panicked { .. }) => counts.panicked += 1,
            _ => counts.wrong += 1,
        }
        if counts.ended() % config.report_every == 0 {
            progress(counts);
        }
    };
    for n in 0..config.tasks {
        while in_flight.len() >= config.in_flight {
            if let Some(ended) = in_flight.next().await {
                tally(&mut counts, ended);
            }
        }
        let kind = Kind::of(n);
        let mut payload = Payload::new(n, kind);
        let reached = (kind == Kind::Cancelled).then(|| {
            let (tell, reached) = oneshot::channel();
            payload.reached = Some(tell);
            reached
        });
        let handle = soak.execute_soak(Passport::new(payload))?;
        counts.submitted += 1;
        let tasks = soak.tasks.clone();
        in_flight.push(async move {
            if let Some(reached) = reached {
                let _ = reached.await;
                tasks.cancel(handle.id(), "soak: cancelled mid-step");
            }
            let (ending, _) = handle.await.into_parts();
            (kind, ending)
        });
    }
    while let Some(ended) = in_flight.next().await {
        tally(&mut counts, ended);
    }
    Ok(counts)
}

/// The process's resident set size in bytes, from `/proc/self/statm` (Linux; 4 KiB pages).
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident_pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(resident_pages * 4096)
}
