//! Contracts 3-6 under real concurrency: a cancel from another thread lands while a step
//! completes (or panics) on a worker thread. Where exactly it lands differs from round to
//! round; what must hold does not:
//!
//! * the task has exactly one ending, and it agrees with what `cancel` answered;
//! * at most one cleanup ran, and only for a step that began and did not return;
//! * the canceller's cleanup, the report's cleanup and the journal tell the same story.

use std::sync::{Arc, Barrier};

use task_manager_core::{
    flow, CancelReason, CancelStatus, Cleanup, Ending, HasTaskManager, Outcome, Passport, Task,
    TaskManager,
};
use task_manager_support::{soon, Gate, Journal};

const ROUNDS: usize = 300;

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("unused")]
struct Never;

/// What step `a` does once it is let through.
#[derive(Clone, Copy, PartialEq)]
enum Then {
    Returns,
    Panics,
}

#[derive(HasTaskManager)]
struct Racers {
    tasks: TaskManager,
    journal: Journal,
    release_a: Gate,
}

#[flow(name = race)]
impl Racers {
    #[step(cancel = clean_a)]
    async fn a(&self, task: &mut Task<Then>) -> Result<(), Never> {
        self.journal.record("a began");
        self.release_a.pass().await;
        if *task.payload() == Then::Panics {
            panic!("a panicked");
        }
        self.journal.record("a returned");
        Ok(())
    }

    #[step(cancel = clean_b)]
    async fn b(&self, _task: &mut Task<Then>) -> Result<&'static str, Never> {
        self.journal.record("b began");
        tokio::task::yield_now().await; // a window in which `b` is in progress
        self.journal.record("b returned");
        Ok("done")
    }

    async fn clean_a(&self, _task: &mut Task<Then>, reason: CancelReason) {
        self.journal.record(format_args!("cleanup a: {reason}"));
    }

    async fn clean_b(&self, _task: &mut Task<Then>, reason: CancelReason) {
        self.journal.record(format_args!("cleanup b: {reason}"));
    }
}

/// One round: `a` is released by the test's thread while a plain thread cancels the task.
async fn race_once(
    then: Then,
) -> (
    CancelStatus,
    Option<Cleanup>,
    Outcome<&'static str, Never, ()>,
    Journal,
) {
    let racers = Arc::new(Racers {
        tasks: TaskManager::new(),
        journal: Journal::new(),
        release_a: Gate::new(),
    });
    let passport = Passport::new(then);
    let id = passport.id();
    let handle = racers.execute_race(passport).expect("submitted");
    racers.release_a.arrived().await;

    let start = Arc::new(Barrier::new(2));
    let canceller = std::thread::spawn({
        let (tasks, start) = (racers.tasks.clone(), Arc::clone(&start));
        move || {
            start.wait();
            tasks.cancel(id, "race")
        }
    });
    start.wait();
    racers.release_a.open();
    let cancellation = canceller.join().expect("the canceller thread");
    let status = cancellation.status();
    let cleanup = soon("the end of the task", cancellation).await;
    let outcome = soon("the outcome", handle).await;
    assert!(!racers.tasks.contains(id));
    (status, cleanup, outcome, racers.journal.clone())
}

fn cleanups(journal: &Journal) -> Vec<String> {
    journal
        .entries()
        .into_iter()
        .filter(|entry| entry.starts_with("cleanup"))
        .collect()
}

