//! Wall and CPU clocks, medians, spreads and percentiles.

use std::time::{Duration, Instant};

use cpu_time::ProcessTime;

/// What one timed region cost.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    pub wall: Duration,
    /// CPU time of every thread of the process (`CLOCK_PROCESS_CPUTIME_ID`, the same account
    /// as getrusage's user + system): on multi_thread it shows work that wall time hides.
    pub cpu: Duration,
    /// Share of the machine's cores that other processes used meanwhile (0 = none, 1 = all).
    /// The machine is shared: anything above a few percent inflates the figures.
    pub foreign: f64,
}

impl Cost {
    pub fn per_item(self, items: usize) -> PerItem {
        let items = items.max(1) as f64;
        PerItem {
            wall_ns: self.wall.as_nanos() as f64 / items,
            cpu_ns: self.cpu.as_nanos() as f64 / items,
            foreign: self.foreign,
        }
    }
}

/// Nanoseconds per task, and how disturbed the run was.
#[derive(Debug, Clone, Copy)]
pub struct PerItem {
    pub wall_ns: f64,
    pub cpu_ns: f64,
    pub foreign: f64,
}

/// Times `region` on the wall clock and on the process CPU clock.
pub fn timed<T>(region: impl FnOnce() -> T) -> (T, Cost) {
    let busy_start = machine_busy();
    let cpu_start = ProcessTime::try_now().expect("reading the process CPU clock");
    let wall_start = Instant::now();
    let value = region();
    let wall = wall_start.elapsed();
    let cpu = cpu_start
        .try_elapsed()
        .expect("reading the process CPU clock");
    let foreign = match (busy_start, machine_busy()) {
        // /proc/stat counts in 10 ms ticks: too coarse to judge a shorter run.
        _ if wall < Duration::from_millis(200) => 0.0,
        (Some(start), Some(end)) => {
            let others = end.saturating_sub(start).saturating_sub(cpu);
            let capacity = wall.as_secs_f64() * cores() as f64;
            (others.as_secs_f64() / capacity).min(1.0)
        }
        _ => 0.0,
    };
    (value, Cost { wall, cpu, foreign })
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// CPU time all processes spent busy since boot, from the first line of /proc/stat. Counted
/// in 10 ms ticks: precise enough over runs of a good fraction of a second.
fn machine_busy() -> Option<Duration> {
    // Linux's USER_HZ is 100 on every mainstream architecture.
    const TICK: Duration = Duration::from_millis(10);
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|field| field.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait are busy.
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| fields.get(i))
        .sum();
    Some(TICK * u32::try_from(busy).ok()?)
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
        foreign: pick(|s| s.foreign),
    }
}

/// Minimum of each field over repetitions: the least disturbed run, useful on a shared
/// machine where another process steals the cores now and then.
pub fn best(samples: &[PerItem]) -> PerItem {
    let min = |field: fn(&PerItem) -> f64| samples.iter().map(field).fold(f64::INFINITY, f64::min);
    PerItem {
        wall_ns: min(|s| s.wall_ns),
        cpu_ns: min(|s| s.cpu_ns),
        foreign: min(|s| s.foreign),
    }
}

/// A figure over repetitions, e.g. the library's time divided by a baseline's, one value
/// per repetition: its median and how far the repetitions spread.
#[derive(Debug, Clone)]
pub struct Spread {
    /// The values in repetition order.
    pub values: Vec<f64>,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// First and third quartiles (linear interpolation between ranks).
    pub q1: f64,
    pub q3: f64,
}

impl Spread {
    /// `None` without values, or if one is not a finite number.
    pub fn of(values: Vec<f64>) -> Option<Self> {
        if values.is_empty() || values.iter().any(|value| !value.is_finite()) {
            return None;
        }
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let quantile = |q: f64| {
            let rank = q * (sorted.len() - 1) as f64;
            let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
            sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
        };
        Some(Spread {
            median: quantile(0.5),
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            q1: quantile(0.25),
            q3: quantile(0.75),
            values,
        })
    }

    /// Element-wise `numerator[i] / denominator[i]`: the ratio within each repetition.
    pub fn of_ratios(numerator: &[f64], denominator: &[f64]) -> Option<Self> {
        if numerator.len() != denominator.len() {
            return None;
        }
        let ratios = numerator.iter().zip(denominator);
        Spread::of(ratios.map(|(n, d)| n / d).collect())
    }
}

/// Latency distribution in nanoseconds.
#[derive(Debug, Clone, Copy)]
pub struct Percentiles {
    /// How many latencies were measured.
    pub samples: usize,
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
            samples: samples.len(),
            p50_ns: at(0.50),
            p99_ns: at(0.99),
            max_ns: samples[samples.len() - 1],
        }
    }
}
