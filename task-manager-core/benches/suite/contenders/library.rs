//! The library as a contender: the benchmark flow written with `#[flow]` and `#[step]`, the
//! way a user would, each step declaring a cleanup.

use std::convert::Infallible;
use std::future::{pending, Future};
use std::sync::Arc;

use task_manager_core::{
    flow, CancelReason, HasTaskManager, Passport, Retry, Task, TaskHandle, TaskId, TaskManager,
};

use crate::contender::{Canceller, Contender, Parker};
use crate::probe::Probe;
use crate::steps::{step, Steps};

#[derive(HasTaskManager, Default)]
pub struct Bench {
    tasks: TaskManager,
    /// Only for parked tasks: where their cleanups report.
    probe: Option<Arc<Probe>>,
}

/// One `#[flow]` of yielding steps, each with the same (empty) cleanup. For `three` it expands
/// to exactly what the README shows:
///
/// ```text
/// #[flow(name = three)]
/// impl Bench {
///     #[step(cancel = undo_three)]
///     async fn three_1(&self, _task: &mut Task) -> Result<u64, Infallible> { Ok(step(0).await) }
///     #[step(cancel = undo_three)]
///     async fn three_2(&self, _task: &mut Task, input: u64) -> Result<u64, Infallible> { Ok(step(input).await) }
///     ...
///     async fn undo_three(&self, _task: &mut Task, _reason: CancelReason) {}
/// }
/// ```
macro_rules! yielding_flow {
    ($flow:ident, $undo:ident, $first:ident $(, $rest:ident)*) => {
        #[flow(name = $flow)]
        impl Bench {
            #[step(cancel = $undo)]
            async fn $first(&self, _task: &mut Task) -> Result<u64, Infallible> {
                Ok(step(0).await)
            }

            $(
                #[step(cancel = $undo)]
                async fn $rest(&self, _task: &mut Task, input: u64) -> Result<u64, Infallible> {
                    Ok(step(input).await)
                }
            )*

            async fn $undo(&self, _task: &mut Task, _reason: CancelReason) {}
        }
    };
}

/// The three-step flow with every step declaring a time limit and a retry policy, neither of
/// which triggers: what a declared policy costs (`TM_BENCH_LIBRARY_POLICY=1`, see
/// `benches/instructions.sh`).
#[flow(name = three_policy)]
impl Bench {
    #[step(cancel = undo_three_policy, timeout = "60s", retry = bench_retries)]
    async fn three_policy_1(&self, _task: &mut Task) -> Result<u64, Infallible> {
        Ok(step(0).await)
    }

    #[step(cancel = undo_three_policy, timeout = "60s", retry = bench_retries)]
    async fn three_policy_2(&self, _task: &mut Task, input: u64) -> Result<u64, Infallible> {
        Ok(step(input).await)
    }

    #[step(cancel = undo_three_policy, timeout = "60s", retry = bench_retries)]
    async fn three_policy_3(&self, _task: &mut Task, input: u64) -> Result<u64, Infallible> {
        Ok(step(input).await)
    }

    async fn undo_three_policy(&self, _task: &mut Task, _reason: CancelReason) {}
}

fn bench_retries() -> Retry<Infallible> {
    Retry::attempts(3)
}

/// The three-step flow with a minimal report (`TM_BENCH_LIBRARY_REPORT=minimal`): no clock
/// read per step.
#[flow(name = three_minimal, report = minimal)]
impl Bench {
    #[step(cancel = undo_three_minimal)]
    async fn three_minimal_1(&self, _task: &mut Task) -> Result<u64, Infallible> {
        Ok(step(0).await)
    }

    #[step(cancel = undo_three_minimal)]
    async fn three_minimal_2(&self, _task: &mut Task, input: u64) -> Result<u64, Infallible> {
        Ok(step(input).await)
    }

    #[step(cancel = undo_three_minimal)]
    async fn three_minimal_3(&self, _task: &mut Task, input: u64) -> Result<u64, Infallible> {
        Ok(step(input).await)
    }

    async fn undo_three_minimal(&self, _task: &mut Task, _reason: CancelReason) {}
}

/// The same with a time limit only (`TM_BENCH_LIBRARY_POLICY=timeout`).
#[flow(name = three_timeout)]
impl Bench {
    #[step(cancel = undo_three_timeout, timeout = "60s")]
    async fn three_timeout_1(&self, _task: &mut Task) -> Result<u64, Infallible> {
        Ok(step(0).await)
    }

    #[step(cancel = undo_three_timeout, timeout = "60s")]
    async fn three_timeout_2(&self, _task: &mut Task, input: u64) -> Result<u64, Infallible> {
        Ok(step(input).await)
    }

    #[step(cancel = undo_three_timeout, timeout = "60s")]
    async fn three_timeout_3(&self, _task: &mut Task, input: u64) -> Result<u64, Infallible> {
        Ok(step(input).await)
    }

    async fn undo_three_timeout(&self, _task: &mut Task, _reason: CancelReason) {}
}

