//! The loom model of the cell (see the module docs of `mod.rs`): each scenario runs under
//! every interleaving of its two threads and every visible order of their memory operations,
//! and fails on a broken assertion, a deadlock or a lost wake-up. Compiled only with
//! `--cfg task_manager_loom`, when `crate::sync` is loom's.
//!
//! The scenarios are the decisions the cell exists to make:
//! - a step finishing (the task seals its ending) against a cancel: exactly one wins, and a
//!   winning cancel's reason is always there for the task to read;
//! - two cancels: one takes effect, its reason and who asked for it (its source) stand;
//! - a cancel against a step going to sleep: the step is always woken;
//! - a canceller waiting for the end, a signal waiting for the cancel: always woken;
//! - an abandonment (its instance lost the task) against the seal and a cancel: one decision,
//!   and the mark, once; and a step going to sleep is woken by it.

use std::future::poll_fn;
use std::task::Poll;

use loom::sync::Arc;

use super::TaskCell;
use crate::cleanup::Cleanup;
use crate::reason::{CancelReason, CancelSource, CancelStatus};

fn task() -> Arc<TaskCell> {
    Arc::new(TaskCell::new(super::Marks {
        step: std::sync::atomic::AtomicU16::new(0),
        waiting: std::sync::atomic::AtomicBool::new(false),
        tree: std::sync::atomic::AtomicU8::new(0),
        timer: std::sync::atomic::AtomicU16::new(0),
    }))
}

#[test]
fn a_finishing_step_and_a_cancel_have_exactly_one_winner() {
    loom::model(|| {
        let task = task();
        let canceller = {
            let task = Arc::clone(&task);
            loom::thread::spawn(move || task.request_cancel(CancelReason::from("user")))
        };
        let sealed = task.seal();
        // The task reads the reason only when it lost; it must find the canceller's.
        let reason = (!sealed).then(|| task.reason());
        let status = canceller.join().expect("canceller");
        match status {
            CancelStatus::Requested => {
                assert!(!sealed, "both the cancel and the task's own ending won");
                assert_eq!(reason, Some(CancelReason::from("user")));
            }
            CancelStatus::AlreadyFinished => assert!(sealed, "neither won"),
            other => panic!("a lone cancel answered {other:?}"),
        }
    });
}

#[test]
fn of_two_cancels_the_winners_source_stands_with_its_reason() {
    loom::model(|| {
        let task = task();
        let other = {
            let task = Arc::clone(&task);
            loom::thread::spawn(move || {
                task.request_cancel_by(CancelReason::Shutdown, CancelSource::Shutdown)
            })
        };
        let mine = task.request_cancel_by(CancelReason::from("user"), CancelSource::CancelAll);
        let theirs = other.join().expect("canceller");
        // Read as the runner reads them: the reason, then the source, once it saw the cancel.
        let (reason, source) = (task.reason(), task.cancel_source());
        match (mine, theirs) {
            (CancelStatus::Requested, CancelStatus::AlreadyRequested) => {
                assert_eq!(
                    (reason, source),
                    (CancelReason::from("user"), CancelSource::CancelAll)
                );
            }
            (CancelStatus::AlreadyRequested, CancelStatus::Requested) => {
                assert_eq!(
                    (reason, source),
                    (CancelReason::Shutdown, CancelSource::Shutdown)
                );
            }
            pair => panic!("two cancels answered {pair:?}"),
        }
    });
}

#[test]
fn of_two_cancels_one_takes_effect_and_its_reason_stands() {
    loom::model(|| {
        let task = task();
        let other = {
            let task = Arc::clone(&task);
            loom::thread::spawn(move || task.request_cancel(CancelReason::from("second")))
        };
        let mine = task.request_cancel(CancelReason::from("first"));
        let theirs = other.join().expect("canceller");
        let winner = match (mine, theirs) {
            (CancelStatus::Requested, CancelStatus::AlreadyRequested) => "first",
            (CancelStatus::AlreadyRequested, CancelStatus::Requested) => "second",
            pair => panic!("two cancels answered {pair:?}"),
        };
        assert!(!task.seal(), "a cancelled task cannot seal its own ending");
        assert_eq!(task.reason(), CancelReason::from(winner));
    });
}

