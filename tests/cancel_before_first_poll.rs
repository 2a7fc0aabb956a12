//! Contract 4, at the instant a step begins: a cancel that lands before a step's first poll
//! keeps that step from beginning, wherever it comes from. `StepStarted` is told right
//! before the first poll, so an add-on that cancels on hearing it (or that has another
//! thread cancel meanwhile) stops the step before its body runs: no cleanup, the step is not
//! in the report, and its `StepFinished` closes it at once.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use task_manager_core::{
    flow, Addon, CancelReason, CancelStatus, Cleanup, Ending, EventKind, HasTaskManager, Passport,
    StepEnd, Task, TaskEvent, TaskManager,
};
use task_manager_support::{EventLog, Journal};

#[derive(HasTaskManager)]
struct Orders {
    tasks: TaskManager,
    journal: Journal,
}

#[flow(name = orders)]
impl Orders {
    #[step(cancel = release)]
    async fn reserve(&self, _task: &mut Task) -> Result<u32, Infallible> {
        self.journal.record("reserve ran");
        tokio::task::yield_now().await;
        Ok(7)
    }

    /// Does its irreversible work before its first await: it must not run once cancelled.
    #[step(cancel = void)]
    async fn charge(&self, _task: &mut Task, amount: u32) -> Result<u32, Infallible> {
        self.journal.record(format_args!("charged {amount}"));
        Ok(amount)
    }

    async fn release(&self, _task: &mut Task, reason: CancelReason) {
        self.journal.record(format_args!("release: {reason}"));
    }

    async fn void(&self, _task: &mut Task, reason: CancelReason) {
        self.journal.record(format_args!("void: {reason}"));
    }
}

/// Who cancels, once the add-on hears `StepStarted` of the step it watches.
#[derive(Clone, Copy)]
enum Canceller {
    /// The add-on itself, inside `on_event`.
    TheAddon,
    /// Another OS thread, which the add-on waits for before it returns.
    AnotherThread,
}

/// Cancels the task when it hears `StepStarted` of step `step`; keeps the answers.
struct CancelOnStart {
    step: &'static str,
    by: Canceller,
    tasks: OnceLock<TaskManager>,
    answers: Mutex<Vec<CancelStatus>>,
}

impl Addon for CancelOnStart {
    fn on_event(&self, event: &TaskEvent<'_>) {
        let EventKind::StepStarted { step } = event.kind else {
            return;
        };
        if step.name != self.step {
            return;
        }
        let tasks = self.tasks.get().expect("set before any task runs").clone();
        let id = event.id;
        let answer = match self.by {
            Canceller::TheAddon => tasks.cancel(id, "stop at start").status(),
            Canceller::AnotherThread => {
                std::thread::spawn(move || tasks.cancel(id, "stop at start").status())
                    .join()
                    .expect("the cancelling thread returns")
            }
        };
        self.answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(answer);
    }
}

struct Setup {
    orders: Arc<Orders>,
    addon: Arc<CancelOnStart>,
    log: EventLog,
}

fn setup(step: &'static str, by: Canceller) -> Setup {
    let addon = Arc::new(CancelOnStart {
        step,
        by,
        tasks: OnceLock::new(),
        answers: Mutex::default(),
    });
    let log = EventLog::new();
    let tasks = TaskManager::builder()
        .addon(Arc::clone(&addon))
        .addon(log.clone())
        .build()
        .expect("nothing to refuse");
    addon
        .tasks
        .set(tasks.clone())
        .unwrap_or_else(|_| unreachable!("set once"));
    Setup {
        orders: Arc::new(Orders {
            tasks,
            journal: Journal::new(),
        }),
        addon,
        log,
    }
}

async fn cancelled_as_the_second_step_starts(by: Canceller) {
    let Setup { orders, addon, log } = setup("charge", by);
    let outcome = orders
        .execute_orders(Passport::new(()))
        .expect("submitted")
        .await;

    assert_eq!(
        *addon.answers.lock().unwrap(),
        [CancelStatus::Requested],
        "the cancel took effect"
    );
    // `charge` never ran: the cancel came before its first poll.
    assert_eq!(orders.journal.entries(), ["reserve ran"]);
    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::from("stop at start"),
            step: None,
            steps_completed: 1,
        }
    );
    assert_eq!(outcome.report().cleanup, Some(Cleanup::NoStepInProgress));
    let steps: Vec<_> = outcome
        .report()
        .steps()
        .map(|step| (step.name, step.end))
        .collect();
    assert_eq!(steps, [("reserve", StepEnd::Completed)], "charge never ran");
    assert_eq!(
        log.entries(),
        [
            "submitted",
            "started",
            "step reserve#0 started",
            "step reserve#0 completed",
            "step charge#1 started",
            "cancel requested: cancelled: stop at start (by Request)",
            "step charge#1 cancelled",
            "finished: cancelled: stop at start after 1 step(s)",
        ]
    );
    let charge = log
        .durations()
        .into_iter()
        .find(|(what, _)| what == "charge")
        .expect("charge's StepFinished");
    assert_eq!(charge.1, Duration::ZERO, "it never ran");
    assert!(orders.tasks.snapshot().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_add_on_that_cancels_on_step_started_keeps_the_step_from_beginning() {
    cancelled_as_the_second_step_starts(Canceller::TheAddon).await;
}

#[tokio::test(start_paused = true)]
async fn a_cancel_from_another_thread_while_step_started_is_told_keeps_the_step_from_beginning() {
    cancelled_as_the_second_step_starts(Canceller::AnotherThread).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_holds_on_the_multi_thread_runtime() {
    cancelled_as_the_second_step_starts(Canceller::AnotherThread).await;
}

#[tokio::test(start_paused = true)]
async fn a_cancel_as_the_first_step_starts_runs_no_step_at_all() {
    let Setup { orders, addon, .. } = setup("reserve", Canceller::TheAddon);
    let outcome = orders
        .execute_orders(Passport::new(()))
        .expect("submitted")
        .await;

    assert_eq!(*addon.answers.lock().unwrap(), [CancelStatus::Requested]);
    assert!(orders.journal.entries().is_empty(), "no step body ran");
    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::from("stop at start"),
            step: None,
            steps_completed: 0,
        }
    );
    assert_eq!(outcome.report().steps().len(), 0);
}