/// The same with a retry policy only (`TM_BENCH_LIBRARY_POLICY=retry`).
#[flow(name = three_retry)]
impl Bench {
    #[step(cancel = undo_three_retry, retry = bench_retries)]
    async fn three_retry_1(&self, _task: &mut Task) -> Result<u64, Infallible> {
        Ok(step(0).await)
    }

    #[step(cancel = undo_three_retry, retry = bench_retries)]
    async fn three_retry_2(&self, _task: &mut Task, input: u64) -> Result<u64, Infallible> {
        Ok(step(input).await)
    }

    #[step(cancel = undo_three_retry, retry = bench_retries)]
    async fn three_retry_3(&self, _task: &mut Task, input: u64) -> Result<u64, Infallible> {
        Ok(step(input).await)
    }

    async fn undo_three_retry(&self, _task: &mut Task, _reason: CancelReason) {}
}

yielding_flow!(one, undo_one, one_1);
yielding_flow!(three, undo_three, three_1, three_2, three_3);
yielding_flow!(
    ten, undo_ten, ten_1, ten_2, ten_3, ten_4, ten_5, ten_6, ten_7, ten_8, ten_9, ten_10
);

/// A task parked in its only step; the payload is its probe slot.
#[flow(name = parked)]
impl Bench {
    #[step(cancel = parked_cleanup)]
    async fn park(&self, _task: &mut Task<usize>) -> Result<(), Infallible> {
        self.probe().parked();
        pending().await
    }

    async fn parked_cleanup(&self, task: &mut Task<usize>, _reason: CancelReason) {
        let probe = self.probe();
        probe.cleanup_started(*task.payload());
        probe.cleanup_finished();
    }
}

impl Bench {
    fn probe(&self) -> &Probe {
        self.probe
            .as_deref()
            .expect("Library::with_probe builds parkers")
    }
}

/// The suite's handle on the library.
pub struct Library {
    bench: Arc<Bench>,
    /// Three-step tasks declare a time limit and a retry policy on each step
    /// (`TM_BENCH_LIBRARY_POLICY=1`), or one of them (`timeout`, `retry`): read once, here,
    /// so that it costs the tasks nothing.
    policy: Policy,
    /// Three-step tasks run a flow with `report = minimal` (`TM_BENCH_LIBRARY_REPORT=minimal`).
    minimal_report: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Policy {
    None,
    Both,
    Timeout,
    Retry,
}

impl Default for Library {
    fn default() -> Self {
        Library {
            bench: Arc::default(),
            policy: match std::env::var("TM_BENCH_LIBRARY_POLICY").as_deref() {
                Ok("1") => Policy::Both,
                Ok("timeout") => Policy::Timeout,
                Ok("retry") => Policy::Retry,
                _ => Policy::None,
            },
            minimal_report: std::env::var("TM_BENCH_LIBRARY_REPORT").as_deref() == Ok("minimal"),
        }
    }
}

type Handle = TaskHandle<u64, Infallible, ()>;

impl Library {
    fn submit(&self, steps: Steps) -> Handle {
        let passport = Passport::new(());
        let submitted = match steps {
            Steps::One => self.bench.execute_one(passport),
            Steps::Three if self.policy == Policy::Both => {
                self.bench.execute_three_policy(passport)
            }
            Steps::Three if self.policy == Policy::Timeout => {
                self.bench.execute_three_timeout(passport)
            }
            Steps::Three if self.policy == Policy::Retry => {
                self.bench.execute_three_retry(passport)
            }
            Steps::Three if self.minimal_report => self.bench.execute_three_minimal(passport),
            Steps::Three => self.bench.execute_three(passport),
            Steps::Ten => self.bench.execute_ten(passport),
        };
        submitted.expect("submitting a benchmark task")
    }
}

impl Contender for Library {
    fn spawn(&self, steps: Steps) -> impl Future<Output = u64> + Send + 'static {
        let handle = self.submit(steps);
        async move {
            handle
                .await
                .into_result()
                .expect("nobody cancels in the throughput scenario")
        }
    }

    /// Not reachable through the public API: the flow's future is built inside `execute_*`.
    fn task_future_size(&self, _steps: Steps) -> Option<usize> {
        None
    }
}

impl Parker for Library {
    type Id = TaskId;

    fn with_probe(probe: Arc<Probe>) -> Self {
        Library {
            bench: Arc::new(Bench {
                tasks: TaskManager::new(),
                probe: Some(probe),
            }),
            policy: Policy::None,
            minimal_report: false,
        }
    }

    fn probe(&self) -> &Probe {
        self.bench.probe()
    }

    fn spawn_parked(&self, slot: usize) -> TaskId {
        let handle = self
            .bench
            .execute_parked(Passport::new(slot))
            .expect("submitting a parked task");
        let id = handle.id();
        // Dropping the handle would cancel the task.
        handle.detach();
        id
    }
}

impl Canceller for Library {
    fn cancel(&self, id: TaskId) {
        // The cleanup is observed through the probe, not through the returned Cancellation.
        drop(self.bench.tasks.cancel(id, "bench"));
    }
}
