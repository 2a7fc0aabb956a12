//! Per-task cost: many tasks through one contender with a fixed number in flight.

use std::sync::Arc;

use crate::contender::Contender;
use crate::contenders::{empty::Empty, library::Library, plain::Plain, token::Token, Which};
use crate::measure::{best, median, timed, PerItem};
use crate::runtime::Flavor;
use crate::scenarios::driver::Driver;
use crate::steps::Steps;

/// One throughput measurement's parameters.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub flavor: Flavor,
    pub steps: Steps,
    pub in_flight: usize,
    pub tasks: usize,
}

/// One row of the throughput tables.
#[derive(Debug, Clone)]
pub struct Row {
    pub contender: Which,
    pub shape: Shape,
    pub reps: usize,
    /// Median over the repetitions.
    pub cost: PerItem,
    /// Minimum over the repetitions.
    pub best: PerItem,
}

/// Measures every contender on one shape. Repetitions are interleaved across contenders, so
/// a slow phase of the machine hits all of them alike; each row is the median of its reps.
pub fn measure(contenders: &[Which], shape: Shape, reps: usize, driver: Driver) -> Vec<Row> {
    let mut samples: Vec<Vec<PerItem>> = vec![Vec::with_capacity(reps); contenders.len()];
    for _ in 0..reps {
        for (which, samples) in contenders.iter().zip(&mut samples) {
            samples.push(run_once(*which, shape, driver));
        }
    }
    contenders
        .iter()
        .zip(samples)
        .map(|(contender, samples)| Row {
            contender: *contender,
            shape,
            reps: samples.len(),
            cost: median(&samples),
            best: best(&samples),
        })
        .collect()
}

fn run_once(which: Which, shape: Shape, driver: Driver) -> PerItem {
    match which {
        Which::Empty => run_contender(Empty, shape, driver),
        Which::Plain => run_contender(Plain::default(), shape, driver),
        Which::Token => run_contender(Token::default(), shape, driver),
        Which::Library => run_contender(Library::default(), shape, driver),
    }
}

/// Size of each contender's task future, where it can tell.
pub fn future_size(which: Which, steps: Steps) -> Option<usize> {
    match which {
        Which::Empty => Empty.task_future_size(steps),
        Which::Plain => Plain::default().task_future_size(steps),
        Which::Token => Token::default().task_future_size(steps),
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
