//! What the suite and the `memory` bench binary say to each other: the suite starts the binary
//! once per contender and runtime with a [`Request`] as its arguments, and reads back one line,
//! a [`Weight`] as JSON. Both binaries include this file, so the two sides cannot drift.

use serde_json::{json, Value};

use crate::contenders::Which;
use crate::runtime::Flavor;

/// Park `tasks` tasks of one contender on a fresh runtime and weigh them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub contender: Which,
    pub flavor: Flavor,
    pub tasks: usize,
}

impl Request {
    /// The command line: `<contender> <runtime> <tasks>`.
    pub fn to_args(self) -> [String; 3] {
        [
            self.contender.name().to_string(),
            self.flavor.name().to_string(),
            self.tasks.to_string(),
        ]
    }

    pub fn from_args(args: &[String]) -> Result<Self, String> {
        let [contender, flavor, tasks] = args else {
            return Err(format!(
                "expected `<contender> <runtime> <tasks>`, got {args:?}"
            ));
        };
        let contender = Which::parse(contender)
            .filter(|which| which.parks())
            .ok_or_else(|| format!("{contender:?} is not a contender that parks tasks"))?;
        let flavor = Flavor::parse(flavor).ok_or_else(|| format!("{flavor:?} is not a runtime"))?;
        let tasks = tasks
            .parse()
            .map_err(|_| format!("{tasks:?} is not a number of tasks"))?;
        Ok(Request {
            contender,
            flavor,
            tasks,
        })
    }
}

/// Memory per parked task.
#[derive(Debug, Clone, Copy)]
pub struct Weight {
    /// Growth of the resident set while the tasks were spawned and parked.
    pub rss_bytes_per_task: f64,
    /// Heap bytes still allocated, counted on the spawning thread.
    pub heap_bytes_per_task: f64,
    pub allocations_per_task: f64,
}

impl Weight {
    pub fn to_line(self) -> String {
        json!({
            "rss_bytes_per_task": self.rss_bytes_per_task,
            "heap_bytes_per_task": self.heap_bytes_per_task,
            "allocations_per_task": self.allocations_per_task,
        })
        .to_string()
    }

    pub fn from_line(line: &str) -> Result<Self, String> {
        let value: Value =
            serde_json::from_str(line).map_err(|error| format!("not JSON ({error}): {line:?}"))?;
        let field = |name: &str| {
            value[name]
                .as_f64()
                .ok_or_else(|| format!("no number {name:?} in {line:?}"))
        };
        Ok(Weight {
            rss_bytes_per_task: field("rss_bytes_per_task")?,
            heap_bytes_per_task: field("heap_bytes_per_task")?,
            allocations_per_task: field("allocations_per_task")?,
        })
    }
}
