//! Baseline (b), "token+registry": the obvious hand-written design. Each task gets a
//! `CancellationToken` raced in a biased `select!` on every step, and is findable by id
//! through a `Mutex<HashMap<u64, CancellationToken>>` registry fed by an atomic counter.

use std::future::{pending, Future};
use std::mem::size_of_val;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::contender::{Canceller, Contender, Parker};
use crate::contenders::registry::{self, CancelHandle};
use crate::probe::Probe;
use crate::steps::{step, Steps};

/// The running tasks, by id (shared with the tuned baseline).
pub type Registry = registry::Registry<CancellationToken>;

impl CancelHandle for CancellationToken {
    fn cancel(&self) {
        CancellationToken::cancel(self);
    }
}

/// The step's cleanup (the library's `cancel = undo`): nothing to undo in the benchmark.
async fn undo() {}

/// Why a flow stopped early.
#[derive(Debug)]
pub struct Cancelled;

/// The flow body, also used by the queue scenario.
pub async fn cancellable_flow(
    registry: Arc<Registry>,
    id: u64,
    token: CancellationToken,
    steps: usize,
) -> Result<u64, Cancelled> {
    let mut value = 0;
    for _ in 0..steps {
        value = tokio::select! {
            biased;
            () = token.cancelled() => {
                undo().await;
                registry.deregister(id);
                return Err(Cancelled);
            }
            next = step(value) => next,
        };
    }
    registry.deregister(id);
    Ok(value)
}

/// [`cancellable_flow`] with a time limit on each step, as its user would write it: each step
/// inside `tokio::time::timeout`, the cleanup run when it expires
/// (`TM_BENCH_TOKEN_POLICY=timeout`: the hand-written cost of the library's
/// `#[step(timeout = "60s")]`, see `benches/instructions.sh`).
pub async fn cancellable_timed_flow(
    registry: Arc<Registry>,
    id: u64,
    token: CancellationToken,
    steps: usize,
) -> Result<u64, Cancelled> {
    let mut value = 0;
    for _ in 0..steps {
        let limited = tokio::time::timeout(STEP_LIMIT, step(value));
        value = tokio::select! {
            biased;
            () = token.cancelled() => {
                undo().await;
                registry.deregister(id);
                return Err(Cancelled);
            }
            next = limited => match next {
                Ok(next) => next,
                Err(_elapsed) => {
                    undo().await;
                    registry.deregister(id);
                    return Err(Cancelled);
                }
            },
        };
    }
    registry.deregister(id);
    Ok(value)
}

/// The time limit of each step of [`cancellable_timed_flow`] (never reached).
const STEP_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

async fn parked(
    registry: Arc<Registry>,
    id: u64,
    token: CancellationToken,
    probe: Arc<Probe>,
    slot: usize,
) {
    probe.parked();
    tokio::select! {
        biased;
        () = token.cancelled() => {
            probe.cleanup_started(slot);
            registry.deregister(id);
            probe.cleanup_finished();
        }
        () = pending::<()>() => {}
    }
}

pub struct Token {
    registry: Arc<Registry>,
    probe: Option<Arc<Probe>>,
    /// Each step has a time limit (`TM_BENCH_TOKEN_POLICY=timeout`).
    timed: bool,
}

impl Default for Token {
    fn default() -> Self {
        Token {
            registry: Arc::default(),
            probe: None,
            timed: std::env::var("TM_BENCH_TOKEN_POLICY").as_deref() == Ok("timeout"),
        }
    }
}

impl Contender for Token {
    fn spawn(&self, steps: Steps) -> impl Future<Output = u64> + Send + 'static {
        let (id, token) = self.registry.register();
        let registry = self.registry.clone();
        let handle = if self.timed {
            tokio::spawn(cancellable_timed_flow(registry, id, token, steps.count()))
        } else {
            tokio::spawn(cancellable_flow(registry, id, token, steps.count()))
        };
        async move {
            handle
                .await
                .expect("token task panicked")
                .expect("nobody cancels in the throughput scenario")
        }
    }

    fn task_future_size(&self, steps: Steps) -> Option<usize> {
        let (id, token) = self.registry.register();
        let flow = cancellable_flow(self.registry.clone(), id, token, steps.count());
        let size = size_of_val(&flow);
        self.registry.deregister(id);
        Some(size)
    }
}

impl Parker for Token {
    type Id = u64;

    fn with_probe(probe: Arc<Probe>) -> Self {
        Token {
            probe: Some(probe),
            ..Token::default()
        }
    }

    fn probe(&self) -> &Probe {
        self.probe
            .as_deref()
            .expect("Token::with_probe builds parkers")
    }

    fn spawn_parked(&self, slot: usize) -> u64 {
        let probe = self
            .probe
            .clone()
            .expect("Token::with_probe builds parkers");
        let (id, token) = self.registry.register();
        drop(tokio::spawn(parked(
            self.registry.clone(),
            id,
            token,
            probe,
            slot,
        )));
        id
    }
}

impl Canceller for Token {
    fn cancel(&self, id: u64) {
        self.registry.cancel(id);
    }
}
