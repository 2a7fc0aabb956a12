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

#[test]
fn the_benchmark_workload_runs_as_the_recipe_says() {
    // The recipe given to the benchmark suite: a runtime without a timer, limit 4.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let bench = Limited::new(4, 10_000);
        assert_eq!(bench.run_all(10_000).await, 10_000);
        // Back-pressure at the limit itself: nobody ever queues.
        let bench = Limited::new(4, 1);
        assert_eq!(bench.run_windowed(10_000, 4).await, 10_000);
        assert!(bench.tasks().is_empty());
    });
}
