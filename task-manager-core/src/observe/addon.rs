//! The add-on interface, and how a manager's add-ons are called.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::observe::event::TaskEvent;
use crate::observe::trace;

/// Something that hears every task's lifecycle: a metrics exporter, an audit log, a queue.
/// Give it to a manager with [`TaskManagerBuilder::addon`](crate::TaskManagerBuilder::addon).
///
/// # What an add-on can count on, and what it owes
/// - **Synchronous, on the task's thread.** `on_event` is called in the middle of the task's
///   own work (`Submitted` inside `execute_*`, on the submitter's thread). Whatever it does,
///   the task waits for. Keep it short: update counters, or send the event's facts down a
///   channel (`std::sync::mpsc`, `tokio::sync::mpsc::UnboundedSender::send`) to a task of
///   your own that does the slow part. Do not block, and do not `block_on` anything.
/// - **In order, per task.** One task's events arrive in the order of
///   [`EventKind`](crate::EventKind), one at a time (a step that emits from several
///   threads at once is the only exception). Events of different tasks arrive concurrently,
///   from different threads: hence `Send + Sync`.
/// - **A panic is caught.** If `on_event` panics, that one event is lost to that one add-on;
///   the task, the other add-ons and later events go on as if nothing happened, and the
///   add-on stays installed. The panic is reported as a `tracing` warning (and by the panic
///   hook, as any panic is).
/// - **Re-entrancy is allowed.** No lock of the manager is held while add-ons run, so an
///   add-on may call [`TaskManager::status`](crate::TaskManager::status) or even cancel.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use task_manager_core::{Addon, EventKind, TaskEvent, TaskManager};
///
/// #[derive(Default)]
/// struct Finished(AtomicUsize);
///
/// impl Addon for Finished {
///     fn on_event(&self, event: &TaskEvent<'_>) {
///         if let EventKind::Finished { .. } = event.kind {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// let finished = Arc::new(Finished::default());
/// let tasks = TaskManager::builder().addon(Arc::clone(&finished)).build()?;
/// # let _ = tasks;
/// # Ok::<(), task_manager_core::ConfigError>(())
/// ```
pub trait Addon: Send + Sync + 'static {
    /// Hears one event. See the trait's documentation for the rules.
    fn on_event(&self, event: &TaskEvent<'_>);

    /// The add-on's name, for diagnostics (the warning when it panics).
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }
}

/// An add-on shared with its owner, who keeps a handle to read what it gathered.
impl<A: Addon + ?Sized> Addon for Arc<A> {
    fn on_event(&self, event: &TaskEvent<'_>) {
        (**self).on_event(event);
    }

    fn name(&self) -> &str {
        (**self).name()
    }
}

/// A manager's add-ons. A manager without any holds no set at all (`None`), so that
/// every event point costs one `is_none` and nothing else.
pub(crate) struct AddonSet {
    addons: Box<[Arc<dyn Addon>]>,
}

impl AddonSet {
    /// `None` for no add-ons.
    pub(crate) fn new(addons: Vec<Arc<dyn Addon>>) -> Option<Arc<Self>> {
        if addons.is_empty() {
            return None;
        }
        Some(Arc::new(AddonSet {
            addons: addons.into_boxed_slice(),
        }))
    }

    /// Calls every add-on, each under `catch_unwind`: a panicking add-on loses this event
    /// and nothing else.
    pub(crate) fn deliver(&self, event: &TaskEvent<'_>) {
        for addon in self.addons.iter() {
            if catch_unwind(AssertUnwindSafe(|| addon.on_event(event))).is_err() {
                trace::addon_panicked(addon.name(), event);
            }
        }
    }
}
