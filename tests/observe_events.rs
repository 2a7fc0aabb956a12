//! Add-ons hear every task's lifecycle as typed events, in one exact order per task: for
//! success, failure, a cancel during a step or between steps or before the first step, a
//! timeout, a panic, a dropped handle, `cancel_all`, `shutdown` and a runtime that drops the task.
//! (The queue add-on's events, a cancel while queued included: `tests/observe_queue.rs`.)

use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{
    flow, CancelReason, HasTaskManager, Passport, Task, TaskHandle, TaskManager,
};
use task_manager_support::{EventLog, Gate};

// Its own flow, not `task_manager_support::pipeline`: steps that fail or panic on cue, and a `c`
// with no cleanup, are what is tested.
#[derive(HasTaskManager)]
struct Pipeline {
    tasks: TaskManager,
    gates: [Gate; 3],
    script: Script,
}

/// What the steps do besides passing their gate.
#[derive(Default)]
struct Script {
    /// Each step sleeps this long (on the paused clock) before its gate.
    work: Duration,
    fail_at: Option<&'static str>,
    panic_at: Option<&'static str>,
    /// This step cancels its own task as the last thing it does: the cancel lands between
    /// it and the next step.
    cancel_after: Option<&'static str>,
}

impl Pipeline {
    async fn run(&self, task: &Task, name: &'static str, index: usize) -> Result<(), String> {
        tokio::time::sleep(self.script.work).await;
        self.gates[index].pass().await;
        if self.script.panic_at == Some(name) {
            panic!("boom in {name}");
        }
        if self.script.fail_at == Some(name) {
            return Err(format!("{name} failed"));
        }
        if self.script.cancel_after == Some(name) {
            self.tasks.cancel(task.id(), "landed between steps");
        }
        Ok(())
    }
}

#[flow(name = pipeline)]
impl Pipeline {
    #[step(cancel = clean_a)]
    async fn a(&self, task: &mut Task) -> Result<(), String> {
        self.run(task, "a", 0).await
    }

    #[step(cancel = clean_b)]
    async fn b(&self, task: &mut Task) -> Result<(), String> {
        self.run(task, "b", 1).await
    }

    /// No cleanup declared: a cancel here tells no cleanup events.
    #[step]
    async fn c(&self, task: &mut Task) -> Result<(), String> {
        self.run(task, "c", 2).await
    }

    async fn clean_a(&self, _task: &mut Task, _reason: CancelReason) {}

    async fn clean_b(&self, _task: &mut Task, _reason: CancelReason) {}
}

/// A pipeline whose manager tells `log`, with the gates of `open` open.
fn pipeline(log: &EventLog, open: &[usize], script: Script) -> Arc<Pipeline> {
    let pipeline = Arc::new(Pipeline {
        tasks: TaskManager::builder()
            .addon(log.clone())
            .build()
            .expect("nothing to refuse"),
        gates: Default::default(),
        script,
    });
    for &index in open {
        pipeline.gates[index].open();
    }
    pipeline
}

fn start(pipeline: &Arc<Pipeline>, passport: Passport) -> TaskHandle<(), String, ()> {
    pipeline.execute_pipeline(passport).expect("submitted")
}

