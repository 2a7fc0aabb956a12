//! The hook points the queue add-on (built on another branch) uses, driven as it will drive
//! them: `TaskEvents::queued` in `submit`, and `Scope::stopped` with a `Stop::before` the
//! first step when a cancel finds the task still in line.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};

use crate::flow::FlowInfo;
use crate::manager::TaskManager;
use crate::observe::{Addon, EventKind, TaskEvent};
use crate::outcome::Ending;
use crate::passport::Passport;
use crate::scope::{Scope, Stop};
use crate::submit::submit;
use crate::task::Task;
use crate::CancelReason;

#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

impl Addon for Lines {
    fn on_event(&self, event: &TaskEvent<'_>) {
        let line = match event.kind {
            EventKind::CancelRequested { reason, by } => {
                format!("cancel requested: {reason} ({by:?})")
            }
            EventKind::Finished { ending, .. } => format!("finished: {ending}"),
            other => format!("{other:?}"),
        };
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
    }
}

static FLOW: FlowInfo = FlowInfo::new("queued", &["first"]);

#[tokio::test(start_paused = true)]
async fn a_cancel_while_queued_is_told_with_no_start_and_no_step() {
    let lines = Lines::default();
    let manager = TaskManager::builder()
        .addon(lines.clone())
        .build()
        .expect("nothing to refuse");
    let passport = Passport::new(());
    let id = passport.id();
    let handle = submit(
        &manager,
        &FLOW,
        passport,
        |task: Task, mut scope: Scope| async move {
            // The queue tells `Queued` as the task takes its place (in `submit`, before the
            // spawn; here, first thing), then waits for admission or a cancel.
            scope.events.queued(task.id(), task.shared());
            task.cancelled().await;
            let stop = Stop::before(FLOW.step_name(0), task.shared().reason());
            scope.stopped::<(), (), (), Infallible>(task, stop)
        },
    )
    .expect("submitted");

    let _ = manager.cancel(id, "no longer needed");
    let outcome = handle.await;

    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::from("no longer needed"),
            step: None,
            steps_completed: 0,
        }
    );
    assert_eq!(
        *lines.0.lock().unwrap_or_else(PoisonError::into_inner),
        [
            "Submitted",
            "Queued",
            "cancel requested: cancelled: no longer needed (Request)",
            "finished: cancelled: no longer needed after 0 step(s)",
        ]
    );
}

#[test]
fn a_manager_without_add_ons_holds_none() {
    assert!(TaskManager::new().addons.is_none());
    assert!(TaskManager::builder()
        .build()
        .expect("nothing to refuse")
        .addons
        .is_none());
    assert!(TaskManager::builder()
        .addon(Lines::default())
        .build()
        .expect("nothing to refuse")
        .addons
        .is_some());
}

/// What observation adds to every task, parked or not (issue 3: memory per parked task is a
/// target). Before observation: `TaskShared` 136 bytes, `Scope` 128. The first cut of this
/// module made them 240 and 144, by keeping in each task copies of what can be found
/// elsewhere (the id, the payload's type name), the submission time twice, and the progress
/// inline under a mutex of its own. Now: the submission time once (`TaskLive`, and the scope
/// reads it from there), the add-ons' pointer, one pointer for progress (boxed on the first
/// report, under the slot's lock), the cancel's source in padding; in the scope, one pointer
/// for the spans and its flags. The queue add-on then put the passport's priority and a
/// waiting flag in that same padding, and the source moved into the phase byte (one
/// compare-and-swap writes both), so that the task still takes 168 bytes with both add-ons.
#[test]
#[cfg(target_pointer_width = "64")]
fn observation_costs_each_task_a_few_words() {
    use std::mem::size_of;

    use crate::observe::{TaskEvents, TaskLive};
    use crate::shared::TaskShared;

    assert_eq!(
        size_of::<TaskLive>(),
        24,
        "submission time and the add-ons' pointer"
    );
    assert!(
        size_of::<TaskEvents>() <= 16,
        "the spans' pointer and two flags"
    );
    assert!(
        size_of::<TaskShared>() <= 168,
        "TaskShared grew to {} bytes",
        size_of::<TaskShared>()
    );
    // The explorer's hook (feature `testing`) adds a pointer to the scope.
    let hook = size_of::<crate::probe::Probe>();
    assert!(
        size_of::<Scope>() <= 128 + hook.next_multiple_of(16),
        "Scope grew to {} bytes",
        size_of::<Scope>()
    );
}

#[test]
fn every_cancel_source_survives_its_byte() {
    use crate::CancelSource;

    let sources = [
        CancelSource::Request,
        CancelSource::CancelAll,
        CancelSource::HandleDropped,
        CancelSource::Timeout,
        CancelSource::Shutdown,
        CancelSource::MaxWait,
    ];
    for source in sources {
        assert_ne!(source.code(), 0, "0 means no cancel yet");
        assert!(source.code() < 0x80, "the phase's cancelled bit is 0x80");
        assert_eq!(CancelSource::from_code(source.code()), Some(source));
    }
    assert_eq!(CancelSource::from_code(0), None);
}
