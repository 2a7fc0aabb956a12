//! `TaskManager::status`: which flow a running task belongs to, which step is running, and
//! whether it is being cancelled; `None` once the task is gone.

use std::convert::Infallible;
use std::sync::Arc;

use task_manager_core::{
    flow, CancelReason, HasTaskManager, Passport, Task, TaskManager, TaskState, TaskStatus,
};
use task_manager_support::{Gate, Journal};

#[derive(HasTaskManager)]
struct Reports {
    tasks: TaskManager,
    journal: Journal,
    gates: [Gate; 2],
    cleaning: Gate,
}

#[flow(name = report)]
impl Reports {
    #[step]
    async fn query(&self, _task: &mut Task) -> Result<(), Infallible> {
        self.gates[0].pass().await;
        Ok(())
    }

    #[step(cancel = discard)]
    async fn render(&self, _task: &mut Task) -> Result<(), Infallible> {
        self.gates[1].pass().await;
        Ok(())
    }

    async fn discard(&self, _task: &mut Task, reason: CancelReason) {
        self.journal.record(format_args!("discard: {reason}"));
        self.cleaning.pass().await;
    }
}

fn status(flow_step: Option<(&'static str, usize)>, state: TaskState) -> Option<TaskStatus> {
    Some(TaskStatus {
        flow: "report",
        step: flow_step.map(|(name, _)| name),
        step_index: flow_step.map(|(_, index)| index),
        state,
        progress: None,
        parent: None,
    })
}

#[tokio::test(start_paused = true)]
async fn status_follows_the_task_from_submission_to_its_end() {
    let reports = Arc::new(Reports {
        tasks: TaskManager::new(),
        journal: Journal::new(),
        gates: Default::default(),
        cleaning: Gate::new(),
    });
    let passport = Passport::new(());
    let id = passport.id();
    let handle = reports.execute_report(passport).expect("submitted");
    assert_eq!(
        reports.tasks.status(id),
        status(None, TaskState::Running),
        "registered, no step begun yet"
    );

    reports.gates[0].arrived().await;
    assert_eq!(
        reports.tasks.status(id),
        status(Some(("query", 0)), TaskState::Running)
    );

    reports.gates[0].open();
    reports.gates[1].arrived().await;
    assert_eq!(
        reports.tasks.status(id),
        status(Some(("render", 1)), TaskState::Running)
    );

    reports.tasks.cancel(id, "stop");
    reports.cleaning.arrived().await;
    assert_eq!(
        reports.tasks.status(id),
        status(Some(("render", 1)), TaskState::Cancelling),
        "the cleanup of `render` is running"
    );

    reports.cleaning.open();
    let _ = handle.await;
    assert_eq!(reports.tasks.status(id), None);
}

#[tokio::test(start_paused = true)]
async fn a_task_cancelled_before_it_started_is_cancelling_at_no_step() {
    let reports = Arc::new(Reports {
        tasks: TaskManager::new(),
        journal: Journal::new(),
        gates: Default::default(),
        cleaning: Gate::new(),
    });
    let passport = Passport::new(());
    let id = passport.id();
    let handle = reports.execute_report(passport).expect("submitted");
    reports.tasks.cancel(id, "stop");
    assert_eq!(
        reports.tasks.status(id),
        status(None, TaskState::Cancelling)
    );
    assert!(handle.await.is_cancelled());
    assert_eq!(reports.journal.entries(), Vec::<String>::new());
}
