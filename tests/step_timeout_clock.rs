//! Step policies, the time limit, as the manager's one alarm clock keeps it: many tasks with
//! different limits each time out exactly at their own deadline (an alarm set earlier than
//! the clock's moves it; later ones wait their turn; alarms taken back by steps that
//! completed never fire); on the multi-threaded runtime, the steps that overrun and only
//! they time out; and a manager whose runtime shut down keeps
//! timing its steps out on the next runtime it is used from.

use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{flow, Ending, HasTaskManager, Passport, Task, TaskManager};
use tokio::time::Instant;

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("never")]
struct Never;

/// (the per-call limit of `wait`, how long `wait` takes), in ms; `u64::MAX`: forever.
type WaitTask = Task<(u64, u64)>;

#[derive(HasTaskManager)]
struct Waits {
    tasks: TaskManager,
}

#[flow(name = waits)]
impl Waits {
    #[step(timeout = "1h")]
    async fn wait(&self, task: &mut WaitTask) -> Result<(), Never> {
        match task.payload().1 {
            // Ends in its first poll.
            0 => {}
            u64::MAX => std::future::pending().await,
            ms => tokio::time::sleep(Duration::from_millis(ms)).await,
        }
        Ok(())
    }
}

fn waits() -> Arc<Waits> {
    Arc::new(Waits {
        tasks: TaskManager::new(),
    })
}

fn passport(limit_ms: u64, takes_ms: u64) -> Passport<(u64, u64)> {
    Passport::new((limit_ms, takes_ms)).with_step_timeout("wait", Duration::from_millis(limit_ms))
}

/// A small seeded generator (splitmix64): the same limits on every run.
fn limits(seed: u64, count: usize) -> Vec<(u64, u64)> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    (0..count)
        .map(|_| {
            let limit = 1 + next() % 500;
            // About half the steps complete within their limit, half overrun it.
            let takes = if next() % 2 == 0 {
                limit / 2
            } else {
                limit + 1 + next() % 100
            };
            (limit, takes)
        })
        .collect()
}

async fn each_task_ends_at_its_own_deadline() {
    let waits = waits();
    let started = Instant::now();
    let cases = limits(7, 400);
    let mut handles = Vec::new();
    for &(limit, takes) in &cases {
        let handle = waits.execute_waits(passport(limit, takes)).unwrap();
        handles.push(tokio::spawn(async move {
            let outcome = handle.await;
            (outcome.into_parts().0, Instant::now())
        }));
        // The task begins its step, and the clock waits for the earliest alarm, before the
        // next task sets its own (often an earlier one, which must move the clock).
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
    }
    for (handle, (limit, takes)) in handles.into_iter().zip(cases) {
        let (ending, ended_at) = handle.await.unwrap();
        let elapsed = ended_at - started;
        if takes < limit {
            assert_eq!(
                ending,
                Ending::Completed(()),
                "limit {limit} ms, takes {takes} ms"
            );
            assert_eq!(elapsed, Duration::from_millis(takes));
        } else {
            let expected = Ending::TimedOut {
                step: "wait",
                limit: Duration::from_millis(limit),
            };
            assert_eq!(ending, expected, "limit {limit} ms, takes {takes} ms");
            assert_eq!(elapsed, Duration::from_millis(limit), "limit {limit} ms");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn many_tasks_each_time_out_at_their_own_deadline() {
    each_task_ends_at_its_own_deadline().await;
}

/// On the multi-threaded runtime, where the clock cannot be paused: no timing asserted, only
/// which steps time out (those that never end) and which complete (those that end in their
/// first poll, before any limit of a millisecond or more can pass).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_multi_threaded_runtime_only_the_steps_that_overrun_time_out() {
    let waits = waits();
    let cases: Vec<(u64, u64)> = limits(11, 300)
        .into_iter()
        .map(|(limit, takes)| (limit % 20 + 1, if takes < limit { 0 } else { u64::MAX }))
        .collect();
    let handles: Vec<_> = cases
        .iter()
        .map(|&(limit, takes)| waits.execute_waits(passport(limit, takes)).unwrap())
        .collect();
    for (handle, (limit, takes)) in handles.into_iter().zip(cases) {
        let ending = handle.await.into_parts().0;
        if takes == 0 {
            assert_eq!(ending, Ending::Completed(()), "limit {limit} ms");
        } else {
            let expected = Ending::TimedOut {
                step: "wait",
                limit: Duration::from_millis(limit),
            };
            assert_eq!(ending, expected, "limit {limit} ms");
        }
    }
}

#[test]
fn a_manager_keeps_timing_steps_out_after_its_first_runtime_shuts_down() {
    let waits = waits();
    for round in 0..3 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let waits = Arc::clone(&waits);
        let ending = runtime.block_on(async move {
            let handle = waits.execute_waits(passport(50, 10_000)).unwrap();
            // A guard, not a wait: the paused clock reaches it only if the step's alarm never
            // rings (the clock jumps from timer to timer).
            tokio::time::timeout(Duration::from_secs(60), handle)
                .await
                .map(|outcome| outcome.into_parts().0)
        });
        let expected = Ending::TimedOut {
            step: "wait",
            limit: Duration::from_millis(50),
        };
        assert_eq!(
            ending.expect("the step's time limit never fired"),
            expected,
            "round {round}"
        );
        // The runtime, and the alarm clock's task on it, go here.
        drop(runtime);
    }
}
