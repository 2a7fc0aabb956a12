//! The machine-readable summary: one JSON object with every figure and the ratios.

use serde_json::{json, Value};

use crate::config::Config;
use crate::contenders::Which;
use crate::machine::Machine;
use crate::measure::{Percentiles, Spread};
use crate::scenarios::throughput::Clock;
use crate::scenarios::Results;

pub fn summary(
    config: &Config,
    machine: &Machine,
    results: &Results,
    problems: &[String],
) -> Value {
    json!({
        "suite": "task-manager-core benches/suite",
        "machine": machine.json(),
        "config": {
            "smoke": config.smoke,
            "tasks": config.tasks,
            "serial_tasks": config.serial_tasks,
            "in_flight": config.in_flight,
            "steps": config.steps.iter().map(|s| s.count()).collect::<Vec<_>>(),
            "reps": config.reps,
            "driver": config.driver.name(),
            "contenders": config.contenders.iter().map(|w| w.name()).collect::<Vec<_>>(),
            "runtimes": config.flavors.iter().map(|f| f.name()).collect::<Vec<_>>(),
            "cancel_tasks": config.cancel_tasks,
            "memory_tasks": config.memory_tasks,
            "queue_tasks": config.queue_tasks,
            "queue_permits": config.queue_permits,
        },
        "method": {
            "repetitions": "contenders take turns within each repetition, one run each on a fresh runtime",
            "ratios": "computed within each repetition; median, min, max and quartiles over the repetitions",
            "allocator": "throughput and cancel run in the suite's process with the system allocator",
            "memory": "one process of the `memory` bench binary (counting allocator) per contender and runtime",
        },
        // Everything the suite was asked to measure and did not; empty when complete.
        "complete": problems.is_empty(),
        "problems": problems,
        "throughput": results.throughput.iter().map(|group| json!({
            "runtime": group.shape.flavor.name(),
            "steps": group.shape.steps.count(),
            "in_flight": group.shape.in_flight,
            "tasks": group.shape.tasks,
            "contenders": group.rows.iter().map(|row| json!({
                "contender": row.contender.name(),
                "reps": row.samples.len(),
                "wall_ns_per_task": round(row.cost.wall_ns),
                "cpu_ns_per_task": round(row.cost.cpu_ns),
                "best_wall_ns_per_task": round(row.best.wall_ns),
                "best_cpu_ns_per_task": round(row.best.cpu_ns),
                "foreign_cpu_share": round(row.cost.foreign),
                "wall_ns_per_rep": row.samples.iter().map(|s| round(s.wall_ns)).collect::<Vec<_>>(),
                "cpu_ns_per_rep": row.samples.iter().map(|s| round(s.cpu_ns)).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "ratios": Which::BASELINES.iter().map(|&baseline| json!({
                "numerator": Which::Library.name(),
                "denominator": baseline.name(),
                "wall": spread(group.ratio(Which::Library, baseline, Clock::Wall)),
                "cpu": spread(group.ratio(Which::Library, baseline, Clock::Cpu)),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        // Largest share of the cores other processes used during a throughput row.
        "interference": results.interference().map(round),
        "future_size_bytes": results.future_sizes.iter().map(|(which, steps, size)| json!({
            "contender": which.name(),
            "steps": steps.count(),
            "bytes": size,
        })).collect::<Vec<_>>(),
        "cancel": results.cancel.iter().map(|group| json!({
            "runtime": group.flavor.name(),
            "tasks": group.tasks,
            "contenders": group.rows.iter().map(|row| json!({
                "contender": row.contender.name(),
                "reps": row.cancel_all.len(),
                "on_runtime": percentiles(row.on_runtime),
                "outside_thread": percentiles(row.outside_thread),
                "cancel_all_ns": row.cancel_all_median().map(|d| d.as_nanos() as u64),
                "cancel_all_ns_per_rep": row.cancel_all.iter().map(|d| d.as_nanos() as u64).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "ratios": Which::BASELINES.iter().map(|&baseline| json!({
                "numerator": Which::Library.name(),
                "denominator": baseline.name(),
                "cancel_all": spread(group.cancel_all_ratio(Which::Library, baseline)),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "memory": results.memory.iter().map(|row| json!({
            "contender": row.contender.name(),
            "runtime": row.flavor.name(),
            "tasks": row.tasks,
            "rss_bytes_per_task": round(row.weight.rss_bytes_per_task),
            "heap_bytes_per_task": round(row.weight.heap_bytes_per_task),
            "allocations_per_task": round(row.weight.allocations_per_task),
        })).collect::<Vec<_>>(),
        "queue": results.queue.iter().map(|row| json!({
            "variant": row.variant.name(),
            "runtime": row.flavor.name(),
            "tasks": row.tasks,
            "permits": row.permits,
            "wall_ns_per_task": round(row.cost.wall_ns),
            "cpu_ns_per_task": round(row.cost.cpu_ns),
        })).collect::<Vec<_>>(),
        "original": results.original.json(),
        "ratios": results.ratios().iter().map(|ratio| json!({
            "name": ratio.name,
            "runtime": ratio.flavor.name(),
            "value": ratio.value.map(round),
            "spread": spread(ratio.spread.clone()),
            "target": ratio.target.map(|t| t.describe()),
            "met": ratio.met(),
        })).collect::<Vec<_>>(),
    })
}

fn percentiles(p: Percentiles) -> Value {
    json!({ "samples": p.samples, "p50_ns": p.p50_ns, "p99_ns": p.p99_ns, "max_ns": p.max_ns })
}

/// A per-repetition figure: `null` when a side is missing.
fn spread(spread: Option<Spread>) -> Value {
    let Some(s) = spread else {
        return Value::Null;
    };
    json!({
        "median": round4(s.median),
        "min": round4(s.min),
        "max": round4(s.max),
        "q1": round4(s.q1),
        "q3": round4(s.q3),
        "per_rep": s.values.iter().copied().map(round4).collect::<Vec<_>>(),
    })
}

/// Two decimals are plenty and keep the line readable.
fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Ratios near 1 need more than two.
fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}
