//! What a step can tell observers through its [`Task`] context: progress and its own events.

use std::any::Any;

use crate::observe::{step_ref, trace, EventKind, Progress};
use crate::task::Task;

impl<P, R> Task<P, R> {
    /// Reports how far the task has got: "`done` of `total`" (0 for an unknown total).
    /// [`TaskManager::status`](crate::TaskManager::status) and
    /// [`snapshot`](crate::TaskManager::snapshot) return the last report, and add-ons hear it
    /// as [`EventKind::Progress`](crate::EventKind::Progress). It is the task's, not the
    /// step's: a later step starts from what the earlier one left, unless it reports anew.
    ///
    /// ```
    /// # use task_manager_core::Task;
    /// async fn copy_files(task: &mut Task<Vec<String>>) {
    ///     let total = task.payload().len() as u64;
    ///     for (done, _file) in task.payload().iter().enumerate() {
    ///         // copy it...
    ///         task.set_progress(done as u64 + 1, total);
    ///     }
    /// }
    /// # let _ = copy_files;
    /// ```
    pub fn set_progress(&self, done: u64, total: u64) {
        let shared = self.shared();
        let progress = Progress { done, total };
        shared.cell().set_progress(progress);
        trace::progress(progress);
        shared.emit(self.id(), || EventKind::Progress {
            step: shared.step().map(|index| step_ref(shared.flow(), index)),
            progress,
        });
    }

    /// The last progress reported with [`set_progress`](Self::set_progress).
    pub fn progress(&self) -> Option<Progress> {
        self.shared().cell().progress()
    }

    /// Sends the step's own event to the manager's add-ons, which read it back by its type
    /// with [`TaskEvent::custom`](crate::TaskEvent::custom). Any `'static` type is an event:
    /// a typo in its name, or a field that does not exist, is a compile error on both sides
    /// (where the original library took a string and failed at run time).
    ///
    /// Without add-ons this does nothing but drop `event`. With them, each add-on is called
    /// with it before this returns (see [`Addon`](crate::Addon)).
    ///
    /// ```
    /// # use task_manager_core::Task;
    /// /// Told to add-ons when a query was handed to the server.
    /// #[derive(Debug)]
    /// struct QuerySent { server_request_id: u64 }
    ///
    /// async fn send(task: &mut Task<String>) {
    ///     task.emit(QuerySent { server_request_id: 7 });
    /// }
    /// # let _ = send;
    /// ```
    pub fn emit<E: Any>(&self, event: E) {
        let shared = self.shared();
        let type_name = std::any::type_name::<E>();
        trace::custom_event(type_name);
        shared.emit(self.id(), || EventKind::Custom {
            step: shared.step().map(|index| step_ref(shared.flow(), index)),
            type_name,
            event: &event,
        });
    }

    /// Whether the manager has add-ons that would hear [`emit`](Self::emit): check it first
    /// if an event is costly to build.
    pub fn is_observed(&self) -> bool {
        self.shared().live().has_addons()
    }
}
