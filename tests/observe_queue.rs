//! Add-ons hear the queue add-on act, in the exact order `EventKind` documents: a task that
//! has to wait for its flow's limit is `Queued` and, cancelled there, never `Started`; a wait
//! longer than the max wait is a cancel by `CancelSource::MaxWait`; a step that has to wait
//! for its resource is told `WaitingForResource` before it starts, and a cancel there runs no
//! cleanup. The snapshot shows where each task waits.

use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{
    flow, CancelReason, Ending, HasTaskManager, Limit, Passport, SubmitError, Task, TaskManager,
    TaskManagerBuilder, TaskState,
};
use task_manager_support::{EventLog, Gate};

#[derive(HasTaskManager)]
struct Jobs {
    tasks: TaskManager,
}

/// A job's gate: a job with one stops at it in the step that holds a permit (its flow's, or
/// the resource's) until the test opens it; a job without one goes straight through.
type Job = Option<Gate>;

async fn pass(task: &Task<Job>) {
    if let Some(gate) = task.payload() {
        gate.pass().await;
    }
}

#[flow(name = limited, limit = 1)]
impl Jobs {
    #[step(cancel = clean_run)]
    async fn run(&self, task: &mut Task<Job>) -> Result<(), String> {
        pass(task).await;
        Ok(())
    }

    async fn clean_run(&self, _task: &mut Task<Job>, _reason: CancelReason) {}
}

#[flow(name = store)]
impl Jobs {
    #[step]
    async fn prepare(&self, _task: &mut Task<Job>) -> Result<(), String> {
        Ok(())
    }

    #[step(cancel = clean_save, resource = "db")]
    async fn save(&self, task: &mut Task<Job>) -> Result<(), String> {
        pass(task).await;
        Ok(())
    }

    async fn clean_save(&self, _task: &mut Task<Job>, _reason: CancelReason) {}
}

/// A flow whose first step already needs the resource.
#[flow(name = fetch)]
impl Jobs {
    #[step(cancel = clean_load, resource = "db")]
    async fn load(&self, task: &mut Task<Job>) -> Result<(), String> {
        pass(task).await;
        Ok(())
    }

    async fn clean_load(&self, _task: &mut Task<Job>, _reason: CancelReason) {}
}

/// The jobs of a manager built by `builder`, with `logs` as its add-ons.
fn jobs(builder: TaskManagerBuilder, logs: &[&EventLog]) -> Arc<Jobs> {
    let builder = logs
        .iter()
        .fold(builder, |builder, log| builder.addon((*log).clone()));
    Arc::new(Jobs {
        tasks: builder.build().expect("a valid configuration"),
    })
}

/// A job that holds its permit until `gate` opens.
fn holding(gate: &Gate) -> Passport<Job> {
    Passport::new(Some(gate.clone()))
}

fn completed_alone(steps: &[&str]) -> Vec<String> {
    let mut entries = vec!["submitted".to_string(), "started".to_string()];
    for step in steps {
        entries.push(format!("step {step} started"));
        entries.push(format!("step {step} completed"));
    }
    entries.push("finished: completed".to_string());
    entries
}

