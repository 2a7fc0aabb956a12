//! Sizes of every scenario, read once from the environment.
//!
//! A smoke run (tiny sizes, a few seconds) happens when `TM_BENCH_SMOKE=1` or when the binary
//! is started without cargo's `--bench` flag, i.e. by `cargo test --bench suite`: that keeps the
//! suite compiling and running as part of the tests without making them slow.

use std::path::{Path, PathBuf};

use crate::contenders::Which;
use crate::runtime::Flavor;
use crate::scenarios::driver::Driver;
use crate::steps::Steps;

/// What one run of the suite measures.
#[derive(Debug, Clone)]
pub struct Config {
    pub smoke: bool,
    /// Tasks per throughput run (the 1,000,000).
    pub tasks: usize,
    /// Tasks per run at 1 in flight, where every task pays a full wake-up round trip.
    pub serial_tasks: usize,
    /// Loads (tasks in flight) of the throughput table; the headline uses `HEADLINE_IN_FLIGHT`.
    pub in_flight: Vec<usize>,
    pub steps: Vec<Steps>,
    /// How tasks are kept in flight (`TM_BENCH_DRIVER=window|clients`).
    pub driver: Driver,
    /// Repetitions of each throughput and cancel-all measurement, contenders interleaved
    /// within each; medians and spreads are over these.
    pub reps: usize,
    pub cancel_tasks: usize,
    pub memory_tasks: usize,
    pub queue_tasks: usize,
    pub queue_permits: usize,
    /// Whether to run the original TypeScript library through `benches/original/run.sh`.
    pub original: bool,
    /// Where the JSON summary and the SVG chart are written.
    pub out_dir: PathBuf,
    /// Scenarios to run (`TM_BENCH_ONLY=throughput,cancel`); all when unset.
    pub only: Option<Vec<String>>,
    /// Contenders to measure (`TM_BENCH_CONTENDERS=token,library`).
    pub contenders: Vec<Which>,
    /// Runtimes to measure on (`TM_BENCH_RUNTIMES=current_thread`).
    pub flavors: Vec<Flavor>,
}

/// Scenario names accepted by `TM_BENCH_ONLY`.
pub const SCENARIOS: [&str; 5] = ["throughput", "cancel", "memory", "queue", "original"];

/// The headline: 1,000 tasks in flight.
pub const HEADLINE_IN_FLIGHT: usize = 1_000;

/// Fewer repetitions than this and a spread says little; the report says so.
pub const ENOUGH_REPS: usize = 7;

impl Config {
    pub fn from_env() -> Self {
        let smoke = env_flag("TM_BENCH_SMOKE")
            .unwrap_or_else(|| !std::env::args().any(|arg| arg == "--bench"));
        let size = |name: &str, full: usize, tiny: usize| {
            env_usize(name).unwrap_or(if smoke { tiny } else { full })
        };
        let tasks = size("TM_BENCH_TASKS", 1_000_000, 2_000);
        Config {
            smoke,
            tasks,
            serial_tasks: size("TM_BENCH_SERIAL_TASKS", tasks / 10, 500),
            // The same loads in a smoke run: fewer tasks than in flight just means all at once.
            in_flight: env_list("TM_BENCH_IN_FLIGHT")
                .unwrap_or_else(|| vec![1, HEADLINE_IN_FLIGHT, 100_000]),
            steps: env_list("TM_BENCH_STEPS")
                .map(|counts| counts.into_iter().map(Steps::from_count).collect())
                .unwrap_or_else(|| vec![Steps::One, Steps::Three, Steps::Ten]),
            driver: std::env::var("TM_BENCH_DRIVER").map_or(Driver::Window, |name| {
                Driver::parse(&name).expect("TM_BENCH_DRIVER is `window` or `clients`")
            }),
            reps: size("TM_BENCH_REPS", ENOUGH_REPS, 3).max(1),
            cancel_tasks: size("TM_BENCH_CANCEL_TASKS", 10_000, 200),
            memory_tasks: size("TM_BENCH_MEMORY_TASKS", 100_000, 1_000),
            queue_tasks: size("TM_BENCH_QUEUE_TASKS", 100_000, 1_000),
            queue_permits: 4,
            original: env_flag("TM_BENCH_ORIGINAL").unwrap_or(true),
            out_dir: std::env::var_os("TM_BENCH_OUT")
                .map(PathBuf::from)
                .unwrap_or_else(default_out_dir),
            contenders: env_names("TM_BENCH_CONTENDERS", Which::parse)
                .unwrap_or_else(|| Which::ALL.to_vec()),
            flavors: env_names("TM_BENCH_RUNTIMES", Flavor::parse)
                .unwrap_or_else(|| Flavor::ALL.to_vec()),
            only: std::env::var("TM_BENCH_ONLY").ok().map(|list| {
                let names: Vec<String> = list.split(',').map(|s| s.trim().to_string()).collect();
                for name in &names {
                    assert!(
                        SCENARIOS.contains(&name.as_str()),
                        "TM_BENCH_ONLY: unknown scenario {name:?}; known: {SCENARIOS:?}"
                    );
                }
                names
            }),
        }
    }

    pub fn runs(&self, scenario: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|names| names.iter().any(|name| name == scenario))
    }

    /// Tasks for one throughput run: fewer at 1 in flight, where each task costs a round trip.
    pub fn tasks_for(&self, in_flight: usize) -> usize {
        if in_flight == 1 {
            self.serial_tasks
        } else {
            self.tasks
        }
    }
}

fn default_out_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new(env!("CARGO_MANIFEST_DIR")));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    target.join("task-manager-bench")
}

fn env_usize(name: &str) -> Option<usize> {
    let raw = std::env::var(name).ok()?;
    let cleaned: String = raw.chars().filter(|c| *c != '_' && *c != ',').collect();
    match cleaned.parse() {
        Ok(value) => Some(value),
        Err(_) => panic!("{name}={raw:?} is not a whole number"),
    }
}

/// A comma-separated list of whole numbers, e.g. `TM_BENCH_IN_FLIGHT=1,1000`.
fn env_list(name: &str) -> Option<Vec<usize>> {
    let raw = std::env::var(name).ok()?;
    let parsed = raw
        .split(',')
        .map(|item| item.trim().replace('_', "").parse::<usize>())
        .collect::<Result<Vec<_>, _>>();
    match parsed {
        Ok(list) if !list.is_empty() => Some(list),
        _ => panic!("{name}={raw:?} is not a comma-separated list of whole numbers"),
    }
}

/// A comma-separated list of names, each parsed by `parse`.
fn env_names<T>(name: &str, parse: fn(&str) -> Option<T>) -> Option<Vec<T>> {
    let raw = std::env::var(name).ok()?;
    let parsed = raw
        .split(',')
        .map(|item| parse(item.trim()).ok_or(item))
        .collect::<Result<Vec<T>, _>>();
    match parsed {
        Ok(list) => Some(list),
        Err(item) => panic!("{name}: unknown name {item:?}"),
    }
}

fn env_flag(name: &str) -> Option<bool> {
    std::env::var(name).ok().map(|value| value != "0")
}
