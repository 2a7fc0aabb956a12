//! Contract 15: many tasks run through one flow at once, independently; cancelling one
//! touches no other.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;

use task_manager_core::{
    flow, CancelReason, CancelStatus, Cleanup, Ending, HasTaskManager, Passport, Task, TaskHandle,
    TaskId, TaskManager,
};
use task_manager_support::{Gate, Journal};

/// Each task's payload: its number, and one gate per step, so that the test moves each task
/// on its own.
struct Job {
    number: usize,
    gates: [Gate; 2],
}

impl Job {
    fn new(number: usize) -> Self {
        Job {
            number,
            gates: Default::default(),
        }
    }
}

type JobTask = Task<Job>;

#[derive(HasTaskManager)]
struct Jobs {
    tasks: TaskManager,
    journal: Journal,
}

#[flow(name = job)]
impl Jobs {
    #[step(cancel = undo_first)]
    async fn first(&self, task: &mut JobTask) -> Result<usize, Infallible> {
        task.payload().gates[0].pass().await;
        Ok(task.payload().number * 10)
    }

    #[step(cancel = undo_second)]
    async fn second(&self, task: &mut JobTask, tens: usize) -> Result<usize, Infallible> {
        task.payload().gates[1].pass().await;
        Ok(tens + 1)
    }

    async fn undo_first(&self, task: &mut JobTask, reason: CancelReason) {
        self.journal.record(format_args!(
            "cleanup first of {}: {reason}",
            task.payload().number
        ));
    }

    async fn undo_second(&self, task: &mut JobTask, reason: CancelReason) {
        self.journal.record(format_args!(
            "cleanup second of {}: {reason}",
            task.payload().number
        ));
    }
}

/// One started task, as the test keeps it.
struct Started {
    id: TaskId,
    gates: [Gate; 2],
    handle: TaskHandle<usize, Infallible, ()>,
}

fn start(jobs: &Arc<Jobs>, number: usize) -> Started {
    let job = Job::new(number);
    let gates = job.gates.clone();
    let passport = Passport::new(job);
    let id = passport.id();
    let handle = jobs.execute_job(passport).expect("submitted");
    Started { id, gates, handle }
}

fn jobs() -> Arc<Jobs> {
    Arc::new(Jobs {
        tasks: TaskManager::new(),
        journal: Journal::new(),
    })
}

#[tokio::test(start_paused = true)]
async fn cancelling_one_of_a_hundred_running_tasks_touches_no_other() {
    let jobs = jobs();
    let started: Vec<Started> = (0..100).map(|number| start(&jobs, number)).collect();
    for task in &started {
        task.gates[0].arrived().await;
    }
    assert_eq!(jobs.tasks.len(), 100);
    let ids: HashSet<TaskId> = started.iter().map(|task| task.id).collect();
    assert_eq!(
        jobs.tasks.running_ids().into_iter().collect::<HashSet<_>>(),
        ids
    );

    let victim = started[37].id;
    assert_eq!(
        jobs.tasks.cancel(victim, "only this one").status(),
        CancelStatus::Requested
    );
    for task in &started {
        task.gates[0].open();
        task.gates[1].open();
    }

    for (number, task) in started.into_iter().enumerate() {
        let outcome = task.handle.await;
        assert_eq!(outcome.id(), task.id);
        if number == 37 {
            assert_eq!(
                outcome.ending(),
                &Ending::Cancelled {
                    reason: CancelReason::from("only this one"),
                    step: Some("first"),
                    steps_completed: 0
                }
            );
        } else {
            assert_eq!(outcome.ending(), &Ending::Completed(number * 10 + 1));
        }
    }
    assert_eq!(
        jobs.journal.entries(),
        ["cleanup first of 37: cancelled: only this one"]
    );
    assert!(jobs.tasks.is_empty());
}

