//! Memory per parked task: RSS growth and heap bytes and allocations for many parked tasks.
//!
//! Measured outside this process, by the `memory` bench binary (`benches/memory/main.rs`),
//! started afresh for each contender and runtime: the heap figures need a counting global
//! allocator, which would tax every allocation of the timed scenarios if it lived here, and a
//! fresh process keeps memory that one measurement freed, and the allocator kept, out of the
//! next one's RSS. What the two binaries say to each other is in `weighing.rs`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::contenders::Which;
use crate::runtime::Flavor;
use crate::weighing::{Request, Weight};

/// Where the `memory` binary is, if not to be built by cargo (e.g. when this binary is run by
/// hand, outside cargo).
const BINARY_ENV: &str = "TM_BENCH_MEMORY_BIN";

#[derive(Debug, Clone)]
pub struct Row {
    pub contender: Which,
    pub flavor: Flavor,
    pub tasks: usize,
    pub weight: Weight,
}

/// The `memory` binary: `$TM_BENCH_MEMORY_BIN`, or else built by cargo like this binary.
pub fn binary() -> Result<PathBuf, String> {
    match std::env::var_os(BINARY_ENV) {
        Some(path) => Ok(PathBuf::from(path)),
        None => build_with_cargo(),
    }
}

/// Asks cargo to build the `memory` bench target the way this one was built (the profile of
/// `cargo test` or `cargo bench`, the same features of task-manager-core) and returns its
/// path. Cargo does nothing when it is up to date. `CARGO` is set when cargo started us.
fn build_with_cargo() -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    // `cargo test` builds with debug assertions, `cargo bench` without.
    let subcommand = if cfg!(debug_assertions) {
        "test"
    } else {
        "bench"
    };
    // Every feature of task-manager-core: the child must run the library this binary runs.
    let features: Vec<&str> = [
        ("tracing", cfg!(feature = "tracing")),
        ("testing", cfg!(feature = "testing")),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    let mut command = Command::new(&cargo);
    command
        .args([subcommand, "--no-run", "-p", "task-manager-core"])
        .args(["--bench", "memory", "--no-default-features"])
        .args([
            "--message-format=json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        // Cargo's own messages (compiling, errors) go where ours go.
        .stderr(Stdio::inherit());
    if !features.is_empty() {
        command.arg(format!("--features={}", features.join(",")));
    }
    let described = format!("{command:?}");
    let output = command
        .output()
        .map_err(|error| format!("cannot start {described}: {error}"))?;
    if !output.status.success() {
        return Err(format!("{described} failed ({})", output.status));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["target"]["name"] == "memory")
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| format!("{described} named no `memory` executable"))
}

/// Weighs one contender on one runtime in a fresh process of `binary`.
pub fn measure(binary: &Path, request: Request) -> Result<Row, String> {
    let args = request.to_args();
    let output = Command::new(binary).args(&args).output().map_err(|error| {
        let binary = binary.display();
        format!("memory {}: cannot start {binary}: {error}", args.join(" "))
    })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let failed = |why: String| {
        let args = args.join(" ");
        format!("memory {args}: {why}; its stderr: {}", stderr.trim())
    };
    if !output.status.success() {
        return Err(failed(format!("exited with {}", output.status)));
    }
    let line = stdout.lines().last().unwrap_or_default();
    let weight = Weight::from_line(line).map_err(failed)?;
    Ok(Row {
        contender: request.contender,
        flavor: request.flavor,
        tasks: request.tasks,
        weight,
    })
}
