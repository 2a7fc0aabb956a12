//! The machine-readable summary: one JSON object with every figure and the ratios.

use serde_json::{json, Value};

use crate::config::Config;
use crate::machine::Machine;
use crate::measure::Percentiles;
use crate::scenarios::Results;

pub fn summary(config: &Config, machine: &Machine, results: &Results) -> Value {
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
        "throughput": results.throughput.iter().map(|row| json!({
            "contender": row.contender.name(),
            "runtime": row.shape.flavor.name(),
            "steps": row.shape.steps.count(),
            "in_flight": row.shape.in_flight,
            "tasks": row.shape.tasks,
            "reps": row.reps,
            "wall_ns_per_task": round(row.cost.wall_ns),
            "cpu_ns_per_task": round(row.cost.cpu_ns),
            "best_wall_ns_per_task": round(row.best.wall_ns),
            "best_cpu_ns_per_task": round(row.best.cpu_ns),
            "foreign_cpu_share": round(row.cost.foreign),
        })).collect::<Vec<_>>(),
        // Largest share of the cores other processes used during a throughput row.
        "interference": results.interference().map(round),
        "future_size_bytes": results.future_sizes.iter().map(|(which, steps, size)| json!({
            "contender": which.name(),
            "steps": steps.count(),
            "bytes": size,
        })).collect::<Vec<_>>(),
        "cancel": results.cancel.iter().map(|row| json!({
            "contender": row.contender.name(),
            "runtime": row.flavor.name(),
            "tasks": row.tasks,
            "on_runtime": percentiles(row.on_runtime),
            "outside_thread": percentiles(row.outside_thread),
            "cancel_all_ns": row.cancel_all.as_nanos() as u64,
        })).collect::<Vec<_>>(),
        "memory": results.memory.iter().map(|row| json!({
            "contender": row.contender.name(),
            "runtime": row.flavor.name(),
            "tasks": row.tasks,
            "rss_bytes_per_task": round(row.rss_bytes_per_task),
            "heap_bytes_per_task": round(row.heap_bytes_per_task),
            "allocations_per_task": round(row.allocations_per_task),
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
            "target": ratio.target.map(|t| t.describe()),
            "met": ratio.met(),
        })).collect::<Vec<_>>(),
    })
}

fn percentiles(p: Percentiles) -> Value {
    json!({ "p50_ns": p.p50_ns, "p99_ns": p.p99_ns, "max_ns": p.max_ns })
}

/// Two decimals are plenty and keep the line readable.
fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}
