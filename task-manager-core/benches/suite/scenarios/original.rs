//! The original TypeScript library, run by node through `benches/original/run.sh` with the
//! suite's sizes. Its JSON line is kept whole in the summary; the headline figures feed the
//! table, the chart and the ratios.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::config::{Config, HEADLINE_IN_FLIGHT};

/// What the node run produced.
#[derive(Debug, Clone)]
pub enum Original {
    Measured(Value),
    /// Not measured, and that is no fault of the suite (disabled, no node, no registry to
    /// install the package from); the reason is reported.
    Skipped(String),
    /// The script ran and broke: the run fails (see `check.rs`).
    Failed(String),
}

/// `run.sh`'s exit codes for "this machine cannot run the original".
const NO_NODE: i32 = 3;
const CANNOT_INSTALL: i32 = 4;

/// One throughput figure of the original.
#[derive(Debug, Clone, Copy)]
pub struct Figure {
    pub wall_ns: f64,
    pub cpu_ns: f64,
}

impl Original {
    pub fn run(config: &Config) -> Self {
        if !config.original {
            return Original::Skipped("disabled by TM_BENCH_ORIGINAL=0".into());
        }
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/original/run.sh");
        let output = Command::new("bash")
            .arg(&script)
            .env("TM_BENCH_SMOKE", if config.smoke { "1" } else { "0" })
            .env("TM_ORIG_TASKS", config.tasks.to_string())
            .env("TM_ORIG_SCALING_TASKS", config.serial_tasks.to_string())
            .env("TM_ORIG_CANCEL_TASKS", config.cancel_tasks.to_string())
            .env("TM_ORIG_MEMORY_TASKS", config.memory_tasks.to_string())
            .output();
        // A missing node or registry must not fail the suite: the Rust figures still stand.
        let output = match output {
            Ok(output) => output,
            Err(error) => return Original::Skipped(format!("cannot start bash: {error}")),
        };
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
            return match output.status.code() {
                Some(NO_NODE | CANNOT_INSTALL) => Original::Skipped(stderr),
                _ => Original::Failed(format!("run.sh failed ({}): {stderr}", output.status)),
            };
        }
        let last_line = String::from_utf8_lossy(&output.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .to_owned();
        match serde_json::from_str(&last_line) {
            Ok(value) => Original::Measured(value),
            Err(error) => Original::Failed(format!("run.sh printed no JSON ({error})")),
        }
    }

    pub fn json(&self) -> Value {
        match self {
            Original::Measured(value) => value.clone(),
            Original::Skipped(reason) => serde_json::json!({ "skipped": reason }),
            Original::Failed(reason) => serde_json::json!({ "failed": reason }),
        }
    }

    /// Throughput for one yield equivalent and shape, if measured.
    pub fn figure(&self, yield_name: &str, steps: usize, in_flight: usize) -> Option<Figure> {
        let Original::Measured(value) = self else {
            return None;
        };
        value["throughput"].as_array()?.iter().find_map(|run| {
            let matches = run["yield"] == yield_name
                && run["steps"].as_u64() == Some(steps as u64)
                && run["in_flight"].as_u64() == Some(in_flight as u64);
            matches.then(|| Figure {
                wall_ns: run["wall_ns_per_task"].as_f64().unwrap_or(f64::NAN),
                cpu_ns: run["cpu_ns_per_task"].as_f64().unwrap_or(f64::NAN),
            })
        })
    }

    /// The headline: 3 steps, 1,000 in flight, `setImmediate` as the yield.
    pub fn headline(&self) -> Option<Figure> {
        self.figure("setImmediate", 3, HEADLINE_IN_FLIGHT)
    }
}
