//! The soak: runs many tasks (default 10,000,000) through one flow, 10% cancelled while a
//! step is in progress and 1% panicking, at most 1,000 at once, and prints the resident set
//! size every million tasks: it must stay flat.
//!
//! ```sh
//! cargo run --release --example soak                    # 10,000,000 tasks
//! cargo run --release --example soak -- --tasks 200000  # or TM_SOAK_TASKS=200000
//! ```

use std::time::Instant;

use task_manager_support::panics::silence_planned_panics;
use task_manager_support::soak::{self, rss_bytes, Config, Soak};

fn tasks_wanted() -> Result<u64, String> {
    let mut args = std::env::args().skip(1);
    let mut tasks = std::env::var("TM_SOAK_TASKS").ok();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tasks" => tasks = Some(args.next().ok_or("--tasks needs a number")?),
            other => {
                return Err(format!(
                    "unknown argument `{other}`; usage: soak [--tasks N]"
                ))
            }
        }
    }
    match tasks {
        None => Ok(10_000_000),
        Some(text) => text
            .replace('_', "")
            .parse()
            .map_err(|_| format!("`{text}` is not a number of tasks")),
    }
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(
        || "?".into(),
        |bytes| format!("{:.1} MiB", bytes as f64 / 1048576.0),
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tasks = tasks_wanted()?;
    silence_planned_panics();
    let config = Config {
        tasks,
        in_flight: 1_000,
        report_every: 1_000_000.min(tasks.max(1)),
    };
    let soak = Soak::new();
    let started = Instant::now();
    println!(
        "soak: {tasks} tasks, 10% cancelled mid-step, 1% panicking, {} in flight",
        config.in_flight
    );
    println!("{:>12}  {:>10}  {:>8}", "tasks ended", "RSS", "seconds");
    println!("{:>12}  {:>10}  {:>8.1}", 0, mib(rss_bytes()), 0.0);
    let counts = soak::run(&soak, config, |counts| {
        println!(
            "{:>12}  {:>10}  {:>8.1}",
            counts.ended(),
            mib(rss_bytes()),
            started.elapsed().as_secs_f64()
        );
    })
    .await?;
    println!(
        "{counts:?}; cleanups run: {}",
        soak.cleanups.load(std::sync::atomic::Ordering::Relaxed)
    );
    if counts.wrong != 0 || !soak.tasks.is_empty() {
        return Err(format!(
            "the soak went wrong: {counts:?}, {} still registered",
            soak.tasks.len()
        )
        .into());
    }
    Ok(())
}
