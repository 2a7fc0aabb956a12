//! Baseline (a): the flow as a spawned task with no cancel support.

use std::future::{pending, Future};
use std::mem::size_of_val;
use std::sync::Arc;

use crate::contender::{Contender, Parker};
use crate::probe::Probe;
use crate::steps::{step, Steps};

#[derive(Default)]
pub struct Plain {
    probe: Option<Arc<Probe>>,
}

async fn flow(steps: usize) -> u64 {
    let mut value = 0;
    for _ in 0..steps {
        value = step(value).await;
    }
    value
}

/// A task parked forever: the memory floor, nothing to cancel it with.
async fn parked(probe: Arc<Probe>) {
    probe.parked();
    pending::<()>().await;
}

impl Contender for Plain {
    fn spawn(&self, steps: Steps) -> impl Future<Output = u64> + Send + 'static {
        let handle = tokio::spawn(flow(steps.count()));
        async move { handle.await.expect("plain task panicked") }
    }

    fn task_future_size(&self, steps: Steps) -> Option<usize> {
        Some(size_of_val(&flow(steps.count())))
    }
}

impl Parker for Plain {
    type Id = ();

    fn with_probe(probe: Arc<Probe>) -> Self {
        Plain { probe: Some(probe) }
    }

    fn probe(&self) -> &Probe {
        self.probe
            .as_deref()
            .expect("Plain::with_probe builds parkers")
    }

    fn spawn_parked(&self, _slot: usize) {
        let probe = self
            .probe
            .clone()
            .expect("Plain::with_probe builds parkers");
        // Dropping the JoinHandle detaches the task; the runtime keeps it until it is dropped.
        drop(tokio::spawn(parked(probe)));
    }
}
