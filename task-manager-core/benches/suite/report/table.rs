//! The human-readable report: Markdown tables, ready to paste into the README.

use std::fmt::Write;
use std::time::Duration;

use crate::config::{Config, ENOUGH_REPS, HEADLINE_IN_FLIGHT};
use crate::contenders::Which;
use crate::measure::Spread;
use crate::runtime::Flavor;
use crate::scenarios::queue::Variant;
use crate::scenarios::throughput::Clock;
use crate::scenarios::Results;
use crate::steps::Steps;

/// A Markdown table under construction.
struct Table {
    title: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(title: impl Into<String>, header: &[&str]) -> Self {
        Table {
            title: title.into(),
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn render(&self, out: &mut String) {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.len()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: &[String], out: &mut String| {
            out.push('|');
            for (index, width) in widths.iter().enumerate().take(columns) {
                let cell = cells.get(index).map(String::as_str).unwrap_or("");
                // First column is a label (left); the rest are figures (right).
                if index == 0 {
                    let _ = write!(out, " {cell:<width$} |");
                } else {
                    let _ = write!(out, " {cell:>width$} |");
                }
            }
            out.push('\n');
        };
        let _ = writeln!(out, "\n### {}\n", self.title);
        line(&self.header, out);
        out.push('|');
        for (index, width) in widths.iter().enumerate() {
            // Markdown alignment: labels left, figures right.
            let rule = if index == 0 {
                "-".repeat(*width)
            } else {
                format!("{}:", "-".repeat(width - 1))
            };
            let _ = write!(out, " {rule} |");
        }
        out.push('\n');
        for row in &self.rows {
            line(row, out);
        }
    }
}

fn ns(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.0}"))
}

fn micros(nanos: u64) -> String {
    format!("{:.2}", nanos as f64 / 1_000.0)
}

/// A per-repetition ratio: its median, then the least and the greatest repetition.
fn ratio(spread: Option<&Spread>) -> String {
    spread.map_or_else(
        || "-".into(),
        |s| format!("{:.2} ({:.2}–{:.2})", s.median, s.min, s.max),
    )
}

/// Above this share of the cores taken by other processes, the report warns.
const INTERFERENCE_WARNING: f64 = 0.05;

pub fn render(config: &Config, results: &Results, problems: &[String]) -> String {
    let mut out = String::new();
    if !problems.is_empty() {
        let _ = writeln!(
            out,
            "\n**FAILED:** the suite did not measure everything it was asked to:\n"
        );
        for problem in problems {
            let _ = writeln!(out, "- {problem}");
        }
    }
    if let Some(ratio) = results.interference().filter(|r| *r > INTERFERENCE_WARNING) {
        let _ = writeln!(
            out,
            "\n**Warning:** other processes used up to {:.0}% of the cores during a \
             throughput measurement, so its figures are inflated. Rerun on a quiet machine.",
            ratio * 100.0
        );
    }
    if config.reps < ENOUGH_REPS {
        let _ = writeln!(
            out,
            "\n**Note:** {} repetitions (fewer than {ENOUGH_REPS}): the spreads say little.",
            config.reps
        );
    }
    let _ = writeln!(
        out,
        "\nMethod: the contenders take turns within each of {} repetitions (one run each, a \
         fresh runtime per run); a ratio is computed within each repetition and shown as \
         `median (min–max)` over the repetitions. Memory is measured by the `memory` bench \
         binary, one process per contender and runtime; this process has no counting \
         allocator.",
        config.reps
    );
    headline(config, results).render(&mut out);
    for clock in [Clock::Wall, Clock::Cpu] {
        loads(config, results, clock).render(&mut out);
    }
    steps(config, results).render(&mut out);
    cancellation(config, results).render(&mut out);
    cancel_all_ratios(config, results).render(&mut out);
    memory(config, results).render(&mut out);
    future_sizes(results).render(&mut out);
    queue(config, results).render(&mut out);
    ratios(results).render(&mut out);
    out
}

fn headline(config: &Config, results: &Results) -> Table {
    let mut table = Table::new(
        format!(
            "Per-task cost, 3 steps, {HEADLINE_IN_FLIGHT} in flight ({} driver), {} tasks (ns/task, median of {})",
            config.driver.name(), config.tasks, config.reps
        ),
        &["contender", "current_thread wall", "current_thread CPU", "multi_thread wall", "multi_thread CPU"],
    );
    for which in Which::ALL {
        let mut cells = vec![format!("{} ({})", which.name(), which.describe())];
        for flavor in Flavor::ALL {
            let cost = results.headline(which, flavor);
            cells.push(ns(cost.map(|c| c.wall_ns)));
            cells.push(ns(cost.map(|c| c.cpu_ns)));
        }
        table.row(cells);
    }
    for (yield_name, label) in [
        (
            "setImmediate",
            "original, node, setImmediate yield (one event loop: same in both)",
        ),
        (
            "microtask",
            "original, node, microtask yield (one event loop: same in both)",
        ),
    ] {
        let figure = results.original.figure(yield_name, 3, HEADLINE_IN_FLIGHT);
        let wall = ns(figure.map(|f| f.wall_ns));
        let cpu = ns(figure.map(|f| f.cpu_ns));
        table.row(vec![label.into(), wall.clone(), cpu.clone(), wall, cpu]);
    }
    table
}

/// One row per load and runtime: every contender's ns/task and the library's two ratios.
fn loads(config: &Config, results: &Results, clock: Clock) -> Table {
    let clock_name = match clock {
        Clock::Wall => "wall",
        Clock::Cpu => "CPU",
    };
    let mut header: Vec<String> = ["in flight", "runtime", "tasks"].map(String::from).to_vec();
    header.extend(Which::ALL.iter().map(|which| which.name().to_string()));
    header.extend(
        Which::BASELINES
            .iter()
            .map(|baseline| format!("library / {}", baseline.name())),
    );
    if clock == Clock::Wall {
        header.push("original (node)".into());
    }
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut table = Table::new(
        format!(
            "Throughput by load, 3 steps ({clock_name} ns/task, median of {} interleaved repetitions; ratios per repetition: median (min–max))",
            config.reps
        ),
        &header,
    );
    for &in_flight in &config.in_flight {
        for flavor in Flavor::ALL {
            let Some(group) = results.throughput_group(flavor, Steps::Three, in_flight) else {
                continue;
            };
            let mut cells = vec![
                in_flight.to_string(),
                flavor.name().to_string(),
                group.shape.tasks.to_string(),
            ];
            for which in Which::ALL {
                cells.push(ns(group.row(which).map(|row| clock.of(&row.cost))));
            }
            for baseline in Which::BASELINES {
                cells.push(ratio(group.ratio(Which::Library, baseline, clock).as_ref()));
            }
            if clock == Clock::Wall {
                let figure = results.original.figure("setImmediate", 3, in_flight);
                cells.push(ns(figure.map(|f| f.wall_ns)));
            }
            table.row(cells);
        }
    }
    table
}

fn steps(config: &Config, results: &Results) -> Table {
    let mut header = vec!["contender".to_string(), "runtime".to_string()];
    header.extend(config.steps.iter().map(|s| format!("{} steps", s.count())));
    header.push("ns per extra step".into());
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut table = Table::new(
        format!("Scaling with steps, {HEADLINE_IN_FLIGHT} in flight (wall ns/task)"),
        &header,
    );
    let slope = |figures: &[Option<f64>]| -> Option<f64> {
        let first = config.steps.first()?.count() as f64;
        let last = config.steps.last()?.count() as f64;
        // One flow length alone has no slope.
        if first == last {
            return None;
        }
        Some((figures.last().copied()?? - figures.first().copied()??) / (last - first))
    };
    for which in Which::ALL.into_iter().filter(|w| *w != Which::Empty) {
        for flavor in Flavor::ALL {
            let figures: Vec<Option<f64>> = config
                .steps
                .iter()
                .map(|&steps| {
                    let group = results.throughput_group(flavor, steps, HEADLINE_IN_FLIGHT)?;
                    Some(group.row(which)?.cost.wall_ns)
                })
                .collect();
            let mut cells = vec![which.name().to_string(), flavor.name().to_string()];
            cells.extend(figures.iter().map(|f| ns(*f)));
            cells.push(ns(slope(&figures)));
            table.row(cells);
        }
    }
    let figures: Vec<Option<f64>> = config
        .steps
        .iter()
        .map(|steps| {
            let figure = results
                .original
                .figure("setImmediate", steps.count(), HEADLINE_IN_FLIGHT);
            figure.map(|f| f.wall_ns)
        })
        .collect();
    let mut cells = vec!["original".to_string(), "node".to_string()];
    cells.extend(figures.iter().map(|f| ns(*f)));
    cells.push(ns(slope(&figures)));
    table.row(cells);
    table
}

fn cancellation(config: &Config, results: &Results) -> Table {
    let mut table = Table::new(
        format!(
            "Cancellation, {} parked tasks: cancel() to the cleanup's first line (µs, pooled over {} repetitions), and cancel all + await every cleanup (ms)",
            config.cancel_tasks, config.reps
        ),
        &[
            "contender",
            "runtime",
            "on runtime p50",
            "p99",
            "max",
            "outside thread p50",
            "p99",
            "max",
            "cancel all, median",
            "min–max",
        ],
    );
    let millis = |d: Duration| format!("{:.2}", d.as_secs_f64() * 1_000.0);
    for group in &results.cancel {
        for row in &group.rows {
            let least = row.cancel_all.iter().min().copied();
            let most = row.cancel_all.iter().max().copied();
            table.row(vec![
                row.contender.name().into(),
                group.flavor.name().into(),
                micros(row.on_runtime.p50_ns),
                micros(row.on_runtime.p99_ns),
                micros(row.on_runtime.max_ns),
                micros(row.outside_thread.p50_ns),
                micros(row.outside_thread.p99_ns),
                micros(row.outside_thread.max_ns),
                row.cancel_all_median().map_or_else(|| "-".into(), millis),
                match (least, most) {
                    (Some(least), Some(most)) => format!("{}–{}", millis(least), millis(most)),
                    _ => "-".into(),
                },
            ]);
        }
    }
    if let Some(cancel) = results.original.json().get("cancel") {
        let field = |name: &str| cancel[name].as_u64().map_or_else(|| "-".into(), micros);
        let all = cancel["cancel_all_ns"]
            .as_f64()
            .map_or_else(|| "-".into(), |v| format!("{:.2}", v / 1e6));
        table.row(vec![
            "original (cancel logic runs inside cancel())".into(),
            "node".into(),
            field("p50_ns"),
            field("p99_ns"),
            field("max_ns"),
            "n/a".into(),
            "n/a".into(),
            "n/a".into(),
            all,
            "-".into(),
        ]);
    }
    table
}

fn cancel_all_ratios(config: &Config, results: &Results) -> Table {
    let mut header = vec!["runtime".to_string()];
    header.extend(
        Which::BASELINES
            .iter()
            .map(|baseline| format!("library / {}", baseline.name())),
    );
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut table = Table::new(
        format!(
            "Cancel all {} parked tasks + await every cleanup: library / baseline, per repetition (median (min–max) of {})",
            config.cancel_tasks, config.reps
        ),
        &header,
    );
    for group in &results.cancel {
        let mut cells = vec![group.flavor.name().to_string()];
        for baseline in Which::BASELINES {
            cells.push(ratio(
                group.cancel_all_ratio(Which::Library, baseline).as_ref(),
            ));
        }
        table.row(cells);
    }
    table
}

fn memory(config: &Config, results: &Results) -> Table {
    let mut table = Table::new(
        format!(
            "Memory per parked task, {} parked, each contender in its own process",
            config.memory_tasks
        ),
        &[
            "contender",
            "runtime",
            "RSS bytes",
            "heap bytes",
            "allocations",
        ],
    );
    for row in &results.memory {
        table.row(vec![
            row.contender.name().into(),
            row.flavor.name().into(),
            format!("{:.0}", row.weight.rss_bytes_per_task),
            format!("{:.0}", row.weight.heap_bytes_per_task),
            format!("{:.2}", row.weight.allocations_per_task),
        ]);
    }
    if let Some(memory) = results.original.json().get("memory") {
        let field = |name: &str| {
            memory[name]
                .as_f64()
                .map_or_else(|| "-".into(), |v| format!("{v:.0}"))
        };
        table.row(vec![
            "original (V8 heap)".into(),
            "node".into(),
            field("rss_bytes_per_task"),
            field("heap_bytes_per_task"),
            "-".into(),
        ]);
    }
    table
}

fn future_sizes(results: &Results) -> Table {
    let mut table = Table::new(
        "Size of the spawned task future (bytes; tokio stores it in a 128-byte-aligned cell)",
        &["contender", "1 step", "3 steps", "10 steps"],
    );
    for which in Which::ALL {
        let size = |steps| {
            results
                .future_sizes
                .iter()
                .find(|(w, s, _)| *w == which && *s == steps)
                .map_or_else(|| "-".into(), |(_, _, size)| size.to_string())
        };
        table.row(vec![
            which.name().into(),
            size(Steps::One),
            size(Steps::Three),
            size(Steps::Ten),
        ]);
    }
    table
}

fn queue(config: &Config, results: &Results) -> Table {
    let mut table = Table::new(
        format!(
            "Bounded concurrency: {} 3-step tasks through {} permits (ns/task)",
            config.queue_tasks, config.queue_permits
        ),
        &["variant", "runtime", "wall", "CPU"],
    );
    for row in &results.queue {
        table.row(vec![
            row.variant.name().into(),
            row.flavor.name().into(),
            format!("{:.0}", row.cost.wall_ns),
            format!("{:.0}", row.cost.cpu_ns),
        ]);
    }
    if !results
        .queue
        .iter()
        .any(|row| row.variant == Variant::Library)
    {
        table.row(vec![
            Variant::Library.name().into(),
            "both".into(),
            "pending".into(),
        ]);
    }
    table
}

fn ratios(results: &Results) -> Table {
    let mut table = Table::new(
        "Ratios (same run; per-repetition ratios: median and min–max)",
        &["ratio", "runtime", "value", "min–max", "target", "met"],
    );
    for ratio in results.ratios() {
        table.row(vec![
            ratio.name.into(),
            ratio.flavor.name().into(),
            ratio
                .value
                .map_or_else(|| "-".into(), |v| format!("{v:.2}")),
            ratio
                .spread
                .as_ref()
                .map_or_else(String::new, |s| format!("{:.2}–{:.2}", s.min, s.max)),
            ratio.target.map_or_else(String::new, |t| t.describe()),
            match ratio.met() {
                Some(true) => "yes".into(),
                Some(false) => "NO".into(),
                None => String::new(),
            },
        ]);
    }
    table
}
