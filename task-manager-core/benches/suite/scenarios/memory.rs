//! Memory per parked task: RSS delta and heap bytes for many parked tasks.
//!
//! Each measurement runs in a child process (this same binary, told what to do by
//! `TM_BENCH_CHILD`), so that memory freed by earlier scenarios and kept by the allocator
//! cannot hide the cost of the one being measured.

use std::process::Command;

use serde_json::{json, Value};

use crate::contender::Parker;
use crate::contenders::{library::Library, plain::Plain, token::Token, Which};
use crate::runtime::Flavor;
use crate::{heap, probe::Probe};

const CHILD_ENV: &str = "TM_BENCH_CHILD";

#[derive(Debug, Clone)]
pub struct Row {
    pub contender: Which,
    pub flavor: Flavor,
    pub tasks: usize,
    pub rss_bytes_per_task: f64,
    /// Heap bytes still allocated per task, counted on the spawning thread (see `heap`).
    pub heap_bytes_per_task: f64,
    pub allocations_per_task: f64,
}

/// Runs the measurement in a child process; `None` for a contender that cannot park tasks.
pub fn measure(which: Which, flavor: Flavor, tasks: usize) -> Option<Row> {
    if which == Which::Empty {
        return None;
    }
    let exe = std::env::current_exe().expect("locating the suite's own binary");
    let output = Command::new(exe)
        .env(
            CHILD_ENV,
            format!("memory {} {} {tasks}", which.name(), flavor.name()),
        )
        .output()
        .expect("starting the memory child process");
    assert!(
        output.status.success(),
        "memory child failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let figures: Value =
        serde_json::from_slice(&output.stdout).expect("memory child printed no JSON");
    let field = |name: &str| figures[name].as_f64().expect("memory child JSON field");
    Some(Row {
        contender: which,
        flavor,
        tasks,
        rss_bytes_per_task: field("rss_bytes_per_task"),
        heap_bytes_per_task: field("heap_bytes_per_task"),
        allocations_per_task: field("allocations_per_task"),
    })
}

/// In a child process: does the measurement `TM_BENCH_CHILD` asks for, prints it as JSON and
/// returns true. Returns false in the parent.
pub fn run_child_if_asked() -> bool {
    let Ok(request) = std::env::var(CHILD_ENV) else {
        return false;
    };
    let parts: Vec<&str> = request.split(' ').collect();
    let [_memory, contender, flavor, tasks] = parts[..] else {
        panic!("bad {CHILD_ENV}={request:?}");
    };
    let which = Which::parse(contender).expect("child: unknown contender");
    let flavor = Flavor::parse(flavor).expect("child: unknown flavor");
    let tasks: usize = tasks.parse().expect("child: task count");
    let figures = match which {
        Which::Plain => park_and_weigh::<Plain>(flavor, tasks),
        Which::Token => park_and_weigh::<Token>(flavor, tasks),
        Which::Library => park_and_weigh::<Library>(flavor, tasks),
        Which::Empty => panic!("child: {} cannot park tasks", which.name()),
    };
    println!("{figures}");
    true
}

fn park_and_weigh<P: Parker>(flavor: Flavor, tasks: usize) -> Value {
    let runtime = flavor.runtime();
    // Warm-up: a first batch brings the runtime's own structures to their working size.
    let warm_up = P::with_probe(Probe::new(tasks.min(1_000)));
    spawn_parked(&runtime, &warm_up);

    // Made before the first snapshot: the probe's per-slot stamps are not the task's cost.
    let contender = P::with_probe(Probe::new(tasks));
    let rss_before = rss_bytes();
    let ((), allocation) = heap::on_this_thread(|| spawn_parked(&runtime, &contender));
    let rss_after = rss_bytes();
    let per_task = |amount: f64| amount / tasks as f64;
    json!({
        "rss_bytes_per_task": per_task(rss_after as f64 - rss_before as f64),
        "heap_bytes_per_task": per_task(allocation.bytes_current as f64),
        "allocations_per_task": per_task(allocation.count_current as f64),
    })
}

/// Fills every slot of the contender's probe with a parked task spawned from this thread (so
/// the heap counter sees the task cells), and waits until all reached their await point.
fn spawn_parked<P: Parker>(runtime: &tokio::runtime::Runtime, contender: &P) {
    let probe = contender.probe();
    let _context = runtime.enter();
    for slot in 0..probe.slots() {
        let _id = contender.spawn_parked(slot);
    }
    runtime.block_on(probe.all_parked());
}

/// Resident set size, from the second field of /proc/self/statm.
fn rss_bytes() -> u64 {
    // Linux reports statm in pages; 4 KiB on the x86-64 machines this suite targets.
    const PAGE_SIZE: u64 = 4096;
    let statm = std::fs::read_to_string("/proc/self/statm").expect("reading /proc/self/statm");
    let resident: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("parsing /proc/self/statm");
    resident * PAGE_SIZE
}
