//! Cancellation latency: from `cancel(id)` to the first line of the task's cleanup, over many
//! parked tasks, with the canceller on the runtime and on an outside thread; and the time to
//! cancel them all and see every cleanup finish.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::contender::Canceller;
use crate::contenders::{library::Library, token::Token, Which};
use crate::measure::Percentiles;
use crate::probe::Probe;
use crate::runtime::Flavor;

#[derive(Debug, Clone)]
pub struct Row {
    pub contender: Which,
    pub flavor: Flavor,
    pub tasks: usize,
    /// The canceller is a task on the same runtime; it yields until the cleanup has begun.
    pub on_runtime: Percentiles,
    /// The canceller is a plain thread spinning until the cleanup has begun.
    pub outside_thread: Percentiles,
    /// Cancel every task from the runtime, then wait for the last cleanup to finish.
    pub cancel_all: Duration,
}

/// `None` for contenders that cannot cancel.
pub fn measure(which: Which, flavor: Flavor, tasks: usize) -> Option<Row> {
    let (on_runtime, outside_thread, cancel_all) = match which {
        Which::Token => (
            on_runtime::<Token>(flavor, tasks),
            outside_thread::<Token>(flavor, tasks),
            cancel_all::<Token>(flavor, tasks),
        ),
        Which::Library => (
            on_runtime::<Library>(flavor, tasks),
            outside_thread::<Library>(flavor, tasks),
            cancel_all::<Library>(flavor, tasks),
        ),
        Which::Empty | Which::Plain => return None,
    };
    Some(Row {
        contender: which,
        flavor,
        tasks,
        on_runtime,
        outside_thread,
        cancel_all,
    })
}

/// A runtime with `tasks` parked tasks, all at their await point.
struct Parked<C: Canceller> {
    runtime: tokio::runtime::Runtime,
    probe: Arc<Probe>,
    contender: Arc<C>,
    ids: Vec<C::Id>,
}

fn park<C: Canceller>(flavor: Flavor, tasks: usize) -> Parked<C> {
    let runtime = flavor.runtime();
    let probe = Probe::new(tasks);
    let contender = Arc::new(C::with_probe(probe.clone()));
    let ids = runtime.block_on(async {
        let ids: Vec<C::Id> = (0..tasks)
            .map(|slot| contender.spawn_parked(slot))
            .collect();
        probe.all_parked().await;
        ids
    });
    Parked {
        runtime,
        probe,
        contender,
        ids,
    }
}

fn on_runtime<C: Canceller>(flavor: Flavor, tasks: usize) -> Percentiles {
    let Parked {
        runtime,
        probe,
        contender,
        ids,
    } = park::<C>(flavor, tasks);
    let canceller = async move {
        let mut latencies = Vec::with_capacity(ids.len());
        for (slot, id) in ids.into_iter().enumerate() {
            let start = probe.now_ns();
            contender.cancel(id);
            // Yielding lets the woken task run; tokio defers a yielding task behind it.
            let began = loop {
                if let Some(stamp) = probe.started_at(slot) {
                    break stamp;
                }
                tokio::task::yield_now().await;
            };
            latencies.push(began.saturating_sub(start));
        }
        latencies
    };
    let latencies = runtime.block_on(async { tokio::spawn(canceller).await });
    Percentiles::of(latencies.expect("canceller panicked"))
}

fn outside_thread<C: Canceller>(flavor: Flavor, tasks: usize) -> Percentiles {
    let Parked {
        runtime,
        probe,
        contender,
        ids,
    } = park::<C>(flavor, tasks);
    std::thread::scope(|scope| {
        let canceller = scope.spawn(|| {
            ids.iter()
                .enumerate()
                .map(|(slot, id)| {
                    let start = probe.now_ns();
                    contender.cancel(*id);
                    probe.spin_until_started(slot).saturating_sub(start)
                })
                .collect::<Vec<u64>>()
        });
        // A current_thread runtime only runs while someone blocks on it.
        runtime.block_on(probe.all_finished());
        Percentiles::of(canceller.join().expect("canceller thread panicked"))
    })
}

fn cancel_all<C: Canceller>(flavor: Flavor, tasks: usize) -> Duration {
    let Parked {
        runtime,
        probe,
        contender,
        ids,
    } = park::<C>(flavor, tasks);
    let canceller = async move {
        let start = Instant::now();
        for id in ids {
            contender.cancel(id);
        }
        probe.all_finished().await;
        start.elapsed()
    };
    let elapsed = runtime.block_on(async { tokio::spawn(canceller).await });
    elapsed.expect("canceller panicked")
}
