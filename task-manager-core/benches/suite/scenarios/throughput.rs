//! Per-task cost: many tasks through each contender with a fixed number in flight.
//!
//! The contenders take turns, one run each per repetition (A B C D A B C D ...), each run on a
//! fresh runtime: a slow phase of the shared machine then hits every contender of that
//! repetition alike, and a ratio taken within one repetition cancels most of it. Ratios are
//! therefore computed per repetition and summarised by their median and spread, never as a
//! ratio of two medians.

use std::sync::Arc;

use crate::contender::Contender;
use crate::contenders::{
    empty::Empty, library::Library, plain::Plain, token::Token, tuned::Tuned, Which,
};
use crate::measure::{best, median, timed, PerItem, Spread};
use crate::runtime::Flavor;
use crate::scenarios::driver::Driver;
use crate::steps::Steps;

/// One throughput measurement's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub flavor: Flavor,
    pub steps: Steps,
    pub in_flight: usize,
    pub tasks: usize,
}

/// Every contender measured on one shape, repetitions interleaved.
#[derive(Debug, Clone)]
pub struct Group {
    pub shape: Shape,
    pub rows: Vec<Row>,
}

/// One contender on one shape.
#[derive(Debug, Clone)]
pub struct Row {
    pub contender: Which,
    /// One per repetition, in order: `samples[i]` ran between the other contenders' `i`-th.
    pub samples: Vec<PerItem>,
    /// Median over the repetitions.
    pub cost: PerItem,
    /// Minimum over the repetitions.
    pub best: PerItem,
}

/// Which clock a ratio compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    Wall,
    Cpu,
}

impl Clock {
    pub fn of(self, cost: &PerItem) -> f64 {
        match self {
            Clock::Wall => cost.wall_ns,
            Clock::Cpu => cost.cpu_ns,
        }
    }
}

impl Group {
    pub fn row(&self, which: Which) -> Option<&Row> {
        self.rows.iter().find(|row| row.contender == which)
    }

    /// `numerator / denominator` within each repetition; `None` unless both were measured.
    pub fn ratio(&self, numerator: Which, denominator: Which, clock: Clock) -> Option<Spread> {
        let per_rep = |which| -> Option<Vec<f64>> {
            let row = self.row(which)?;
            Some(row.samples.iter().map(|cost| clock.of(cost)).collect())
        };
        Spread::of_ratios(&per_rep(numerator)?, &per_rep(denominator)?)
    }
}

/// Measures every contender on one shape, `reps` interleaved repetitions.
pub fn measure(contenders: &[Which], shape: Shape, reps: usize, driver: Driver) -> Group {
    let mut samples: Vec<Vec<PerItem>> = vec![Vec::with_capacity(reps); contenders.len()];
    for _ in 0..reps {
        for (which, samples) in contenders.iter().zip(&mut samples) {
            samples.push(run_once(*which, shape, driver));
        }
    }
    let rows = contenders
        .iter()
        .zip(samples)
        .map(|(contender, samples)| Row {
            contender: *contender,
            cost: median(&samples),
            best: best(&samples),
            samples,
        })
        .collect();
    Group { shape, rows }
}

fn run_once(which: Which, shape: Shape, driver: Driver) -> PerItem {
    match which {
        Which::Empty => run_contender(Empty, shape, driver),
        Which::Plain => run_contender(Plain::default(), shape, driver),
        Which::Token => run_contender(Token::default(), shape, driver),
        Which::Tuned => run_contender(Tuned::default(), shape, driver),
        Which::Library => run_contender(Library::default(), shape, driver),
    }
}

/// Size of each contender's task future, where it can tell.
pub fn future_size(which: Which, steps: Steps) -> Option<usize> {
    match which {
        Which::Empty => Empty.task_future_size(steps),
        Which::Plain => Plain::default().task_future_size(steps),
        Which::Token => Token::default().task_future_size(steps),
        Which::Tuned => Tuned::default().task_future_size(steps),
        Which::Library => Library::default().task_future_size(steps),
    }
}

fn run_contender<C: Contender>(contender: C, shape: Shape, driver: Driver) -> PerItem {
    let contender = Arc::new(contender);
    let runtime = shape.flavor.runtime();
    // Warm-up fills the runtime's queues and the allocator's caches; at least one full window.
    let warm_up = shape.tasks.min(shape.in_flight.max(10_000));
    let run = |tasks: usize| {
        let contender = contender.clone();
        async move {
            // The driver is itself a task, as in a server where requests spawn work: on
            // multi_thread its spawns then go to a worker's local queue, not the global one.
            let driver = driver.drive(contender, tasks, shape.in_flight, shape.steps);
            tokio::spawn(driver).await.expect("driver panicked");
        }
    };
    runtime.block_on(run(warm_up));
    let ((), cost) = timed(|| runtime.block_on(run(shape.tasks)));
    cost.per_item(shape.tasks)
}
