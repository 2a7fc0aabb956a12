//! Baseline (c), "tuned": what a careful engineer writes once the token shows up in a profile.
//! Each task gets one `Arc<Cancel>` (an `AtomicBool` and an `AtomicWaker`) that a small
//! wrapper checks before every poll of every step, and is findable by id through the same
//! registry as baseline (b). The cleanup runs inline, in the task, as soon as it sees the flag.

use std::future::{pending, poll_fn, Future};
use std::mem::size_of_val;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;

use futures_util::task::AtomicWaker;

use crate::contender::{Canceller, Contender, Parker};
use crate::contenders::registry::{self, CancelHandle};
use crate::probe::Probe;
use crate::steps::{step, Steps};

/// One task's cancel request: the flag, and the waker of the step that is waiting.
#[derive(Default)]
pub struct Cancel {
    requested: AtomicBool,
    waker: AtomicWaker,
}

impl Cancel {
    fn is_requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }
}

impl CancelHandle for Arc<Cancel> {
    fn cancel(&self) {
        self.requested.store(true, Ordering::Release);
        self.waker.wake();
    }
}

type Registry = registry::Registry<Arc<Cancel>>;

/// Why a flow stopped early.
#[derive(Debug)]
pub struct Cancelled;

/// Runs `step` to its end unless the task is cancelled first; looks at the flag before each
/// poll of the step.
async fn checked<F: Future>(cancel: &Cancel, step: F) -> Result<F::Output, Cancelled> {
    let mut step = pin!(step);
    poll_fn(|cx| {
        if cancel.is_requested() {
            return Poll::Ready(Err(Cancelled));
        }
        if let Poll::Ready(output) = step.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        // Registered before the second look: a cancel that came after the first one either
        // shows here or wakes the waker just registered.
        cancel.waker.register(cx.waker());
        if cancel.is_requested() {
            Poll::Ready(Err(Cancelled))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// The step's cleanup (the library's `cancel = undo`): nothing to undo in the benchmark.
async fn undo() {}

async fn flow(
    registry: Arc<Registry>,
    id: u64,
    cancel: Arc<Cancel>,
    steps: usize,
) -> Result<u64, Cancelled> {
    let mut value = 0;
    for _ in 0..steps {
        match checked(&cancel, step(value)).await {
            Ok(next) => value = next,
            Err(Cancelled) => {
                undo().await;
                registry.deregister(id);
                return Err(Cancelled);
            }
        }
    }
    registry.deregister(id);
    Ok(value)
}

async fn parked(
    registry: Arc<Registry>,
    id: u64,
    cancel: Arc<Cancel>,
    probe: Arc<Probe>,
    slot: usize,
) {
    probe.parked();
    if let Err(Cancelled) = checked(&cancel, pending::<()>()).await {
        probe.cleanup_started(slot);
        registry.deregister(id);
        probe.cleanup_finished();
    }
}

#[derive(Default)]
pub struct Tuned {
    registry: Arc<Registry>,
    probe: Option<Arc<Probe>>,
}

impl Contender for Tuned {
    fn spawn(&self, steps: Steps) -> impl Future<Output = u64> + Send + 'static {
        let (id, cancel) = self.registry.register();
        let handle = tokio::spawn(flow(self.registry.clone(), id, cancel, steps.count()));
        async move {
            handle
                .await
                .expect("tuned task panicked")
                .expect("nobody cancels in the throughput scenario")
        }
    }

    fn task_future_size(&self, steps: Steps) -> Option<usize> {
        let (id, cancel) = self.registry.register();
        let size = size_of_val(&flow(self.registry.clone(), id, cancel, steps.count()));
        self.registry.deregister(id);
        Some(size)
    }
}

impl Parker for Tuned {
    type Id = u64;

    fn with_probe(probe: Arc<Probe>) -> Self {
        Tuned {
            registry: Arc::default(),
            probe: Some(probe),
        }
    }

    fn probe(&self) -> &Probe {
        self.probe
            .as_deref()
            .expect("Tuned::with_probe builds parkers")
    }

    fn spawn_parked(&self, slot: usize) -> u64 {
        let probe = self
            .probe
            .clone()
            .expect("Tuned::with_probe builds parkers");
        let (id, cancel) = self.registry.register();
        drop(tokio::spawn(parked(
            self.registry.clone(),
            id,
            cancel,
            probe,
            slot,
        )));
        id
    }
}

impl Canceller for Tuned {
    fn cancel(&self, id: u64) {
        self.registry.cancel(id);
    }
}
