//! Wall and CPU clocks, medians and percentiles.

use std::time::{Duration, Instant};

use cpu_time::ProcessTime;

/// What one timed region cost.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    pub wall: Duration,
    /// CPU time of every thread of the process (`CLOCK_PROCESS_CPUTIME_ID`, the same account
    /// as getrusage's user + system): on multi_thread it shows work that wall time hides.
    pub cpu: Duration,
}

impl Cost {
    pub fn per_item(self, items: usize) -> PerItem {
        let items = items.max(1) as f64;
        PerItem {
            wall_ns: self.wall.as_nanos() as f64 / items,
            cpu_ns: self.cpu.as_nanos() as f64 / items,
        }
    }
}

/// Nanoseconds per task.
#[derive(Debug, Clone, Copy)]
pub struct PerItem {
    pub wall_ns: f64,
    pub cpu_ns: f64,
}

/// Times `region` on the wall clock and on the process CPU clock.
pub fn timed<T>(region: impl FnOnce() -> T) -> (T, Cost) {
    let cpu_start = ProcessTime::try_now().expect("reading the process CPU clock");
    let wall_start = Instant::now();
    let value = region();
    let wall = wall_start.elapsed();
    let cpu = cpu_start
        .try_elapsed()
        .expect("reading the process CPU clock");
    (value, Cost { wall, cpu })
}

/// Median of each field over repetitions (upper median for even counts).
pub fn median(samples: &[PerItem]) -> PerItem {
    let pick = |field: fn(&PerItem) -> f64| {
        let mut values: Vec<f64> = samples.iter().map(field).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    PerItem {
        wall_ns: pick(|s| s.wall_ns),
        cpu_ns: pick(|s| s.cpu_ns),
    }
}

/// Minimum of each field over repetitions: the least disturbed run, useful on a shared
/// machine where another process steals the cores now and then.
pub fn best(samples: &[PerItem]) -> PerItem {
    let min = |field: fn(&PerItem) -> f64| samples.iter().map(field).fold(f64::INFINITY, f64::min);
    PerItem {
        wall_ns: min(|s| s.wall_ns),
        cpu_ns: min(|s| s.cpu_ns),
    }
}

/// Latency distribution in nanoseconds.
#[derive(Debug, Clone, Copy)]
pub struct Percentiles {
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
}

impl Percentiles {
    pub fn of(mut samples: Vec<u64>) -> Self {
        assert!(!samples.is_empty(), "no latency samples");
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
        Percentiles {
            p50_ns: at(0.50),
            p99_ns: at(0.99),
            max_ns: samples[samples.len() - 1],
        }
    }
}