#[tokio::test(start_paused = true)]
async fn a_task_that_completes_tells_each_step_and_its_duration() {
    let log = EventLog::new();
    let script = Script {
        work: Duration::from_secs(2),
        ..Script::default()
    };
    let pipeline = pipeline(&log, &[0, 1, 2], script);
    let outcome = start(&pipeline, Passport::new(())).await;
    assert!(outcome.is_completed());
    assert_eq!(
        log.entries(),
        [
            "submitted",
            "started",
            "step a#0 started",
            "step a#0 completed",
            "step b#1 started",
            "step b#1 completed",
            "step c#2 started",
            "step c#2 completed",
            "finished: completed",
        ]
    );
    let secs = Duration::from_secs;
    assert_eq!(
        log.durations(),
        [
            ("a".to_string(), secs(2)),
            ("b".to_string(), secs(2)),
            ("c".to_string(), secs(2)),
            ("task".to_string(), secs(6)),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_step_ends_the_sequence_with_no_cleanup() {
    let log = EventLog::new();
    let script = Script {
        fail_at: Some("b"),
        ..Script::default()
    };
    let pipeline = pipeline(&log, &[0, 1, 2], script);
    let outcome = start(&pipeline, Passport::new(())).await;
    assert!(outcome.into_result().is_err());
    assert_eq!(
        log.entries(),
        [
            "submitted",
            "started",
            "step a#0 started",
            "step a#0 completed",
            "step b#1 started",
            "step b#1 failed",
            "finished: failed at step `b`",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancel_during_a_step_is_told_before_the_step_ends_then_its_cleanup() {
    let log = EventLog::new();
    let pipeline = pipeline(&log, &[0], Script::default());
    let passport = Passport::new(());
    let id = passport.id();
    let handle = start(&pipeline, passport);
    pipeline.gates[1].arrived().await;
    pipeline.tasks.cancel(id, "user left");
    assert!(handle.await.is_cancelled());
    assert_eq!(
        log.entries(),
        [
            "submitted",
            "started",
            "step a#0 started",
            "step a#0 completed",
            "step b#1 started",
            "cancel requested: cancelled: user left (by Request)",
            "step b#1 cancelled",
            "cleanup b#1 started: cancelled: user left",
            "cleanup b#1 finished: completed",
            "finished: cancelled: user left at step `b`",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancel_during_a_step_without_cleanup_tells_no_cleanup() {
    let log = EventLog::new();
    let pipeline = pipeline(&log, &[0, 1], Script::default());
    let passport = Passport::new(());
    let id = passport.id();
    let handle = start(&pipeline, passport);
    pipeline.gates[2].arrived().await;
    pipeline.tasks.cancel(id, "user left");
    assert!(handle.await.is_cancelled());
    assert_eq!(
        log.entries()[6..],
        [
            "step c#2 started",
            "cancel requested: cancelled: user left (by Request)",
            "step c#2 cancelled",
            "finished: cancelled: user left at step `c`",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancel_between_steps_is_told_with_no_step_in_progress() {
    let log = EventLog::new();
    let script = Script {
        cancel_after: Some("a"),
        ..Script::default()
    };
    let pipeline = pipeline(&log, &[0, 1, 2], script);
    let outcome = start(&pipeline, Passport::new(())).await;
    assert!(outcome.is_cancelled());
    assert_eq!(
        log.entries(),
        [
            "submitted",
            "started",
            "step a#0 started",
            "step a#0 completed",
            "cancel requested: cancelled: landed between steps (by Request)",
            "finished: cancelled: landed between steps after 1 step(s)",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancel_after_the_last_step_is_told_before_the_cancelled_ending() {
    let log = EventLog::new();
    let script = Script {
        cancel_after: Some("c"),
        ..Script::default()
    };
    let pipeline = pipeline(&log, &[0, 1, 2], script);
    assert!(start(&pipeline, Passport::new(())).await.is_cancelled());
    assert_eq!(
        log.entries()[7..],
        [
            "step c#2 completed",
            "cancel requested: cancelled: landed between steps (by Request)",
            "finished: cancelled: landed between steps after 3 step(s)",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancel_before_the_first_step_starts_the_task_and_no_step() {
    let log = EventLog::new();
    let pipeline = pipeline(&log, &[0, 1, 2], Script::default());
    let passport = Passport::new(());
    let id = passport.id();
    let handle = start(&pipeline, passport);
    // Not polled yet on this single-threaded runtime.
    pipeline.tasks.cancel(id, "never mind");
    assert!(handle.await.is_cancelled());
    assert_eq!(
        log.entries(),
        [
            "submitted",
            "started",
            "cancel requested: cancelled: never mind (by Request)",
            "finished: cancelled: never mind after 0 step(s)",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_timeout_is_told_as_a_cancel_by_the_deadline() {
    let log = EventLog::new();
    let script = Script {
        work: Duration::from_secs(1),
        ..Script::default()
    };
    // `b` never gets through its gate: the 5 s deadline stops it.
    let pipeline = pipeline(&log, &[0], script);
    let passport = Passport::new(()).with_timeout(Duration::from_secs(5));
    let outcome = start(&pipeline, passport).await;
    assert!(outcome.into_result().is_err_and(|error| error.is_timeout()));
    assert_eq!(
        log.entries(),
        [
            "submitted",
            "started",
            "step a#0 started",
            "step a#0 completed",
            "step b#1 started",
            "cancel requested: timed out (by Timeout)",
            "step b#1 cancelled",
            "cleanup b#1 started: timed out",
            "cleanup b#1 finished: completed",
            "finished: timed out at step `b`",
        ]
    );
    let secs = Duration::from_secs;
    assert_eq!(
        log.durations(),
        [
            ("a".to_string(), secs(1)),
            ("b".to_string(), secs(4)),
            ("task".to_string(), secs(5)),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicking_step_is_told_then_its_cleanup_with_no_cancel() {
    let log = EventLog::new();
    let script = Script {
        panic_at: Some("b"),
        ..Script::default()
    };
    let pipeline = pipeline(&log, &[0, 1, 2], script);
    let outcome = start(&pipeline, Passport::new(())).await;
    assert!(!outcome.is_completed() && !outcome.is_cancelled());
    assert_eq!(
        log.entries(),
        [
            "submitted",
            "started",
            "step a#0 started",
            "step a#0 completed",
            "step b#1 started",
            "step b#1 panicked",
            "cleanup b#1 started: the step panicked",
            "cleanup b#1 finished: completed",
            "finished: panicked at step `b`: boom in b",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_handle_is_told_as_the_cancel_s_source() {
    let log = EventLog::new();
    let pipeline = pipeline(&log, &[], Script::default());
    let handle = start(&pipeline, Passport::new(()));
    pipeline.gates[0].arrived().await;
    drop(handle);
    let ending = "finished: its handle was dropped at step `a`";
    log.journal().wait_for(ending).await;
    assert_eq!(
        log.entries()[3..],
        [
            "cancel requested: its handle was dropped (by HandleDropped)",
            "step a#0 cancelled",
            "cleanup a#0 started: its handle was dropped",
            "cleanup a#0 finished: completed",
            ending,
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn cancel_all_is_told_as_the_cancel_s_source_for_each_task() {
    let log = EventLog::new();
    let pipeline = pipeline(&log, &[], Script::default());
    let first = start(&pipeline, Passport::new(()));
    let second = start(&pipeline, Passport::new(()));
    pipeline.gates[0].arrived().await;
    pipeline.gates[0].arrived().await;
    let cancelled = pipeline.tasks.cancel_all("closing");
    assert_eq!(cancelled.requested(), 2);
    assert!(first.await.is_cancelled() && second.await.is_cancelled());
    let told = "cancel requested: cancelled: closing (by CancelAll)";
    assert_eq!(log.journal().count(told), 2);
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_is_told_as_the_cancel_s_source() {
    let log = EventLog::new();
    let pipeline = pipeline(&log, &[], Script::default());
    let handle = start(&pipeline, Passport::new(()));
    pipeline.gates[0].arrived().await;
    let report = pipeline.tasks.shutdown(Duration::from_secs(1)).await;
    assert_eq!(report.cancelled, 1);
    assert!(handle.await.is_cancelled());
    assert_eq!(
        log.journal()
            .count("cancel requested: the task manager is shutting down (by Shutdown)"),
        1,
        "{:?}",
        log.entries()
    );
}

#[test]
fn a_task_its_runtime_drops_is_told_finished_as_dropped() {
    let log = EventLog::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    let pipeline = pipeline(&log, &[], Script::default());
    runtime.block_on(async {
        start(&pipeline, Passport::new(())).detach();
        pipeline.gates[0].arrived().await;
    });
    drop(runtime);
    assert_eq!(
        log.entries(),
        [
            "submitted",
            "started",
            "step a#0 started",
            "finished: dropped by its runtime",
        ]
    );
}
