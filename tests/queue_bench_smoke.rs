//! The queue benchmark's workload (`tests/queue_bench/mod.rs`) runs, small, as the benchmark
//! runs it large: every task completes and nothing is left behind.

mod queue_bench;

use queue_bench::Limited;

#[tokio::test(start_paused = true)]
async fn the_benchmark_workload_completes_every_task() {
    let bench = Limited::new(4, 1_000);
    assert_eq!(bench.run_all(1_000).await, 1_000);
    assert!(bench.tasks().is_empty());
    assert_eq!(bench.run_windowed(1_000, 64).await, 1_000);
    assert!(bench.tasks().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_benchmark_workload_completes_every_task_on_two_threads() {
    let bench = Limited::new(4, 2_000);
    assert_eq!(bench.run_all(2_000).await, 2_000);
    assert_eq!(bench.run_windowed(2_000, 100).await, 2_000);
    assert!(bench.tasks().is_empty());
}
