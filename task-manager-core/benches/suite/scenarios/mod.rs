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
    Results {
        throughput: if config.runs("throughput") {
            throughput_rows(config)
        } else {
            Vec::new()
        },
        future_sizes: future_sizes(config),
        cancel: per_flavor(config, "cancel", |flavor| {
            config
                .contenders
                .iter()
                .filter_map(|&which| cancel::measure(which, flavor, config.cancel_tasks))
                .collect()
        }),
        memory: per_flavor(config, "memory", |flavor| {
            config
                .contenders
                .iter()
                .filter_map(|&which| memory::measure(which, flavor, config.memory_tasks))
                .collect()
        }),
        queue: per_flavor(config, "queue", |flavor| {
            queue::Variant::ALL
                .into_iter()
                .filter_map(|variant| {
                    let (tasks, permits) = (config.queue_tasks, config.queue_permits);
                    queue::measure(variant, flavor, tasks, permits, config.reps)
                })
                .collect()
        }),
        original: if config.runs("original") {
            progress("original (node)");
            Original::run(config)
        } else {
            Original::Skipped("not selected by TM_BENCH_ONLY".into())
        },
    }
}

/// The in-flight table at 3 steps, then the other flow lengths at the headline's in-flight.
fn throughput_rows(config: &Config) -> Vec<throughput::Row> {
    let selected = |among: &[Which]| -> Vec<Which> {
        among
            .iter()
            .copied()
            .filter(|which| config.contenders.contains(which))
            .collect()
    };
    let mut rows = Vec::new();
    for &flavor in &config.flavors {
        // A run restricted to other flow lengths skips the in-flight table.
        let in_flights = match config.steps.contains(&Steps::Three) {
            true => &config.in_flight[..],
            false => &[],
        };
        for &in_flight in in_flights {
            progress(&format!(
                "throughput {flavor:?}, 3 steps, {in_flight} in flight"
            ));
            let shape = Shape {
                flavor,
                steps: Steps::Three,
                in_flight,
                tasks: config.tasks_for(in_flight),
            };
            let contenders = selected(&Which::ALL);
            rows.extend(throughput::measure(
                &contenders,
                shape,
                config.reps,
                config.driver,
            ));
        }
        for &steps in config.steps.iter().filter(|s| **s != Steps::Three) {
            progress(&format!("throughput {flavor:?}, {} steps", steps.count()));
            let shape = Shape {
                flavor,
                steps,
                in_flight: HEADLINE_IN_FLIGHT,
                tasks: config.tasks,
            };
            // The empty task has no steps to scale.
            let contenders = selected(&[Which::Plain, Which::Token, Which::Library]);
            rows.extend(throughput::measure(
                &contenders,
                shape,
                config.reps,
                config.driver,
            ));
        }
    }
    rows
}

fn future_sizes(config: &Config) -> Vec<(Which, Steps, usize)> {
    let mut sizes = Vec::new();
    for &which in &config.contenders {
        for &steps in &config.steps {
            if let Some(size) = throughput::future_size(which, steps) {
                sizes.push((which, steps, size));
            }
        }
    }
    sizes
}

/// Runs `scenario` on every selected runtime, if it is selected.
fn per_flavor<T>(config: &Config, scenario: &str, run: impl Fn(Flavor) -> Vec<T>) -> Vec<T> {
    if !config.runs(scenario) {
        return Vec::new();
    }
    config
        .flavors
        .iter()
        .flat_map(|&flavor| {
            progress(&format!("{scenario} {flavor:?}"));
            run(flavor)
        })
        .collect()
}

/// Progress goes to stderr, so stdout holds only the tables and the JSON line.
fn progress(what: &str) {
    eprintln!("[suite] {what}");
}