#[test]
fn a_cancel_always_wakes_a_step_that_is_going_to_sleep() {
    loom::model(|| {
        let task = task();
        let canceller = {
            let task = Arc::clone(&task);
            loom::thread::spawn(move || {
                let _ = task.request_cancel(CancelReason::Timeout);
            })
        };
        // `Scope::step`'s protocol: check, (poll the step: pending), register, check again.
        loom::future::block_on(poll_fn(|cx| {
            if task.is_cancel_requested() {
                return Poll::Ready(());
            }
            task.register_waker(cx.waker());
            if task.is_cancel_requested() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }));
        assert_eq!(task.reason(), CancelReason::Timeout);
        canceller.join().expect("canceller");
    });
}

#[test]
fn a_canceller_waiting_for_the_end_is_always_woken_with_the_cleanup() {
    loom::model(|| {
        let task = task();
        let _ = task.request_cancel(CancelReason::Shutdown);
        let waiter = {
            let task = Arc::clone(&task);
            loom::thread::spawn(move || loom::future::block_on(poll_fn(|cx| task.poll_ended(cx))))
        };
        task.record_cleanup(Cleanup::NoStepInProgress);
        task.end();
        assert_eq!(
            waiter.join().expect("waiter"),
            Some(Cleanup::NoStepInProgress)
        );
    });
}

#[test]
fn a_cancel_signal_is_always_woken() {
    loom::model(|| {
        let task = task();
        let signal = {
            let task = Arc::clone(&task);
            loom::thread::spawn(move || {
                loom::future::block_on(poll_fn(|cx| task.poll_cancel_requested(cx)));
            })
        };
        assert_eq!(
            task.request_cancel(CancelReason::HandleDropped),
            CancelStatus::Requested
        );
        signal.join().expect("signal");
    });
}

#[test]
fn a_task_ending_before_any_cancel_answers_later_cancels_finished() {
    loom::model(|| {
        let task = task();
        let canceller = {
            let task = Arc::clone(&task);
            loom::thread::spawn(move || task.request_cancel(CancelReason::from("late")))
        };
        assert!(task.seal() || task.is_cancel_requested());
        task.end();
        let status = canceller.join().expect("canceller");
        assert!(matches!(
            status,
            CancelStatus::Requested | CancelStatus::AlreadyFinished
        ));
        // Whatever happened, the phase never moves again.
        assert_eq!(
            task.request_cancel(CancelReason::from("later")),
            if status == CancelStatus::Requested {
                CancelStatus::AlreadyRequested
            } else {
                CancelStatus::AlreadyFinished
            }
        );
    });
}

#[test]
fn an_abandonment_against_a_seal_and_a_cancel_leaves_one_decision_and_the_mark() {
    loom::model(|| {
        let task = task();
        let abandoner = {
            let task = Arc::clone(&task);
            loom::thread::spawn(move || task.abandon(CancelReason::owner_lost("api-1")))
        };
        let sealed = task.seal();
        let status = task.request_cancel_by(CancelReason::from("user"), CancelSource::Request);
        let abandoned = abandoner.join().expect("abandoner");
        // Abandoning never fails on a task that has not ended, and marks it whatever decided.
        assert!(abandoned.is_some());
        assert!(task.is_abandoned());
        match (sealed, abandoned) {
            // The abandonment came first: it decided the task cancelled, with its reason.
            (false, Some(true)) => {
                assert_eq!(status, CancelStatus::AlreadyRequested);
                assert_eq!(task.reason(), CancelReason::owner_lost("api-1"));
                assert_eq!(task.cancel_source(), CancelSource::OwnerLost);
            }
            // The seal came first: the abandonment only marked it, and it stays sealed.
            (true, Some(false)) => {
                assert!(task.is_sealed());
                assert_eq!(status, CancelStatus::AlreadyFinished);
            }
            pair => panic!("seal and abandonment answered {pair:?}"),
        }
        // Marked once: a second abandonment does nothing.
        assert_eq!(task.abandon(CancelReason::owner_lost("api-1")), None);
    });
}

#[test]
fn an_abandonment_wakes_a_step_going_to_sleep() {
    loom::model(|| {
        let task = task();
        let abandoner = {
            let task = Arc::clone(&task);
            loom::thread::spawn(move || {
                task.abandon(CancelReason::owner_lost("api-1"));
            })
        };
        // The step's side: look, register, look again (as the runner does).
        loom::future::block_on(poll_fn(|cx| {
            if task.is_cancel_requested() {
                return Poll::Ready(());
            }
            task.register_waker(cx.waker());
            if task.is_cancel_requested() {
                return Poll::Ready(());
            }
            Poll::Pending
        }));
        abandoner.join().expect("abandoner");
        assert!(task.is_abandoned());
    });
}
