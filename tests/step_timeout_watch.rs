//! Step policies, the time limit as the manager's step-time watch keeps it (limits of a second
//! or more, no per-call limit): a step far from its limit sets no alarm; the watch's ticker
//! asks a step near its limit to set its own precise one. These check what that adds: a
//! cancel after the ask still stops the step at once (the ask took the task's waker, and the
//! task registers it again); a step whose limit is longer than the watch's epochs span still
//! times out exactly at it; the ticker ends once no step is watched, and starts again with the
//! next one; and on the multi-threaded runtime the steps that overrun, and only they, time out.

use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{flow, Ending, HasTaskManager, Passport, Task, TaskManager};
use tokio::time::Instant;

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("never")]
struct Never;

/// Whether `wait` waits forever (`true`) or ends in its first poll.
type WaitTask = Task<bool>;

#[derive(HasTaskManager)]
struct Waits {
    tasks: TaskManager,
}

/// Ends in its first poll, or never wakes by itself: only the task's cancel signal or its
/// step's time limit can wake it.
async fn wait(forever: bool) -> Result<(), Never> {
    if forever {
        std::future::pending::<()>().await;
    }
    Ok(())
}

#[flow(name = second)]
impl Waits {
    #[step(timeout = "1s")]
    async fn second_wait(&self, task: &mut WaitTask) -> Result<(), Never> {
        wait(*task.payload()).await
    }
}

#[flow(name = ten_minutes)]
impl Waits {
    #[step(timeout = "10m")]
    async fn ten_minutes_wait(&self, task: &mut WaitTask) -> Result<(), Never> {
        wait(*task.payload()).await
    }
}

fn waits() -> Arc<Waits> {
    Arc::new(Waits {
        tasks: TaskManager::new(),
    })
}

fn timed_out(step: &'static str, limit: Duration) -> Ending<(), Never> {
    Ending::TimedOut { step, limit }
}

#[tokio::test(start_paused = true)]
async fn a_cancel_after_the_watch_asked_for_a_precise_alarm_stops_the_step_at_once() {
    let waits = waits();
    let started = Instant::now();
    let handle = waits.execute_second(Passport::new(true)).unwrap();
    // Past three quarters of the limit: the watch has asked the step to set its alarm.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let cancelled = handle.cancel("enough");
    let outcome = handle.await;
    assert!(cancelled.await.is_some());
    assert!(
        matches!(
            outcome.ending(),
            Ending::Cancelled {
                step: Some("second_wait"),
                ..
            }
        ),
        "{:?}",
        outcome.ending()
    );
    // Woken by the cancel, not by its alarm a tenth of a second later.
    assert_eq!(started.elapsed(), Duration::from_millis(900));
}

#[tokio::test(start_paused = true)]
async fn a_watched_step_times_out_exactly_at_its_limit() {
    let waits = waits();
    let started = Instant::now();
    let outcome = waits.execute_second(Passport::new(true)).unwrap().await;
    assert_eq!(
        outcome.ending(),
        &timed_out("second_wait", Duration::from_secs(1))
    );
    assert_eq!(started.elapsed(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn a_step_longer_than_the_watchs_epochs_span_times_out_exactly_at_its_limit() {
    let waits = waits();
    let started = Instant::now();
    let handle = waits.execute_ten_minutes(Passport::new(true)).unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(3_600), handle)
        .await
        .expect("the ten-minute step timed out within the hour");
    assert_eq!(
        outcome.ending(),
        &timed_out("ten_minutes_wait", Duration::from_secs(600))
    );
    assert_eq!(started.elapsed(), Duration::from_secs(600));
}

#[tokio::test(start_paused = true)]
async fn the_ticker_ends_when_no_step_is_watched_and_starts_again_with_the_next() {
    let waits = waits();
    let runtime = tokio::runtime::Handle::current().metrics();
    // A step that completes at once: its ticker ends at its next tick, finding nothing.
    let outcome = waits.execute_second(Passport::new(false)).unwrap().await;
    assert_eq!(outcome.ending(), &Ending::Completed(()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(runtime.num_alive_tasks(), 0, "the ticker still runs");
    // The next watched step starts it again, and times out exactly at its limit.
    let started = Instant::now();
    let handle = waits.execute_second(Passport::new(true)).unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(60), handle)
        .await
        .expect("the step timed out within the minute");
    assert_eq!(
        outcome.ending(),
        &timed_out("second_wait", Duration::from_secs(1))
    );
    assert_eq!(started.elapsed(), Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_multi_threaded_runtime_the_steps_that_overrun_and_only_they_time_out() {
    let waits = waits();
    let handles: Vec<_> = (0..64)
        .map(|i| {
            let forever = i % 4 == 0;
            (
                forever,
                waits.execute_second(Passport::new(forever)).unwrap(),
            )
        })
        .collect();
    for (forever, handle) in handles {
        let outcome = tokio::time::timeout(Duration::from_secs(30), handle)
            .await
            .expect("every task ended");
        if forever {
            assert_eq!(
                outcome.ending(),
                &timed_out("second_wait", Duration::from_secs(1))
            );
        } else {
            assert_eq!(outcome.ending(), &Ending::Completed(()));
        }
    }
}