/// The step whose cleanup the journal shows, checking it began and did not return.
fn cleaned_step(journal: &Journal) -> Option<&'static str> {
    let cleanups = cleanups(journal);
    assert!(cleanups.len() <= 1, "more than one cleanup: {cleanups:?}");
    let step = match cleanups.first().map(String::as_str) {
        None => return None,
        Some(entry) if entry.starts_with("cleanup a") => "a",
        Some(_) => "b",
    };
    assert!(
        journal.contains(&format!("{step} began")),
        "{:?}",
        journal.entries()
    );
    assert!(
        !journal.contains(&format!("{step} returned")),
        "the cleanup of a step that returned: {:?}",
        journal.entries()
    );
    Some(step)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_racing_a_step_s_completion_has_one_consistent_result() {
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for round in 0..ROUNDS {
        let (status, cleanup, outcome, journal) = race_once(Then::Returns).await;
        let context = format!(
            "round {round}: {status:?} {:?} {:?}",
            outcome.ending(),
            journal.entries()
        );
        let cleaned = cleaned_step(&journal);

        match outcome.ending() {
            Ending::Completed("done") => {
                assert!(
                    matches!(
                        status,
                        CancelStatus::AlreadyFinished | CancelStatus::NotFound
                    ),
                    "{context}"
                );
                assert_eq!(cleanup, None, "{context}");
                assert_eq!(cleaned, None, "{context}");
                assert!(journal.contains("b returned"), "{context}");
            }
            Ending::Cancelled {
                reason,
                step,
                steps_completed,
            } => {
                assert_eq!(status, CancelStatus::Requested, "{context}");
                assert_eq!(*reason, CancelReason::from("race"), "{context}");
                assert_eq!(
                    *step, cleaned,
                    "the interrupted step is the one cleaned: {context}"
                );
                let returned = ["a returned", "b returned"]
                    .iter()
                    .filter(|entry| journal.contains(entry))
                    .count();
                assert_eq!(*steps_completed, returned, "{context}");
                let expected = match step {
                    Some(step) => Some(Cleanup::Completed {
                        step,
                        duration: std::time::Duration::ZERO,
                    }),
                    None => Some(Cleanup::NoStepInProgress),
                };
                assert_eq!(
                    cleanup.as_ref().map(without_duration),
                    expected,
                    "{context}"
                );
                assert_eq!(outcome.report().cleanup, cleanup, "{context}");
            }
            other => panic!("unexpected ending {other:?} ({context})"),
        }
        *seen.entry(label(outcome.ending())).or_default() += 1;
    }
    eprintln!("where the cancel landed, over {ROUNDS} rounds: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_racing_a_step_s_panic_has_one_consistent_result() {
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for round in 0..ROUNDS {
        let (status, cleanup, outcome, journal) = race_once(Then::Panics).await;
        let context = format!(
            "round {round}: {status:?} {:?} {:?}",
            outcome.ending(),
            journal.entries()
        );
        let cleaned = cleaned_step(&journal);
        assert_eq!(cleaned, Some("a"), "a began and never returned: {context}");
        assert!(!journal.contains("b began"), "{context}");

        match outcome.ending() {
            Ending::Panicked { step: "a", message } => {
                assert_eq!(message, "a panicked");
                assert!(
                    matches!(
                        status,
                        CancelStatus::AlreadyFinished | CancelStatus::NotFound
                    ),
                    "{context}"
                );
                assert_eq!(cleanup, None, "the cancel caused no cleanup: {context}");
                assert!(
                    journal.contains("cleanup a: the step panicked"),
                    "{context}"
                );
            }
            Ending::Cancelled {
                reason,
                step: Some("a"),
                steps_completed: 0,
            } => {
                assert_eq!(status, CancelStatus::Requested, "{context}");
                assert_eq!(*reason, CancelReason::from("race"), "{context}");
                assert!(journal.contains("cleanup a: cancelled: race"), "{context}");
                assert!(
                    matches!(cleanup, Some(Cleanup::Completed { step: "a", .. })),
                    "{context}"
                );
            }
            other => panic!("unexpected ending {other:?} ({context})"),
        }
        *seen.entry(label(outcome.ending())).or_default() += 1;
    }
    eprintln!("where the cancel landed, over {ROUNDS} rounds: {seen:?}");
}

fn without_duration(cleanup: &Cleanup) -> Cleanup {
    match cleanup {
        Cleanup::Completed { step, .. } => Cleanup::Completed {
            step,
            duration: std::time::Duration::ZERO,
        },
        other => other.clone(),
    }
}

fn label<T, E>(ending: &Ending<T, E>) -> String {
    match ending {
        Ending::Completed(_) => "completed".to_string(),
        Ending::Failed { step, .. } => format!("failed at {step}"),
        Ending::Cancelled {
            step: Some(step), ..
        } => format!("cancelled at {step}"),
        Ending::Cancelled {
            step: None,
            steps_completed,
            ..
        } => format!("cancelled after {steps_completed} step(s)"),
        Ending::Panicked { step, .. } => format!("panicked at {step}"),
        Ending::TimedOut { step, .. } => format!("timed out at {step}"),
        other => format!("{other}"),
    }
}