#[tokio::test(start_paused = true)]
async fn a_task_cancelled_while_queued_is_told_queued_then_cancelled_and_never_started() {
    let gate = Gate::new();
    let (holder, queued) = (holding(&gate), Passport::new(None));
    let (holder_id, queued_id) = (holder.id(), queued.id());
    let (holder_log, queued_log) = (EventLog::of_task(holder_id), EventLog::of_task(queued_id));
    let jobs = jobs(TaskManager::builder(), &[&holder_log, &queued_log]);
    let first = jobs.execute_limited(holder).expect("submitted");
    gate.arrived().await;
    let second = jobs.execute_limited(queued).expect("submitted");

    // Both were submitted at the same (paused) instant: the snapshot's order is theirs to pick.
    let mut states: Vec<_> = jobs
        .tasks
        .snapshot()
        .into_iter()
        .map(|task| (task.id == holder_id, task.status.state, task.status.step))
        .collect();
    states.sort_by_key(|(is_holder, ..)| !is_holder);
    assert_eq!(
        states,
        [
            (true, TaskState::Running, Some("run")),
            (false, TaskState::Queued { position: 0 }, None),
        ]
    );
    jobs.tasks.cancel(queued_id, "no longer needed");
    assert_eq!(
        second.await.ending(),
        &Ending::Cancelled {
            reason: CancelReason::from("no longer needed"),
            step: None,
            steps_completed: 0,
        }
    );
    assert_eq!(
        queued_log.entries(),
        [
            "submitted",
            "queued",
            "cancel requested: cancelled: no longer needed (by Request)",
            "finished: cancelled: no longer needed after 0 step(s)",
        ]
    );

    gate.open();
    assert!(first.await.is_completed());
    assert_eq!(holder_log.entries(), completed_alone(&["run#0"]));
}

