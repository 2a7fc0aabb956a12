//! Step policies, the time limit of a timed step that begins after the task's precise alarm
//! rang for an earlier timed step's deadline (an untimed step ran past it in between): the
//! alarm is left where it was when the step begins (its deadline is later), so the step's
//! first poll must find it rung and set it again; the step then times out exactly at its own
//! deadline. (Limits under a second: the precise alarm keeps them from the start.)

use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{flow, Ending, HasTaskManager, Passport, Task, TaskManager};
use tokio::time::Instant;

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("never")]
struct Never;

/// How long each step takes, in ms.
type GapTask = Task<[u64; 3]>;

#[derive(HasTaskManager)]
struct Gap {
    tasks: TaskManager,
}

async fn take(ms: u64) -> Result<(), Never> {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(())
}

#[flow(name = gap)]
impl Gap {
    #[step(timeout = "300ms")]
    async fn first(&self, task: &mut GapTask) -> Result<(), Never> {
        take(task.payload()[0]).await
    }

    #[step]
    async fn between(&self, task: &mut GapTask) -> Result<(), Never> {
        take(task.payload()[1]).await
    }

    #[step(timeout = "300ms")]
    async fn last(&self, task: &mut GapTask) -> Result<(), Never> {
        take(task.payload()[2]).await
    }
}

async fn run(durations: [u64; 3]) -> (Ending<(), Never>, Duration) {
    let gap = Arc::new(Gap {
        tasks: TaskManager::new(),
    });
    let started = Instant::now();
    let outcome = gap.execute_gap(Passport::new(durations)).unwrap().await;
    (outcome.into_parts().0, started.elapsed())
}

#[tokio::test(start_paused = true)]
async fn a_timed_step_after_the_alarm_rang_for_an_earlier_one_times_out_at_its_own_deadline() {
    // The first step's deadline (300 ms) rings while the untimed step runs (100..600 ms);
    // the last step's own deadline is at 900 ms.
    assert_eq!(
        run([100, 500, 10_000]).await,
        (
            Ending::TimedOut {
                step: "last",
                limit: Duration::from_millis(300),
            },
            Duration::from_millis(900)
        )
    );
}

#[tokio::test(start_paused = true)]
async fn a_timed_step_after_the_alarm_rang_for_an_earlier_one_completes_within_its_limit() {
    assert_eq!(
        run([100, 500, 250]).await,
        (Ending::Completed(()), Duration::from_millis(850))
    );
}
