//! Criterion micro-benchmarks: the pieces the per-task figures of `suite` are made of.
//!
//! `cargo bench -p task-manager-core --bench micro`. Shares the contenders with `suite`, so a
//! figure here and a row there measure the same code.

// Only part of the suite's modules is used here.
#[allow(dead_code)]
#[path = "suite/contender.rs"]
mod contender;
#[allow(dead_code)]
#[path = "suite/contenders/mod.rs"]
mod contenders;
#[allow(dead_code)]
#[path = "suite/probe.rs"]
mod probe;
#[allow(dead_code)]
#[path = "suite/steps.rs"]
mod steps;

use std::hint::black_box;

use criterion::{criterion_main, Criterion};
use tokio::runtime::{Builder, Runtime};
use tokio_util::sync::CancellationToken;

use contender::Contender;
use contenders::{empty::Empty, plain::Plain, token::Registry, token::Token, tuned::Tuned};
use steps::Steps;

fn current_thread() -> Runtime {
    Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building a runtime")
}

fn multi_thread() -> Runtime {
    Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("building a runtime")
}

/// One uncontended task at a time: spawn, run 3 yielding steps, join.
fn spawn_join(c: &mut Criterion) {
    let runtime = current_thread();
    let mut group = c.benchmark_group("spawn_join_3_steps");
    group.bench_function("empty", |b| {
        b.to_async(&runtime).iter(|| Empty.spawn(Steps::Three))
    });
    let plain = Plain::default();
    group.bench_function("plain", |b| {
        b.to_async(&runtime).iter(|| plain.spawn(Steps::Three))
    });
    let token = Token::default();
    group.bench_function("token+registry", |b| {
        b.to_async(&runtime).iter(|| token.spawn(Steps::Three))
    });
    let tuned = Tuned::default();
    group.bench_function("tuned", |b| {
        b.to_async(&runtime).iter(|| tuned.spawn(Steps::Three))
    });
    group.finish();
}

/// The hand-written design's fixed costs per task and per step.
fn hand_written_parts(c: &mut Criterion) {
    let mut group = c.benchmark_group("hand_written_parts");
    let registry = Registry::default();
    group.bench_function("registry insert + remove", |b| {
        b.iter(|| {
            let (id, token) = registry.register();
            registry.deregister(black_box(id));
            token
        })
    });
    group.bench_function("CancellationToken::new + drop", |b| {
        b.iter(CancellationToken::new)
    });
    let runtime = current_thread();
    let token = CancellationToken::new();
    group.bench_function("biased select! on token, ready branch", |b| {
        b.to_async(&runtime).iter(|| async {
            tokio::select! {
                biased;
                () = token.cancelled() => 0,
                value = std::future::ready(black_box(1u64)) => value,
            }
        })
    });
    group.finish();
}

/// tokio's `test-util` feature (on in core's dev-dependencies, hence in every bench build)
/// makes `tokio::time::Instant::now` consult the runtime's clock, which can be paused; code
/// that stamps steps with it pays that here and not in a user's build.
fn clocks(c: &mut Criterion) {
    let mut group = c.benchmark_group("clock_now");
    group.bench_function("std::time::Instant::now", |b| {
        b.iter(std::time::Instant::now)
    });
    group.bench_function("tokio::time::Instant::now, no runtime", |b| {
        b.iter(tokio::time::Instant::now)
    });
    for (name, runtime) in [
        ("current_thread", current_thread()),
        ("multi_thread", multi_thread()),
    ] {
        let _context = runtime.enter();
        group.bench_function(format!("tokio::time::Instant::now, in {name}"), |b| {
            b.iter(tokio::time::Instant::now)
        });
    }
    group.finish();
}

// In a private module: `criterion_group!` makes a public, undocumented function.
mod group {
    criterion::criterion_group!(
        benches,
        super::spawn_join,
        super::hand_written_parts,
        super::clocks
    );
}
criterion_main!(group::benches);
