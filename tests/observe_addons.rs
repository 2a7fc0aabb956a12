//! Add-ons: several per manager, called in the order given; a panicking add-on loses the
//! event and nothing else; a step's own typed events and progress reach them.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use task_manager_core::{
    flow, Addon, CancelStatus, EventKind, HasTaskManager, Passport, Progress, Task, TaskEvent,
    TaskId, TaskManager,
};
use task_manager_support::{EventLog, Journal};

/// A step's own event: typed, read back by type.
#[derive(Debug, PartialEq, Eq, Clone)]
struct RowsFetched {
    rows: usize,
}

/// Another type, that no add-on here reads as `RowsFetched`.
struct Unrelated;

#[derive(HasTaskManager)]
struct Export {
    tasks: TaskManager,
}

#[flow(name = export)]
impl Export {
    #[step]
    async fn fetch(&self, task: &mut Task) -> Result<usize, Infallible> {
        task.set_progress(0, 3);
        task.emit(RowsFetched { rows: 3 });
        task.emit(Unrelated);
        task.set_progress(3, 3);
        Ok(3)
    }

    #[step]
    async fn write(&self, _task: &mut Task, rows: usize) -> Result<usize, Infallible> {
        Ok(rows)
    }
}

fn export(tasks: TaskManager) -> Arc<Export> {
    Arc::new(Export { tasks })
}

/// Panics on every step event; counts every call.
#[derive(Default)]
struct Panicky {
    calls: AtomicUsize,
}

