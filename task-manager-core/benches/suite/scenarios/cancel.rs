//! Cancellation: the time to cancel many parked tasks and see every cleanup finish, and the
//! latency from `cancel(id)` to the first line of one task's cleanup, with the canceller on
//! the runtime and on an outside thread.
//!
//! As in the throughput scenario, the contenders take turns within each repetition and the
//! library's cancel-all time is divided by each baseline's within the same repetition.
//! Latencies are pooled over the repetitions.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::contender::Canceller;
use crate::contenders::{library::Library, token::Token, tuned::Tuned, Which};
use crate::measure::{Percentiles, Spread};
use crate::probe::Probe;
use crate::runtime::Flavor;

/// A lost cancellation would otherwise hang the suite; no cleanup here takes anywhere near it.
const GIVE_UP_AFTER: Duration = Duration::from_secs(30);

/// Every cancelling contender on one runtime.
#[derive(Debug, Clone)]
pub struct Group {
    pub flavor: Flavor,
    pub tasks: usize,
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone)]
pub struct Row {
    pub contender: Which,
    /// Cancel every task from the runtime, then wait for the last cleanup to finish: one
    /// duration per repetition, in order.
    pub cancel_all: Vec<Duration>,
    /// The canceller is a task on the same runtime; it yields until the cleanup has begun.
    pub on_runtime: Percentiles,
    /// The canceller is a plain thread spinning until the cleanup has begun.
    pub outside_thread: Percentiles,
}

impl Row {
    pub fn cancel_all_median(&self) -> Option<Duration> {
        let nanos = self
            .cancel_all
            .iter()
            .map(|d| d.as_nanos() as f64)
            .collect();
        Spread::of(nanos).map(|spread| Duration::from_nanos(spread.median as u64))
    }
}

impl Group {
    pub fn row(&self, which: Which) -> Option<&Row> {
        self.rows.iter().find(|row| row.contender == which)
    }

    /// Cancel-all time of `numerator` over `denominator`, within each repetition.
    pub fn cancel_all_ratio(&self, numerator: Which, denominator: Which) -> Option<Spread> {
        let per_rep = |which| -> Option<Vec<f64>> {
            let row = self.row(which)?;
            Some(row.cancel_all.iter().map(Duration::as_secs_f64).collect())
        };
        Spread::of_ratios(&per_rep(numerator)?, &per_rep(denominator)?)
    }
}

/// Measures the contenders that can cancel among `contenders`, `reps` interleaved repetitions.
pub fn measure(contenders: &[Which], flavor: Flavor, tasks: usize, reps: usize) -> Group {
    let cancellers: Vec<Which> = contenders.iter().copied().filter(|w| w.cancels()).collect();
    let mut rounds: Vec<Vec<Round>> = vec![Vec::with_capacity(reps); cancellers.len()];
    for _ in 0..reps {
        for (&which, rounds) in cancellers.iter().zip(&mut rounds) {
            rounds.push(match which {
                Which::Token => round::<Token>(flavor, tasks),
                Which::Tuned => round::<Tuned>(flavor, tasks),
                Which::Library => round::<Library>(flavor, tasks),
                Which::Empty | Which::Plain => unreachable!("filtered: cannot cancel"),
            });
        }
    }
    let rows = cancellers
        .into_iter()
        .zip(rounds)
        .map(|(contender, rounds)| Row {
            contender,
            cancel_all: rounds.iter().map(|round| round.cancel_all).collect(),
            on_runtime: Percentiles::of(rounds.iter().flat_map(|r| r.on_runtime.clone()).collect()),
            outside_thread: Percentiles::of(
                rounds
                    .iter()
                    .flat_map(|r| r.outside_thread.clone())
                    .collect(),
            ),
        })
        .collect();
    Group {
        flavor,
        tasks,
        rows,
    }
}

/// One repetition for one contender: three fresh sets of parked tasks, one per measurement.
#[derive(Debug, Clone)]
struct Round {
    cancel_all: Duration,
    on_runtime: Vec<u64>,
    outside_thread: Vec<u64>,
}

fn round<C: Canceller>(flavor: Flavor, tasks: usize) -> Round {
    Round {
        cancel_all: cancel_all::<C>(flavor, tasks),
        on_runtime: on_runtime::<C>(flavor, tasks),
        outside_thread: outside_thread::<C>(flavor, tasks),
    }
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

fn on_runtime<C: Canceller>(flavor: Flavor, tasks: usize) -> Vec<u64> {
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
            let give_up = Instant::now() + GIVE_UP_AFTER;
            contender.cancel(id);
            // Yielding lets the woken task run; tokio defers a yielding task behind it.
            let began = loop {
                if let Some(stamp) = probe.started_at(slot) {
                    break stamp;
                }
                assert!(
                    Instant::now() < give_up,
                    "cleanup of slot {slot} never started"
                );
                tokio::task::yield_now().await;
            };
            latencies.push(began.saturating_sub(start));
        }
        latencies
    };
    let latencies = runtime.block_on(async { tokio::spawn(canceller).await });
    latencies.expect("canceller panicked")
}

fn outside_thread<C: Canceller>(flavor: Flavor, tasks: usize) -> Vec<u64> {
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
        let finished = runtime
            .block_on(async { tokio::time::timeout(GIVE_UP_AFTER, probe.all_finished()).await });
        let latencies = canceller.join().expect("canceller thread panicked");
        assert!(finished.is_ok(), "not every cleanup finished");
        latencies
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
        let finished = tokio::time::timeout(GIVE_UP_AFTER, probe.all_finished()).await;
        assert!(finished.is_ok(), "not every cleanup finished");
        start.elapsed()
    };
    let elapsed = runtime.block_on(async { tokio::spawn(canceller).await });
    elapsed.expect("canceller panicked")
}
