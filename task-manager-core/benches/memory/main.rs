//! Memory per parked task, for one contender on one runtime, in a process of its own.
//!
//! Started by the suite (`benches/suite/scenarios/memory.rs`) as
//! `memory <contender> <runtime> <tasks>`; prints one line of JSON (`weighing::Weight`).
//! A fresh process per contender keeps memory that an earlier measurement freed, and the
//! allocator kept, out of the next one's figures. This is a separate binary because the
//! allocation counter replaces the global allocator (see `heap.rs`): the suite's timed
//! scenarios must not pay for it.
//!
//! Run by hand: `cargo bench -p task-manager-core --bench memory -- library multi_thread 100000`.

// The contenders are the suite's own files; this binary uses only their parking half.
#[allow(dead_code)]
#[path = "../suite/contender.rs"]
mod contender;
#[allow(dead_code)]
#[path = "../suite/contenders/mod.rs"]
mod contenders;
mod heap;
#[allow(dead_code)]
#[path = "../suite/probe.rs"]
mod probe;
#[allow(dead_code)]
#[path = "../suite/runtime.rs"]
mod runtime;
#[allow(dead_code)]
#[path = "../suite/steps.rs"]
mod steps;
#[allow(dead_code)]
#[path = "../suite/weighing.rs"]
mod weighing;

use std::process::ExitCode;

use contender::Parker;
use contenders::{library::Library, plain::Plain, token::Token, tuned::Tuned, Which};
use probe::Probe;
use weighing::{Request, Weight};

fn main() -> ExitCode {
    // `cargo bench` adds `--bench` to every bench binary's arguments.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| arg != "--bench")
        .collect();
    if args.is_empty() {
        eprintln!("memory: the suite starts this binary, one contender per process; nothing to do on its own");
        return ExitCode::SUCCESS;
    }
    let request = match Request::from_args(&args) {
        Ok(request) => request,
        Err(error) => {
            eprintln!("memory: {error}");
            return ExitCode::FAILURE;
        }
    };
    let weight = match request.contender {
        Which::Plain => park_and_weigh::<Plain>(request),
        Which::Token => park_and_weigh::<Token>(request),
        Which::Tuned => park_and_weigh::<Tuned>(request),
        Which::Library => park_and_weigh::<Library>(request),
        Which::Empty => unreachable!("`Request::from_args` accepts only contenders that park"),
    };
    println!("{}", weight.to_line());
    ExitCode::SUCCESS
}

fn park_and_weigh<P: Parker>(request: Request) -> Weight {
    let runtime = request.flavor.runtime();
    // Warm-up: a first batch brings the runtime's own structures to their working size.
    let warm_up = P::with_probe(Probe::new(request.tasks.min(1_000)));
    spawn_parked(&runtime, &warm_up);

    // Made before the first snapshot: the probe's per-slot stamps are not the task's cost.
    let contender = P::with_probe(Probe::new(request.tasks));
    let rss_before = rss_bytes();
    let ((), allocation) = heap::on_this_thread(|| spawn_parked(&runtime, &contender));
    let rss_after = rss_bytes();
    let per_task = |amount: f64| amount / request.tasks.max(1) as f64;
    Weight {
        rss_bytes_per_task: per_task(rss_after as f64 - rss_before as f64),
        heap_bytes_per_task: per_task(allocation.bytes_current as f64),
        allocations_per_task: per_task(allocation.count_current as f64),
    }
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
