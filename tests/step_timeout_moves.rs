//! Step policies, the time limit across several timed steps: the task's one timer is left
//! where an earlier step set it when the next step's deadline is later (it fires early, and
//! is moved then), and moved at once when the next step's deadline is earlier. Either way
//! each step times out exactly at its own deadline, and no step times out at another's.

use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{flow, Ending, HasTaskManager, Passport, Task, TaskManager};
use tokio::time::Instant;

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("never")]
struct Never;

/// How long each step takes, in ms.
type ChainTask = Task<[u64; 3]>;

#[derive(HasTaskManager)]
struct Chain {
    tasks: TaskManager,
}

async fn take(ms: u64) -> Result<(), Never> {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(())
}

#[flow(name = chain)]
impl Chain {
    #[step(timeout = "1s")]
    async fn first(&self, task: &mut ChainTask) -> Result<(), Never> {
        take(task.payload()[0]).await
    }

    #[step(timeout = "2s")]
    async fn second(&self, task: &mut ChainTask) -> Result<(), Never> {
        take(task.payload()[1]).await
    }

    #[step(timeout = "500ms")]
    async fn third(&self, task: &mut ChainTask) -> Result<(), Never> {
        take(task.payload()[2]).await
    }
}

async fn run(durations: [u64; 3]) -> (Ending<(), Never>, Duration) {
    let chain = Arc::new(Chain {
        tasks: TaskManager::new(),
    });
    let started = Instant::now();
    let outcome = chain.execute_chain(Passport::new(durations)).unwrap().await;
    (outcome.into_parts().0, started.elapsed())
}

fn timed_out(step: &'static str, ms: u64) -> Ending<(), Never> {
    Ending::TimedOut {
        step,
        limit: Duration::from_millis(ms),
    }
}

#[tokio::test(start_paused = true)]
async fn a_step_runs_past_an_earlier_steps_deadline_within_its_own() {
    // The first step's deadline (1 s) passes while the second runs (its own is at 2.5 s).
    assert_eq!(
        run([500, 1_800, 100]).await,
        (Ending::Completed(()), Duration::from_millis(2_400))
    );
}

#[tokio::test(start_paused = true)]
async fn a_step_times_out_at_its_own_deadline_not_an_earlier_steps() {
    assert_eq!(
        run([500, 3_000, 100]).await,
        (timed_out("second", 2_000), Duration::from_millis(2_500))
    );
}

#[tokio::test(start_paused = true)]
async fn a_step_whose_deadline_is_earlier_than_the_timers_times_out_at_it() {
    // The third step's deadline (0.7 s) comes before the first's (1 s), where the timer was.
    assert_eq!(
        run([100, 100, 800]).await,
        (timed_out("third", 500), Duration::from_millis(700))
    );
}
