//! The benchmark suite of task-manager-core: the library against hand-written tokio code and
//! against the original TypeScript library, in the same run.
//!
//! `cargo bench -p task-manager-core --bench suite` runs everything at full size and prints
//! Markdown tables, then one JSON line (the summary, ratios included), and writes
//! `summary.json` and `ns_per_task.svg` to `target/task-manager-bench/` (or `$TM_BENCH_OUT`).
//! `cargo test -p task-manager-core --bench suite`, or `TM_BENCH_SMOKE=1`, does a smoke run
//! with tiny sizes. Sizes: see `config.rs`. How it measures: see `benches/README.md`.
//!
//! This binary has no counting allocator, on purpose: memory is weighed by the `memory` bench
//! binary, which this one starts (see `scenarios/memory.rs`). It exits with an error when a
//! scenario broke or measured less than asked (`check.rs`), after writing the report.

mod check;
mod config;
mod contender;
mod contenders;
mod machine;
mod measure;
mod probe;
mod report;
mod runtime;
mod scenarios;
mod steps;
// Both sides of the conversation with the `memory` binary; this one uses the asking half.
#[allow(dead_code)]
mod weighing;

use std::process::ExitCode;

use config::Config;
use machine::Machine;

fn main() -> ExitCode {
    let config = Config::from_env();
    let machine = Machine::probe();
    eprintln!(
        "[suite] {} run on {}",
        if config.smoke { "smoke" } else { "full" },
        machine.describe()
    );

    let results = scenarios::run_all(&config);
    let problems = check::problems(&config, &results);
    let summary = report::json::summary(&config, &machine, &results, &problems);

    println!("## task-manager-core benchmarks\n\n{}", machine.describe());
    print!("{}", report::table::render(&config, &results, &problems));
    println!("\n{summary}");

    std::fs::create_dir_all(&config.out_dir).expect("creating the report folder");
    let json_path = config.out_dir.join("summary.json");
    let svg_path = config.out_dir.join("ns_per_task.svg");
    let pretty = serde_json::to_string_pretty(&summary).expect("serializing the summary");
    std::fs::write(&json_path, pretty).expect("writing summary.json");
    std::fs::write(&svg_path, report::svg::render(&results, &machine)).expect("writing the chart");
    eprintln!(
        "[suite] wrote {} and {}",
        json_path.display(),
        svg_path.display()
    );

    if problems.is_empty() {
        return ExitCode::SUCCESS;
    }
    eprintln!("[suite] FAILED: {} problem(s):", problems.len());
    for problem in &problems {
        eprintln!("[suite]   {problem}");
    }
    ExitCode::FAILURE
}