#[tokio::test(start_paused = true)]
async fn a_queued_task_that_gets_its_turn_is_told_queued_then_started() {
    let gate = Gate::new();
    let (holder, queued) = (holding(&gate), Passport::new(None));
    let queued_log = EventLog::of_task(queued.id());
    let jobs = jobs(TaskManager::builder(), &[&queued_log]);
    let first = jobs.execute_limited(holder).expect("submitted");
    gate.arrived().await;
    let second = jobs.execute_limited(queued).expect("submitted");
    gate.open();
    assert!(first.await.is_completed());
    assert!(second.await.is_completed());
    assert_eq!(
        queued_log.entries(),
        [
            "submitted",
            "queued",
            "started",
            "step run#0 started",
            "step run#0 completed",
            "finished: completed",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_wait_longer_than_the_max_wait_is_told_as_a_cancel_by_the_max_wait() {
    let max_wait = Duration::from_secs(5);
    let gate = Gate::new();
    let (holder, queued) = (holding(&gate), Passport::new(None));
    let queued_log = EventLog::of_task(queued.id());
    let builder =
        TaskManager::builder().limit_flow("limited", Limit::new(1).with_max_wait(max_wait));
    let jobs = jobs(builder, &[&queued_log]);
    let first = jobs.execute_limited(holder).expect("submitted");
    gate.arrived().await;
    let second = jobs.execute_limited(queued).expect("submitted");

    let outcome = second.await;
    assert!(outcome
        .into_result()
        .is_err_and(|error| error.is_queue_wait_exceeded()));
    let refused = "refused after waiting longer than 5s in the queue";
    assert_eq!(
        queued_log.entries(),
        [
            "submitted".to_string(),
            "queued".to_string(),
            format!("cancel requested: {refused} (by MaxWait)"),
            format!("finished: {refused} after 0 step(s)"),
        ]
    );
    assert_eq!(queued_log.durations(), [("task".to_string(), max_wait)]);
    gate.open();
    assert!(first.await.is_completed());
}

#[tokio::test(start_paused = true)]
async fn a_task_refused_by_a_full_queue_is_told_nothing() {
    let gate = Gate::new();
    let refused = Passport::new(None);
    let refused_id = refused.id();
    let refused_log = EventLog::of_task(refused_id);
    let builder =
        TaskManager::builder().limit_flow("limited", Limit::new(1).with_queue_capacity(1));
    let jobs = jobs(builder, &[&refused_log]);
    let first = jobs.execute_limited(holding(&gate)).expect("submitted");
    gate.arrived().await;
    let second = jobs.execute_limited(Passport::new(None)).expect("queued");
    assert!(matches!(
        jobs.execute_limited(refused),
        Err(SubmitError::QueueFull { id, .. }) if id == refused_id
    ));
    gate.open();
    assert!(first.await.is_completed() && second.await.is_completed());
    assert_eq!(refused_log.entries(), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn a_step_that_waits_for_its_resource_is_told_waiting_before_it_starts() {
    let gate = Gate::new();
    let (holder, waiter) = (holding(&gate), Passport::new(None));
    let (holder_log, waiter_log) = (
        EventLog::of_task(holder.id()),
        EventLog::of_task(waiter.id()),
    );
    let waiter_id = waiter.id();
    let jobs = jobs(
        TaskManager::builder().resource("db", 1),
        &[&holder_log, &waiter_log],
    );
    let first = jobs.execute_store(holder).expect("submitted");
    gate.arrived().await;
    let second = jobs.execute_store(waiter).expect("submitted");
    waiter_log
        .journal()
        .wait_for("step save#1 waits for db")
        .await;

    let snapshot = jobs.tasks.snapshot();
    let waiting = snapshot
        .iter()
        .find(|task| task.id == waiter_id)
        .expect("listed");
    assert_eq!(
        (waiting.status.state, waiting.status.step),
        (
            TaskState::WaitingForResource { resource: "db" },
            Some("save")
        )
    );
    gate.open();
    assert!(first.await.is_completed());
    assert!(second.await.is_completed());
    assert_eq!(
        waiter_log.entries(),
        [
            "submitted",
            "started",
            "step prepare#0 started",
            "step prepare#0 completed",
            "step save#1 waits for db",
            "step save#1 started",
            "step save#1 completed",
            "finished: completed",
        ]
    );
    // The holder found the permit free: it was never told waiting.
    assert_eq!(
        holder_log.entries(),
        completed_alone(&["prepare#0", "save#1"])
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancel_while_a_step_waits_for_its_resource_is_told_with_no_cleanup() {
    let gate = Gate::new();
    let (holder, waiter) = (holding(&gate), Passport::new(None));
    let (waiter_id, waiter_log) = (waiter.id(), EventLog::of_task(waiter.id()));
    let jobs = jobs(TaskManager::builder().resource("db", 1), &[&waiter_log]);
    let first = jobs.execute_store(holder).expect("submitted");
    gate.arrived().await;
    let second = jobs.execute_store(waiter).expect("submitted");
    waiter_log
        .journal()
        .wait_for("step save#1 waits for db")
        .await;

    jobs.tasks.cancel(waiter_id, "user left");
    assert_eq!(
        second.await.ending(),
        &Ending::Cancelled {
            reason: CancelReason::from("user left"),
            step: None,
            steps_completed: 1,
        }
    );
    assert_eq!(
        waiter_log.entries(),
        [
            "submitted",
            "started",
            "step prepare#0 started",
            "step prepare#0 completed",
            "step save#1 waits for db",
            "cancel requested: cancelled: user left (by Request)",
            "finished: cancelled: user left after 1 step(s)",
        ]
    );
    gate.open();
    assert!(first.await.is_completed());
}

#[tokio::test(start_paused = true)]
async fn a_first_step_that_waits_for_its_resource_has_started_the_task() {
    let gate = Gate::new();
    let (holder, waiter) = (holding(&gate), Passport::new(None));
    let (waiter_id, waiter_log) = (waiter.id(), EventLog::of_task(waiter.id()));
    let jobs = jobs(TaskManager::builder().resource("db", 1), &[&waiter_log]);
    let first = jobs.execute_fetch(holder).expect("submitted");
    gate.arrived().await;
    let second = jobs.execute_fetch(waiter).expect("submitted");
    waiter_log
        .journal()
        .wait_for("step load#0 waits for db")
        .await;

    jobs.tasks.cancel(waiter_id, "user left");
    assert!(second.await.is_cancelled());
    assert_eq!(
        waiter_log.entries(),
        [
            "submitted",
            "started",
            "step load#0 waits for db",
            "cancel requested: cancelled: user left (by Request)",
            "finished: cancelled: user left after 0 step(s)",
        ]
    );
    gate.open();
    assert!(first.await.is_completed());
}