#[tokio::test(start_paused = true)]
async fn tasks_at_different_steps_move_on_their_own() {
    let jobs = jobs();
    let ahead = start(&jobs, 1);
    let behind = start(&jobs, 2);
    ahead.gates[0].open();
    ahead.gates[1].arrived().await;
    behind.gates[0].arrived().await;

    let status = |id| jobs.tasks.status(id).and_then(|status| status.step);
    assert_eq!(status(ahead.id), Some("second"));
    assert_eq!(status(behind.id), Some("first"));

    let _ = jobs.tasks.cancel(ahead.id, "ahead only").await;
    assert_eq!(
        status(behind.id),
        Some("first"),
        "the other task did not move"
    );
    behind.gates[0].open();
    behind.gates[1].open();

    assert_eq!(behind.handle.await.into_result().expect("completed"), 21);
    assert!(matches!(
        ahead.handle.await.ending(),
        Ending::Cancelled {
            step: Some("second"),
            steps_completed: 1,
            ..
        }
    ));
    assert_eq!(
        jobs.journal.entries(),
        ["cleanup second of 1: cancelled: ahead only"]
    );
}

#[tokio::test(start_paused = true)]
async fn cancel_all_cancels_each_running_task_once_with_its_own_cleanup() {
    let jobs = jobs();
    let started: Vec<Started> = (0..10).map(|number| start(&jobs, number)).collect();
    for task in &started {
        task.gates[0].arrived().await;
    }

    let all = jobs.tasks.cancel_all(CancelReason::Shutdown);
    assert_eq!(all.requested(), 10);
    let mut cleaned: Vec<(TaskId, Option<Cleanup>)> = all.finished().await;
    cleaned.sort_by_key(|(id, _)| *id);
    let mut expected: Vec<TaskId> = started.iter().map(|task| task.id).collect();
    expected.sort();
    assert_eq!(
        cleaned.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        expected
    );
    assert!(cleaned
        .iter()
        .all(|(_, cleanup)| matches!(cleanup, Some(Cleanup::Completed { step: "first", .. }))));

    let mut entries = jobs.journal.entries();
    entries.sort();
    let mut expected: Vec<String> = (0..10)
        .map(|number| format!("cleanup first of {number}: the task manager is shutting down"))
        .collect();
    expected.sort();
    assert_eq!(entries, expected);
    for task in started {
        assert!(task.handle.await.is_cancelled());
    }
}

/// On two worker threads, half of two hundred tasks are cancelled from a plain thread while
/// the other half are let through: each task ends its own way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_several_threads_each_task_ends_its_own_way() {
    let jobs = jobs();
    let started: Vec<Started> = (0..200).map(|number| start(&jobs, number)).collect();
    for task in &started {
        task.gates[0].arrived().await;
    }

    let doomed: Vec<(usize, TaskId)> = started
        .iter()
        .enumerate()
        .filter(|(number, _)| number % 2 == 0)
        .map(|(number, task)| (number, task.id))
        .collect();
    let canceller = std::thread::spawn({
        let tasks = jobs.tasks.clone();
        move || {
            doomed
                .into_iter()
                .map(|(number, id)| tasks.cancel(id, format!("cancel {number}")).status())
                .collect::<Vec<_>>()
        }
    });
    for task in started.iter().skip(1).step_by(2) {
        task.gates[0].open();
        task.gates[1].open();
    }
    let statuses = canceller.join().expect("the canceller thread");
    assert!(statuses
        .iter()
        .all(|status| *status == CancelStatus::Requested));

    for (number, task) in started.into_iter().enumerate() {
        let outcome = task.handle.await;
        if number % 2 == 0 {
            assert_eq!(
                outcome.ending(),
                &Ending::Cancelled {
                    reason: CancelReason::from(format!("cancel {number}")),
                    step: Some("first"),
                    steps_completed: 0
                }
            );
        } else {
            assert_eq!(outcome.ending(), &Ending::Completed(number * 10 + 1));
        }
    }
    assert_eq!(jobs.journal.entries().len(), 100);
    assert!(jobs.tasks.is_empty());
}
