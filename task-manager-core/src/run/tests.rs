//! Unit checks of observation's internals: a manager without add-ons holds none, the
//! per-task cost in bytes, and the cancel source's byte. (The event sequences, the queue's
//! included, are checked from the outside: `tests/observe_events.rs`, `tests/observe_queue.rs`.)

use std::sync::{Arc, Mutex, PoisonError};

use crate::manager::TaskManager;
use crate::observe::{Addon, TaskEvent};
use crate::run::scope::Scope;

#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

impl Addon for Lines {
    fn on_event(&self, event: &TaskEvent<'_>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(format!("{:?}", event.kind));
    }
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

    use crate::observe::TaskLive;
    use crate::run::hooks::Hooks;
    use crate::shared::TaskShared;

    assert_eq!(
        size_of::<TaskLive>(),
        24,
        "submission time and the add-ons' pointer"
    );
    assert!(
        size_of::<Hooks>() <= 16 + size_of::<crate::run::explorer_hook::Probe>(),
        "the spans' pointer and six flags"
    );
    // A `u128` would align every struct holding an id to 16 bytes, and pad the scope and
    // every task's future.
    assert_eq!(std::mem::align_of::<crate::TaskId>(), 8);
    // A child's reason is boxed: every reason, and every ending, stays 24 bytes.
    assert_eq!(size_of::<crate::CancelReason>(), 24);
    // 16 bytes more (a `OnceLock` of the family) moved the shared state's allocation to the
    // next size class and cost every task some 160 instructions: a child's family pointer
    // fits only because the step index and the flags moved into the cell's padding
    // (`TaskCell::marks`) and the priority into its cold slot.
    assert!(
        size_of::<TaskShared>() <= 88,
        "TaskShared grew to {} bytes",
        size_of::<TaskShared>()
    );
    // A timed flow's step timer is in every one of its tasks' futures, copied three times by
    // tokio: the precise alarm's state is boxed (most steps never need one), the passport's
    // per-call limits are one pointer.
    assert!(
        size_of::<crate::run::StepTimer>() <= 32,
        "StepTimer grew to {} bytes",
        size_of::<crate::run::StepTimer>()
    );
    // The outcome takes the future's place in tokio's task cell when the task ends, and is
    // moved through the join handle: its flow's name is its report's, not kept twice.
    assert!(
        size_of::<crate::Outcome<(), std::convert::Infallible, ()>>() <= 240,
        "Outcome grew to {} bytes",
        size_of::<crate::Outcome<(), std::convert::Infallible, ()>>()
    );
    // The explorer's hook (feature `testing`) adds a pointer to the scope. The scope holds
    // the timeline of the first four steps inline (64 bytes), which replaced a per-task
    // heap allocation of 56 bytes a step, and the identity of the registered waker (16).
    let hook = size_of::<crate::run::explorer_hook::Probe>();
    assert!(
        size_of::<Scope>() <= 160 + hook,
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
        CancelSource::Parent,
    ];
    for source in sources {
        assert_ne!(source.code(), 0, "0 means no cancel yet");
        assert!(source.code() < 0x80, "the phase's cancelled bit is 0x80");
        assert_eq!(CancelSource::from_code(source.code()), Some(source));
    }
    assert_eq!(CancelSource::from_code(0), None);
}
