//! Every scenario of the suite, run in order by [`run_all`].

pub mod cancel;
pub mod driver;
pub mod memory;
pub mod original;
pub mod queue;
pub mod throughput;

use crate::config::{Config, HEADLINE_IN_FLIGHT};
use crate::contenders::Which;
use crate::runtime::Flavor;
use crate::steps::Steps;

use original::Original;
use throughput::Shape;

/// Everything one run measured.
pub struct Results {
    pub throughput: Vec<throughput::Row>,
    pub future_sizes: Vec<(Which, Steps, usize)>,
    pub cancel: Vec<cancel::Row>,
    pub memory: Vec<memory::Row>,
    pub queue: Vec<queue::Row>,
    pub original: Original,
}

pub fn run_all(config: &Config) -> Results {
    let mut results = Results {
        throughput: Vec::new(),
        future_sizes: Vec::new(),
        cancel: Vec::new(),
        memory: Vec::new(),
        queue: Vec::new(),
        original: Original::Skipped("not run yet".into()),
    };
    for flavor in Flavor::ALL
        .into_iter()
        .filter(|_| config.runs("throughput"))
    {
        // The in-flight table is at 3 steps; a run restricted to other lengths skips it.
        let in_flights = match config.steps.contains(&Steps::Three) {
            true => &config.in_flight[..],
            false => &[],
        };
        for &in_flight in in_flights {
            let shape = Shape {
                flavor,
                steps: Steps::Three,
                in_flight,
                tasks: config.tasks_for(in_flight),
            };
            progress(&format!(
                "throughput {flavor:?} 3 steps, {in_flight} in flight"
            ));
            results.throughput.extend(throughput::measure(
                &Which::ALL,
                shape,
                config.reps,
                config.driver,
            ));
        }
        for &steps in config.steps.iter().filter(|s| **s != Steps::Three) {
            let shape = Shape {
                flavor,
                steps,
                in_flight: HEADLINE_IN_FLIGHT,
                tasks: config.tasks,
            };
            progress(&format!("throughput {flavor:?} {} steps", steps.count()));
            let stepped = [Which::Plain, Which::Token, Which::Library];
            results.throughput.extend(throughput::measure(
                &stepped,
                shape,
                config.reps,
                config.driver,
            ));
        }
    }
    for which in Which::ALL {
        for &steps in &config.steps {
            if let Some(size) = throughput::future_size(which, steps) {
                results.future_sizes.push((which, steps, size));
            }
        }
    }
    for flavor in Flavor::ALL {
        progress(&format!("cancellation {flavor:?}"));
        for which in Which::ALL.into_iter().filter(|_| config.runs("cancel")) {
            results
                .cancel
                .extend(cancel::measure(which, flavor, config.cancel_tasks));
        }
        progress(&format!("memory {flavor:?}"));
        for which in Which::ALL.into_iter().filter(|_| config.runs("memory")) {
            results
                .memory
                .extend(memory::measure(which, flavor, config.memory_tasks));
        }
        progress(&format!("queue {flavor:?}"));
        for variant in queue::Variant::ALL
            .into_iter()
            .filter(|_| config.runs("queue"))
        {
            results.queue.extend(queue::measure(
                variant,
                flavor,
                config.queue_tasks,
                config.queue_permits,
                config.reps,
            ));
        }
    }
    if config.runs("original") {
        progress("original (node)");
        results.original = Original::run(config);
    } else {
        results.original = Original::Skipped("not selected by TM_BENCH_ONLY".into());
    }
    results
}

/// Progress goes to stderr, so stdout holds only the tables and the JSON line.
fn progress(what: &str) {
    eprintln!("[suite] {what}");
}
