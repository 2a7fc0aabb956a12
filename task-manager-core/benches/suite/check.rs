//! Did the run measure everything it was asked to? A smoke run under `cargo test` must fail
//! when a scenario breaks, not pass with an empty table: each selected scenario is checked
//! for every row its configuration asks for, with sane figures. The suite exits with an error
//! when this finds anything.

use crate::config::Config;
use crate::measure::PerItem;
use crate::scenarios::original::Original;
use crate::scenarios::queue::Variant;
use crate::scenarios::{memory_plan, throughput_plan, Results};

/// Everything missing or implausible, one line each; empty when the run is complete.
pub fn problems(config: &Config, results: &Results) -> Vec<String> {
    let mut problems = results.failures.clone();
    if config.runs("throughput") {
        throughput(config, results, &mut problems);
    }
    if config.runs("cancel") {
        cancel(config, results, &mut problems);
    }
    if config.runs("memory") {
        memory(config, results, &mut problems);
    }
    if config.runs("queue") {
        queue(config, results, &mut problems);
    }
    if let Original::Failed(reason) = &results.original {
        problems.push(format!("original: {reason}"));
    }
    problems
}

fn plausible(cost: &PerItem) -> bool {
    cost.wall_ns.is_finite() && cost.wall_ns > 0.0 && cost.cpu_ns.is_finite() && cost.cpu_ns > 0.0
}

fn throughput(config: &Config, results: &Results, problems: &mut Vec<String>) {
    for (shape, contenders) in throughput_plan(config) {
        let what = format!(
            "throughput {}, {} steps, {} in flight",
            shape.flavor.name(),
            shape.steps.count(),
            shape.in_flight
        );
        let Some(group) = results.throughput.iter().find(|group| group.shape == shape) else {
            problems.push(format!("{what}: not measured"));
            continue;
        };
        for which in contenders {
            match group.row(which) {
                None => problems.push(format!("{what}: no row for {}", which.name())),
                Some(row) if row.samples.len() != config.reps => problems.push(format!(
                    "{what}: {} has {} repetitions, not {}",
                    which.name(),
                    row.samples.len(),
                    config.reps
                )),
                Some(row) if !row.samples.iter().all(plausible) => problems.push(format!(
                    "{what}: {} has a repetition without a positive time",
                    which.name()
                )),
                Some(_) => {}
            }
        }
    }
}

fn cancel(config: &Config, results: &Results, problems: &mut Vec<String>) {
    for &flavor in &config.flavors {
        let what = format!("cancel {}", flavor.name());
        let Some(group) = results.cancel_group(flavor) else {
            problems.push(format!("{what}: not measured"));
            continue;
        };
        let latencies = config.reps * config.cancel_tasks;
        for &which in config.contenders.iter().filter(|which| which.cancels()) {
            let name = which.name();
            match group.row(which) {
                None => problems.push(format!("{what}: no row for {name}")),
                Some(row) if row.cancel_all.len() != config.reps => problems.push(format!(
                    "{what}: {name} has {} cancel-all repetitions, not {}",
                    row.cancel_all.len(),
                    config.reps
                )),
                Some(row) if row.cancel_all.iter().any(|d| d.is_zero()) => {
                    problems.push(format!("{what}: {name} cancelled everything in no time"))
                }
                Some(row)
                    if row.on_runtime.samples != latencies
                        || row.outside_thread.samples != latencies =>
                {
                    problems.push(format!(
                        "{what}: {name} has {} and {} latencies, not {latencies} each",
                        row.on_runtime.samples, row.outside_thread.samples
                    ))
                }
                Some(_) => {}
            }
        }
    }
}

fn memory(config: &Config, results: &Results, problems: &mut Vec<String>) {
    for request in memory_plan(config) {
        let what = format!(
            "memory {}, {}",
            request.flavor.name(),
            request.contender.name()
        );
        let row = results
            .memory
            .iter()
            .find(|row| row.contender == request.contender && row.flavor == request.flavor);
        let Some(row) = row else {
            problems.push(format!("{what}: not measured"));
            continue;
        };
        let weight = row.weight;
        // Every parked task holds at least its task cell: fewer than one allocation per task
        // means the counting allocator was not the one allocating.
        if !(weight.allocations_per_task >= 1.0 && weight.heap_bytes_per_task > 0.0) {
            problems.push(format!(
                "{what}: {} allocations and {} heap bytes per task; the counting allocator saw nothing",
                weight.allocations_per_task, weight.heap_bytes_per_task
            ));
        }
        if !weight.rss_bytes_per_task.is_finite() {
            problems.push(format!("{what}: no RSS figure"));
        }
    }
}

fn queue(config: &Config, results: &Results, problems: &mut Vec<String>) {
    for &flavor in &config.flavors {
        for variant in Variant::ALL {
            let row = results
                .queue
                .iter()
                .find(|row| row.variant == variant && row.flavor == flavor);
            let what = format!("queue {}, {}", flavor.name(), variant.name());
            match row {
                None => problems.push(format!("{what}: not measured")),
                Some(row) if !plausible(&row.cost) => {
                    problems.push(format!("{what}: no positive time"))
                }
                Some(_) => {}
            }
        }
    }
}
