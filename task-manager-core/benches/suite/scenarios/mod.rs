//! Every scenario of the suite, run in order by [`run_all`].
//!
//! A scenario that breaks (a panic, a child process that fails) does not stop the others: the
//! failure is recorded in [`Results::failures`], the report is still written, and the suite
//! then exits with an error (see `check.rs`).

pub mod cancel;
pub mod driver;
pub mod memory;
pub mod original;
pub mod queue;
pub mod throughput;

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::config::{Config, HEADLINE_IN_FLIGHT};
use crate::contenders::Which;
use crate::runtime::Flavor;
use crate::steps::Steps;
use crate::weighing::Request;

use original::Original;
use throughput::Shape;

/// Everything one run measured.
pub struct Results {
    pub throughput: Vec<throughput::Group>,
    pub future_sizes: Vec<(Which, Steps, usize)>,
    pub cancel: Vec<cancel::Group>,
    pub memory: Vec<memory::Row>,
    pub queue: Vec<queue::Row>,
    pub original: Original,
    /// What broke while measuring, one line each.
    pub failures: Vec<String>,
}

pub fn run_all(config: &Config) -> Results {
    let mut failures = Vec::new();
    let mut throughput = Vec::new();
    if config.runs("throughput") {
        for (shape, contenders) in throughput_plan(config) {
            let what = format!(
                "throughput {}, {} steps, {} in flight",
                shape.flavor.name(),
                shape.steps.count(),
                shape.in_flight
            );
            let reps = config.reps;
            let measured = guarded(&mut failures, &what, || {
                throughput::measure(&contenders, shape, reps, config.driver)
            });
            throughput.extend(measured);
        }
    }

    let mut cancel = Vec::new();
    if config.runs("cancel") {
        for &flavor in &config.flavors {
            let what = format!("cancel {}", flavor.name());
            let (tasks, reps) = (config.cancel_tasks, config.reps);
            let measured = guarded(&mut failures, &what, || {
                cancel::measure(&config.contenders, flavor, tasks, reps)
            });
            cancel.extend(measured);
        }
    }

    let memory = if config.runs("memory") {
        run_memory(config, &mut failures)
    } else {
        Vec::new()
    };

    let mut queue = Vec::new();
    if config.runs("queue") {
        for &flavor in &config.flavors {
            for variant in queue::Variant::ALL {
                let what = format!("queue {}, {}", flavor.name(), variant.name());
                let (tasks, permits) = (config.queue_tasks, config.queue_permits);
                let measured = guarded(&mut failures, &what, || {
                    queue::measure(variant, flavor, tasks, permits, config.reps)
                });
                queue.extend(measured.flatten());
            }
        }
    }

    let original = if config.runs("original") {
        progress("original (node)");
        Original::run(config)
    } else {
        Original::Skipped("not selected by TM_BENCH_ONLY".into())
    };

    Results {
        throughput,
        future_sizes: future_sizes(config),
        cancel,
        memory,
        queue,
        original,
        failures,
    }
}

/// Every throughput measurement the configuration asks for, with its contenders: the loads
/// at 3 steps, then the other flow lengths at the headline's load.
pub fn throughput_plan(config: &Config) -> Vec<(Shape, Vec<Which>)> {
    let selected = |among: &[Which]| -> Vec<Which> {
        among
            .iter()
            .copied()
            .filter(|which| config.contenders.contains(which))
            .collect()
    };
    let mut plan = Vec::new();
    for &flavor in &config.flavors {
        // A run restricted to other flow lengths skips the loads.
        if config.steps.contains(&Steps::Three) {
            for &in_flight in &config.in_flight {
                let shape = Shape {
                    flavor,
                    steps: Steps::Three,
                    in_flight,
                    tasks: config.tasks_for(in_flight),
                };
                plan.push((shape, selected(&Which::ALL)));
            }
        }
        for &steps in config.steps.iter().filter(|s| **s != Steps::Three) {
            let shape = Shape {
                flavor,
                steps,
                in_flight: HEADLINE_IN_FLIGHT,
                tasks: config.tasks,
            };
            // The empty task has no steps to scale.
            let with_steps: Vec<Which> = Which::ALL
                .into_iter()
                .filter(|&which| which != Which::Empty)
                .collect();
            plan.push((shape, selected(&with_steps)));
        }
    }
    plan
}

/// Every memory measurement the configuration asks for: each contender that can park tasks,
/// on each runtime, one process each.
pub fn memory_plan(config: &Config) -> Vec<Request> {
    let mut plan = Vec::new();
    for &flavor in &config.flavors {
        for &contender in config.contenders.iter().filter(|which| which.parks()) {
            plan.push(Request {
                contender,
                flavor,
                tasks: config.memory_tasks,
            });
        }
    }
    plan
}

fn run_memory(config: &Config, failures: &mut Vec<String>) -> Vec<memory::Row> {
    progress("memory: finding the `memory` bench binary");
    let binary = match memory::binary() {
        Ok(binary) => binary,
        Err(error) => {
            failures.push(format!("memory: {error}"));
            return Vec::new();
        }
    };
    let mut rows = Vec::new();
    for request in memory_plan(config) {
        progress(&format!(
            "memory {}, {} (own process)",
            request.flavor.name(),
            request.contender.name()
        ));
        match memory::measure(&binary, request) {
            Ok(row) => rows.push(row),
            Err(error) => failures.push(error),
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

/// Runs one measurement; if it panics, records why under `what` and goes on with the next.
fn guarded<T>(failures: &mut Vec<String>, what: &str, measure: impl FnOnce() -> T) -> Option<T> {
    progress(what);
    match catch_unwind(AssertUnwindSafe(measure)) {
        Ok(value) => Some(value),
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            failures.push(format!("{what}: panicked: {message}"));
            None
        }
    }
}

/// Progress goes to stderr, so stdout holds only the tables and the JSON line.
fn progress(what: &str) {
    eprintln!("[suite] {what}");
}

impl Results {
    pub fn throughput_group(
        &self,
        flavor: Flavor,
        steps: Steps,
        in_flight: usize,
    ) -> Option<&throughput::Group> {
        self.throughput.iter().find(|group| {
            group.shape.flavor == flavor
                && group.shape.steps == steps
                && group.shape.in_flight == in_flight
        })
    }

    pub fn cancel_group(&self, flavor: Flavor) -> Option<&cancel::Group> {
        self.cancel.iter().find(|group| group.flavor == flavor)
    }
}
