//! Contract 5: cancelling twice, or from two places at once, runs the cleanup once; the
//! first reason wins.

use std::convert::Infallible;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use task_manager_core::{
    flow, CancelReason, CancelStatus, Cleanup, Ending, HasTaskManager, Passport, Task, TaskHandle,
    TaskId, TaskManager,
};
use task_manager_support::{Gate, Journal};

#[derive(HasTaskManager)]
struct Jobs {
    tasks: TaskManager,
    journal: Journal,
    /// Where `work` parks.
    working: Gate,
    /// Where the cleanup waits, when a test wants to act while it runs.
    cleaning: Option<Gate>,
}

#[flow(name = job, timeout = "10s")]
impl Jobs {
    #[step(cancel = undo)]
    async fn work(&self, _task: &mut Task) -> Result<(), Infallible> {
        self.working.park().await
    }

    async fn undo(&self, _task: &mut Task, reason: CancelReason) {
        self.journal.record(format_args!("cleanup began: {reason}"));
        if let Some(gate) = &self.cleaning {
            gate.pass().await;
        }
        self.journal.record("cleanup finished");
    }
}

fn jobs(cleaning: Option<Gate>) -> Arc<Jobs> {
    Arc::new(Jobs {
        tasks: TaskManager::new(),
        journal: Journal::new(),
        working: Gate::new(),
        cleaning,
    })
}

impl Jobs {
    /// Submits a task and waits until its step is parked in `work`, so that a cancel finds a
    /// step in progress.
    async fn start_working(self: &Arc<Self>) -> (TaskId, TaskHandle<(), Infallible, ()>) {
        let passport = Passport::new(());
        let id = passport.id();
        let handle = self.execute_job(passport).expect("submitted");
        self.working.arrived().await;
        (id, handle)
    }
}

#[tokio::test(start_paused = true)]
async fn a_second_cancel_is_already_requested_and_the_first_reason_stands() {
    let jobs = jobs(None);
    let (id, handle) = jobs.start_working().await;

    let first = jobs.tasks.cancel(id, "first");
    let second = jobs.tasks.cancel(id, "second");
    assert_eq!(first.status(), CancelStatus::Requested);
    assert_eq!(second.status(), CancelStatus::AlreadyRequested);

    let outcome = handle.await;
    let (first, second) = (first.await, second.await);
    assert!(matches!(
        first,
        Some(Cleanup::Completed { step: "work", .. })
    ));
    assert_eq!(first, second, "both cancellers learn the one cleanup");
    assert_eq!(
        jobs.journal.entries(),
        ["cleanup began: cancelled: first", "cleanup finished"]
    );
    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::from("first"),
            step: Some("work"),
            steps_completed: 0
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancel_during_the_cleanup_neither_interrupts_it_nor_starts_another() {
    let cleaning = Gate::new();
    let jobs = jobs(Some(cleaning.clone()));
    let (id, handle) = jobs.start_working().await;

    let first = jobs.tasks.cancel(id, "first");
    cleaning.arrived().await; // the cleanup is running, parked at its gate
    let again = jobs.tasks.cancel(id, "again");
    let by_handle = handle.cancel("by handle");
    assert_eq!(again.status(), CancelStatus::AlreadyRequested);
    assert_eq!(by_handle.status(), CancelStatus::AlreadyRequested);
    cleaning.open();

    let outcome = handle.await;
    assert_eq!(
        jobs.journal.entries(),
        ["cleanup began: cancelled: first", "cleanup finished"]
    );
    assert!(matches!(
        outcome.ending(),
        Ending::Cancelled { reason, .. } if *reason == CancelReason::from("first")
    ));
    assert_eq!(first.await, again.await);
}

#[tokio::test(start_paused = true)]
async fn cancels_from_several_tasks_have_one_winner_whose_reason_the_outcome_carries() {
    let jobs = jobs(None);
    let (id, handle) = jobs.start_working().await;

    let cancellers: Vec<_> = ["one", "two", "three", "four"]
        .into_iter()
        .map(|reason| {
            let tasks = jobs.tasks.clone();
            tokio::spawn(async move {
                let cancellation = tasks.cancel(id, reason);
                let status = cancellation.status();
                (reason, status, cancellation.await)
            })
        })
        .collect();
    let outcome = handle.await;
    let mut answers = Vec::new();
    for canceller in cancellers {
        answers.push(canceller.await.expect("canceller ran"));
    }

    let winners: Vec<&str> = answers
        .iter()
        .filter(|(_, status, _)| *status == CancelStatus::Requested)
        .map(|(reason, _, _)| *reason)
        .collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    assert!(answers.iter().all(|(_, status, _)| status.is_cancelling()));
    let expected_reason = CancelReason::from(winners[0]);
    assert!(matches!(
        outcome.ending(),
        Ending::Cancelled { reason, .. } if *reason == expected_reason
    ));
    assert_eq!(jobs.journal.count("cleanup finished"), 1);
    assert!(answers
        .iter()
        .all(|(_, _, cleanup)| matches!(cleanup, Some(Cleanup::Completed { .. }))));
}

#[tokio::test(start_paused = true)]
async fn a_deadline_passing_after_a_cancel_does_not_replace_its_reason() {
    let cleaning = Gate::new();
    let jobs = jobs(Some(cleaning.clone()));
    let (id, handle) = jobs.start_working().await;

    jobs.tasks.cancel(id, "user left");
    cleaning.arrived().await;
    tokio::time::sleep(Duration::from_secs(60)).await; // far past the flow's 10 s deadline
    cleaning.open();
    let outcome = handle.await;

    assert_eq!(
        jobs.journal.entries(),
        ["cleanup began: cancelled: user left", "cleanup finished"]
    );
    assert!(matches!(
        outcome.ending(),
        Ending::Cancelled { reason, .. } if *reason == CancelReason::from("user left")
    ));
}

/// Two threads cancel the same task at the same moment, many times over: each time exactly
/// one of them takes effect, the cleanup runs once, with the winner's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_threads_cancelling_at_once_run_the_cleanup_once() {
    for round in 0..300 {
        // The cleanup waits at its gate until both threads are done, so that the task is
        // still registered when the slower cancel arrives.
        let cleaning = Gate::new();
        let jobs = jobs(Some(cleaning.clone()));
        let (id, handle) = jobs.start_working().await;

        let start = Arc::new(Barrier::new(2));
        let cancel_from_thread = |reason: &'static str| {
            let (tasks, start) = (jobs.tasks.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                (reason, tasks.cancel(id, reason).status())
            })
        };
        let left = cancel_from_thread("left");
        let right = cancel_from_thread("right");
        let answers = [join(left), join(right)];
        cleaning.open();
        let outcome = handle.await;

        let winners: Vec<&str> = answers
            .iter()
            .filter(|(_, status)| *status == CancelStatus::Requested)
            .map(|(reason, _)| *reason)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {answers:?}");
        assert!(
            answers
                .iter()
                .any(|(_, status)| *status == CancelStatus::AlreadyRequested),
            "round {round}: {answers:?}"
        );
        assert_eq!(
            jobs.journal.entries(),
            [
                format!("cleanup began: cancelled: {}", winners[0]),
                "cleanup finished".to_string()
            ],
            "round {round}"
        );
        assert!(matches!(
            outcome.ending(),
            Ending::Cancelled { reason, .. } if *reason == CancelReason::from(winners[0])
        ));
        assert!(!jobs.tasks.contains(id));
    }
}

fn join(
    thread: std::thread::JoinHandle<(&'static str, CancelStatus)>,
) -> (&'static str, CancelStatus) {
    thread.join().expect("the cancelling thread panicked")
}
