//! Watching tasks: `tracing` spans for every task and step, a live snapshot with progress,
//! a step's own typed event, and a tiny metrics add-on that prints per-step counts and mean
//! durations at the end. Three reports run: one completes, one is cancelled while it
//! fetches, one fails to render.
//!
//! Run it with `cargo run --example observe` (set `RUST_LOG`-style filtering in your own
//! service with `tracing-subscriber`'s `EnvFilter`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use task_manager_core::{
    flow, Addon, CancelReason, EventKind, HasTaskManager, Passport, StepEnd, Task, TaskEnd,
    TaskEvent, TaskManager,
};
use tracing_subscriber::fmt::format::FmtSpan;

/// What to report on.
#[derive(Debug)]
struct Request {
    name: &'static str,
    rows: u64,
}

/// A step's own event: the add-ons read it by its type.
#[derive(Debug)]
struct RowsFetched {
    rows: u64,
}

#[derive(Debug, thiserror::Error)]
enum ReportError {
    #[error("the template of report `{0}` is broken")]
    Template(&'static str),
}

#[derive(HasTaskManager)]
struct Reports {
    tasks: TaskManager,
}

#[flow(name = report, timeout = "5s")]
impl Reports {
    #[step(cancel = release_connection)]
    async fn fetch(&self, task: &mut Task<Request>) -> Result<u64, ReportError> {
        let rows = task.payload().rows;
        for done in 1..=rows {
            tokio::time::sleep(Duration::from_millis(20)).await;
            task.set_progress(done, rows);
        }
        task.emit(RowsFetched { rows });
        Ok(rows)
    }

    #[step]
    async fn render(&self, task: &mut Task<Request>, rows: u64) -> Result<String, ReportError> {
        tokio::time::sleep(Duration::from_millis(30)).await;
        match task.payload().name {
            "broken" => Err(ReportError::Template("broken")),
            _ => Ok(format!("{rows} rows")),
        }
    }

    async fn release_connection(&self, _task: &mut Task<Request>, reason: CancelReason) {
        tracing::info!(%reason, "giving the database connection back");
    }
}

/// Counts finished steps by step and end, and sums their durations; counts endings. It
/// only updates a map under a short lock: add-ons run on the task's thread, so they must
/// be quick (a slower one would send the event's facts down a channel instead).
#[derive(Default)]
struct Metrics {
    steps: Mutex<BTreeMap<(ReportStep, &'static str), StepStats>>,
    endings: Mutex<BTreeMap<&'static str, u32>>,
    rows: Mutex<u64>,
}

/// How many steps ended so, and their total duration.
#[derive(Default)]
struct StepStats {
    count: u32,
    total: Duration,
}

impl Addon for Metrics {
    fn on_event(&self, event: &TaskEvent<'_>) {
        match event.kind {
            EventKind::StepFinished { end, duration, .. } => {
                let Some(step) = event.step_as::<ReportStep>() else {
                    return;
                };
                let end = match end {
                    StepEnd::Completed => "completed",
                    StepEnd::Failed => "failed",
                    StepEnd::Cancelled => "cancelled",
                    StepEnd::Panicked => "panicked",
                    StepEnd::TimedOut => "timed out",
                    // `StepEnd` is non-exhaustive: a later release may add ends.
                    _ => "other",
                };
                let mut steps = self.steps.lock().unwrap_or_else(PoisonError::into_inner);
                let stats = steps.entry((step, end)).or_default();
                stats.count += 1;
                stats.total += duration;
            }
            EventKind::Finished { ending, .. } => {
                let kind = match ending {
                    TaskEnd::Completed => "completed",
                    TaskEnd::Failed { .. } => "failed",
                    TaskEnd::Cancelled { .. } => "cancelled",
                    _ => "other",
                };
                *self
                    .endings
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(kind)
                    .or_default() += 1;
            }
            _ => {
                if let Some(fetched) = event.custom::<RowsFetched>() {
                    *self.rows.lock().unwrap_or_else(PoisonError::into_inner) += fetched.rows;
                }
            }
        }
    }
}

impl Metrics {
    fn print(&self) {
        println!("\nsteps:");
        println!(
            "  {:<8} {:<10} {:>5} {:>12}",
            "step", "end", "count", "mean"
        );
        let steps = self.steps.lock().unwrap_or_else(PoisonError::into_inner);
        for ((step, end), stats) in steps.iter() {
            let mean = stats.total / stats.count;
            println!(
                "  {:<8} {end:<10} {:>5} {mean:>12.1?}",
                step.name(),
                stats.count
            );
        }
        let endings = self.endings.lock().unwrap_or_else(PoisonError::into_inner);
        println!("tasks: {endings:?}");
        let rows = self.rows.lock().unwrap_or_else(PoisonError::into_inner);
        println!("rows fetched (from the steps' own events): {rows}");
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Each step's span is printed when it closes, with its outcome and time.
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_target(false)
        .with_span_events(FmtSpan::CLOSE)
        .init();

    let metrics = Arc::new(Metrics::default());
    let reports = Arc::new(Reports {
        tasks: TaskManager::builder().addon(Arc::clone(&metrics)).build()?,
    });

    let daily = reports.execute_report(Passport::new(Request {
        name: "daily",
        rows: 3,
    }))?;
    let monthly = Passport::new(Request {
        name: "monthly",
        rows: 50,
    });
    let monthly_id = monthly.id();
    let monthly = reports.execute_report(monthly)?;
    let broken = reports.execute_report(Passport::new(Request {
        name: "broken",
        rows: 2,
    }))?;

    tokio::time::sleep(Duration::from_millis(50)).await;
    println!("\nlive:");
    for task in reports.tasks.snapshot() {
        println!("  {task}");
    }
    println!();

    reports.tasks.cancel(monthly_id, "the user closed the page");

    for (name, outcome) in [
        ("daily", daily.await),
        ("monthly", monthly.await),
        ("broken", broken.await),
    ] {
        match outcome.into_result() {
            Ok(report) => println!("{name}: {report}"),
            Err(error) => println!("{name}: {error}"),
        }
    }
    metrics.print();
    Ok(())
}
