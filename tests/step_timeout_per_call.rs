//! Step policies, the time limit set per call: `Passport::with_step_timeout(step, limit)`
//! replaces the limit a step declares (`#[step(timeout = "..")]`) for that one task, in its
//! cleanup's reason and its ending too; a step without a declared `timeout`, a step the flow
//! does not have, and a zero limit are refused at submission with a typed error that names
//! the task and the step, and nothing of the task runs.

use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{
    flow, CancelReason, Ending, HasTaskManager, Passport, SubmitError, Task, TaskManager,
};
use task_manager_support::Journal;

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("declined")]
struct PayError;

/// How long `charge` takes, in ms.
type PayTask = Task<u64>;

#[derive(HasTaskManager)]
struct Payments {
    tasks: TaskManager,
    journal: Journal,
}

#[flow(name = pay)]
impl Payments {
    #[step]
    async fn prepare(&self, _task: &mut PayTask) -> Result<(), PayError> {
        self.journal.record("prepare");
        Ok(())
    }

    #[step(cancel = void, timeout = "2s")]
    async fn charge(&self, task: &mut PayTask) -> Result<u64, PayError> {
        tokio::time::sleep(Duration::from_millis(*task.payload())).await;
        self.journal.record("charged");
        Ok(*task.payload())
    }

    async fn void(&self, _task: &mut PayTask, reason: CancelReason) {
        self.journal.record(format_args!("void: {reason}"));
    }
}

fn payments() -> Arc<Payments> {
    Arc::new(Payments {
        tasks: TaskManager::new(),
        journal: Journal::new(),
    })
}

#[tokio::test(start_paused = true)]
async fn a_longer_limit_per_call_lets_a_slow_attempt_finish() {
    let payments = payments();
    let passport = Passport::new(5_000).with_step_timeout("charge", Duration::from_secs(30));
    let outcome = payments.execute_pay(passport).unwrap().await;
    assert_eq!(outcome.ending(), &Ending::Completed(5_000));
    // The same call without it: the step's own 2 s.
    let outcome = payments.execute_pay(Passport::new(5_000)).unwrap().await;
    assert_eq!(
        outcome.ending(),
        &Ending::TimedOut {
            step: "charge",
            limit: Duration::from_secs(2)
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_shorter_limit_per_call_times_out_with_that_limit() {
    let payments = payments();
    let started = tokio::time::Instant::now();
    let passport = Passport::new(1_000).with_step_timeout("charge", Duration::from_millis(300));
    let outcome = payments.execute_pay(passport).unwrap().await;
    assert_eq!(started.elapsed(), Duration::from_millis(300));
    assert_eq!(
        outcome.ending(),
        &Ending::TimedOut {
            step: "charge",
            limit: Duration::from_millis(300)
        }
    );
    assert_eq!(
        payments.journal.entries(),
        [
            "prepare",
            "void: the step ran longer than its limit of 300ms"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_limit_for_a_step_that_declares_none_or_does_not_exist_or_is_zero_is_refused() {
    let payments = payments();
    let cases = [
        Passport::new(1).with_step_timeout("prepare", Duration::from_secs(1)),
        Passport::new(1).with_step_timeout("refund", Duration::from_secs(1)),
        Passport::new(1).with_step_timeout("charge", Duration::ZERO),
    ];
    let ids: Vec<_> = cases.iter().map(Passport::id).collect();
    let errors: Vec<_> = cases
        .into_iter()
        .map(|passport| payments.execute_pay(passport).err())
        .collect();
    assert_eq!(
        errors,
        [
            Some(SubmitError::StepWithoutTimeout {
                id: ids[0],
                flow: "pay",
                step: "prepare"
            }),
            Some(SubmitError::UnknownStep {
                id: ids[1],
                flow: "pay",
                step: "refund".to_string()
            }),
            Some(SubmitError::ZeroStepTimeout {
                id: ids[2],
                flow: "pay",
                step: "charge"
            }),
        ]
    );
    assert_eq!(
        errors[0].as_ref().unwrap().to_string(),
        format!(
            "task {} of flow `pay` was refused: its passport sets a time limit for step `prepare`, which declares no `timeout` (declare `#[step(timeout = \"..\")]` on it to allow a per-call limit)",
            ids[0]
        )
    );
    assert!(payments.tasks.is_empty(), "nothing was registered");
    tokio::task::yield_now().await;
    assert!(payments.journal.entries().is_empty(), "nothing ran");
}

#[test]
fn the_last_limit_given_for_a_step_is_the_one_kept() {
    let passport = Passport::new(())
        .with_step_timeout("charge", Duration::from_secs(1))
        .with_step_timeout("charge", Duration::from_secs(5));
    assert_eq!(
        passport.step_timeouts(),
        [("charge".to_string(), Duration::from_secs(5))]
    );
}
