//! The three-step fixture of the tests about where a cancel lands (`tests/cancel_during_step.rs`,
//! `tests/cancel_between_steps.rs`, `tests/dropped_handle.rs`): steps `a`, `b` and `c`, each
//! waiting at its own gate, each with a cleanup, all writing to one journal.
//!
//! The journal says, for step `a`: "a began" when the step begins, "a returned" when it gets
//! through its gate and returns, "a dropped" when its future is dropped (after "a returned",
//! or alone when the step is stopped); "cleanup a began: `reason`" and "cleanup a finished"
//! around its cleanup.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use task_manager_core::{
    flow, CancelReason, CancelStatus, Cancellation, HasTaskManager, Task, TaskManager,
};

use crate::{Gate, Journal};

/// The manager of the `pipeline` flow, with its journal and its gates.
#[derive(HasTaskManager)]
pub struct Pipeline {
    /// The tasks of `pipeline`.
    pub tasks: TaskManager,
    /// What the steps and the cleanups did, in order.
    pub journal: Journal,
    /// One gate per step: step `i` waits at `gates[i]` until the test opens it.
    pub gates: [Gate; 3],
    script: Script,
    /// The cancellation that [`Script::cancels_as_it_finishes`]'s step got.
    cancellation: Mutex<Option<Cancellation>>,
}

/// What a [`Pipeline`] does besides the plain walk through its gates.
#[derive(Clone, Copy, Debug, Default)]
pub struct Script {
    /// How many one-second sleeps (on the paused clock) each cleanup takes between its two
    /// lines: a cleanup with several awaits, which a cancel must not cut short.
    pub cleanup_seconds: u32,
    /// The step (if any) that cancels its own task as the very last thing it does before
    /// returning: the cancel lands after the step's work is done, before the next step.
    pub cancels_as_it_finishes: Option<&'static str>,
}

impl Pipeline {
    /// A pipeline with the gates of the steps `open` open, instant cleanups, and no step that
    /// cancels its task.
    pub fn new(open: &[usize]) -> Arc<Self> {
        Self::scripted(open, Script::default())
    }

    /// A pipeline with the gates of the steps `open` open, doing what `script` says.
    pub fn scripted(open: &[usize], script: Script) -> Arc<Self> {
        let pipeline = Arc::new(Pipeline {
            tasks: TaskManager::new(),
            journal: Journal::new(),
            gates: Default::default(),
            script,
            cancellation: Mutex::new(None),
        });
        for &index in open {
            pipeline.gates[index].open();
        }
        pipeline
    }

    /// The cancellation that [`Script::cancels_as_it_finishes`]'s step got, once it has.
    pub fn take_cancellation(&self) -> Option<Cancellation> {
        self.cancellation
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// The journal's cleanup lines, in order.
    pub fn cleanups(&self) -> Vec<String> {
        self.journal.with_prefix("cleanup")
    }

    /// What every step does: say it began, wait at its gate, say it returned. The guard
    /// records when the step's future is dropped, whether it returned or was stopped.
    async fn run(&self, task: &Task, name: &'static str, index: usize) {
        self.journal.record(format_args!("{name} began"));
        let _dropped = self.journal.on_drop(format_args!("{name} dropped"));
        self.gates[index].pass().await;
        self.journal.record(format_args!("{name} returned"));
        if self.script.cancels_as_it_finishes == Some(name) {
            let cancellation = self.tasks.cancel(task.id(), "arrived as a step finished");
            assert_eq!(cancellation.status(), CancelStatus::Requested);
            *self
                .cancellation
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(cancellation);
        }
    }

    /// What every cleanup does: say it began and why, take its time, say it finished.
    async fn clean(&self, name: &str, reason: CancelReason) {
        self.journal
            .record(format_args!("cleanup {name} began: {reason}"));
        for _ in 0..self.script.cleanup_seconds {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        self.journal.record(format_args!("cleanup {name} finished"));
    }
}

/// `pipeline`: steps `a`, `b`, `c`, each waiting at its gate, each with a cleanup.
#[flow(name = pipeline)]
impl Pipeline {
    #[step(cancel = clean_a)]
    async fn a(&self, task: &mut Task) -> Result<(), Infallible> {
        self.run(task, "a", 0).await;
        Ok(())
    }

    #[step(cancel = clean_b)]
    async fn b(&self, task: &mut Task) -> Result<(), Infallible> {
        self.run(task, "b", 1).await;
        Ok(())
    }

    #[step(cancel = clean_c)]
    async fn c(&self, task: &mut Task) -> Result<(), Infallible> {
        self.run(task, "c", 2).await;
        Ok(())
    }

    async fn clean_a(&self, _task: &mut Task, reason: CancelReason) {
        self.clean("a", reason).await;
    }

    async fn clean_b(&self, _task: &mut Task, reason: CancelReason) {
        self.clean("b", reason).await;
    }

    async fn clean_c(&self, _task: &mut Task, reason: CancelReason) {
        self.clean("c", reason).await;
    }
}