impl Addon for Panicky {
    fn on_event(&self, event: &TaskEvent<'_>) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if let EventKind::StepStarted { .. } | EventKind::StepFinished { .. } = event.kind {
            panic!("the add-on fails");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_add_on_loses_only_its_event_and_stays_installed() {
    let panicky = Arc::new(Panicky::default());
    let log = EventLog::new();
    let tasks = TaskManager::builder()
        .addon(Arc::clone(&panicky))
        .addon(log.clone())
        .build()
        .expect("nothing to refuse");
    let outcome = export(tasks)
        .execute_export(Passport::new(()))
        .expect("submitted")
        .await;

    assert_eq!(outcome.into_result().expect("completed"), 3);
    // The add-on after it heard every event, the step events included.
    assert_eq!(
        log.entries(),
        [
            "submitted",
            "started",
            "step fetch#0 started",
            "progress 0/3 at fetch#0",
            "custom RowsFetched at fetch#0",
            "custom Unrelated at fetch#0",
            "progress 3/3 at fetch#0",
            "step fetch#0 completed",
            "step write#1 started",
            "step write#1 completed",
            "finished: completed",
        ]
    );
    // It was called for every event, after each of its panics too.
    assert_eq!(panicky.calls.load(Ordering::Relaxed), log.entries().len());
}

/// Writes `"<tag>: <event>"` into a shared journal.
struct Tagged(&'static str, Journal);

impl Addon for Tagged {
    fn on_event(&self, event: &TaskEvent<'_>) {
        if let EventKind::Submitted | EventKind::Finished { .. } = event.kind {
            self.1.record(format_args!(
                "{}: {}",
                self.0,
                task_manager_support::describe(event)
            ));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn add_ons_hear_each_event_in_the_order_they_were_added() {
    let journal = Journal::new();
    let tasks = TaskManager::builder()
        .addon(Tagged("first", journal.clone()))
        .addon(Tagged("second", journal.clone()))
        .build()
        .expect("nothing to refuse");
    let _ = export(tasks)
        .execute_export(Passport::new(()))
        .expect("submitted")
        .await;
    assert_eq!(
        journal.entries(),
        [
            "first: submitted",
            "second: submitted",
            "first: finished: completed",
            "second: finished: completed",
        ]
    );
}

/// Keeps the `RowsFetched` events it finds, with their step.
#[derive(Default)]
struct RowCounter {
    seen: Mutex<Vec<(RowsFetched, Option<&'static str>)>>,
}

impl Addon for RowCounter {
    fn on_event(&self, event: &TaskEvent<'_>) {
        if let Some(fetched) = event.custom::<RowsFetched>() {
            let step = event.step().map(|step| step.name);
            self.seen
                .lock()
                .expect("not poisoned")
                .push((fetched.clone(), step));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_step_s_own_event_reaches_add_ons_by_its_type() {
    let counter = Arc::new(RowCounter::default());
    let tasks = TaskManager::builder()
        .addon(Arc::clone(&counter))
        .build()
        .expect("nothing to refuse");
    let _ = export(tasks)
        .execute_export(Passport::new(()))
        .expect("submitted")
        .await;
    assert_eq!(
        *counter.seen.lock().expect("not poisoned"),
        [(RowsFetched { rows: 3 }, Some("fetch"))],
        "exactly the one `RowsFetched`, not the `Unrelated` event"
    );
}

/// Records whether steps see themselves observed, and the progress they read back.
#[derive(HasTaskManager)]
struct Probe {
    tasks: TaskManager,
    seen: Mutex<Vec<(bool, Option<Progress>)>>,
}

#[flow(name = probe)]
impl Probe {
    #[step]
    async fn look(&self, task: &mut Task) -> Result<(), Infallible> {
        task.set_progress(1, 4);
        self.seen
            .lock()
            .expect("not poisoned")
            .push((task.is_observed(), task.progress()));
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_step_knows_whether_anyone_hears_its_events() {
    for (tasks, observed) in [
        (TaskManager::new(), false),
        (
            TaskManager::builder().build().expect("nothing to refuse"),
            false,
        ),
        (
            TaskManager::builder()
                .addon(EventLog::new())
                .build()
                .expect("nothing to refuse"),
            true,
        ),
    ] {
        let probe = Arc::new(Probe {
            tasks,
            seen: Mutex::new(Vec::new()),
        });
        let _ = probe
            .execute_probe(Passport::new(()))
            .expect("submitted")
            .await;
        assert_eq!(
            *probe.seen.lock().expect("not poisoned"),
            [(observed, Some(Progress { done: 1, total: 4 }))]
        );
    }
}

/// Keeps each task's event kinds, in the order they came.
#[derive(Default)]
struct PerTask {
    seen: Mutex<HashMap<TaskId, Vec<&'static str>>>,
}

impl Addon for PerTask {
    fn on_event(&self, event: &TaskEvent<'_>) {
        let kind = match event.kind {
            EventKind::Submitted => "submitted",
            EventKind::Started => "started",
            EventKind::CancelRequested { .. } => "cancel",
            EventKind::Finished { .. } => "finished",
            _ => "other",
        };
        self.seen
            .lock()
            .expect("not poisoned")
            .entry(event.id)
            .or_default()
            .push(kind);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_many_threads_each_task_s_events_still_come_in_order() {
    let per_task = Arc::new(PerTask::default());
    let export = export(
        TaskManager::builder()
            .addon(Arc::clone(&per_task))
            .build()
            .expect("nothing to refuse"),
    );
    let mut handles = Vec::new();
    let mut cancelled = Vec::new();
    for n in 0..200 {
        let handle = export.execute_export(Passport::new(())).expect("submitted");
        // A worker may have finished the task already: only a cancel that took effect counts.
        if n % 2 == 0 && handle.cancel("half of them").status() == CancelStatus::Requested {
            cancelled.push(handle.id());
        }
        handles.push(handle);
    }
    for handle in handles {
        let _ = handle.await;
    }
    let seen = per_task.seen.lock().expect("not poisoned");
    assert_eq!(seen.len(), 200);
    for kinds in seen.values() {
        assert_eq!(kinds.first(), Some(&"submitted"), "{kinds:?}");
        assert_eq!(kinds.last(), Some(&"finished"), "{kinds:?}");
        assert_eq!(kinds.iter().filter(|kind| **kind == "finished").count(), 1);
        assert!(kinds.iter().filter(|kind| **kind == "cancel").count() <= 1);
    }
    for id in cancelled {
        assert!(seen[&id].contains(&"cancel"), "{id}: {:?}", seen[&id]);
    }
}
