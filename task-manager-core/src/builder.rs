//! `TaskManager::builder()`: a manager configured before its first task.

use std::fmt;

use crate::manager::TaskManager;
use crate::observe::{Addon, AddonSet};

/// Builds a [`TaskManager`] with add-ons.
///
/// ```
/// use task_manager_core::{Addon, TaskEvent, TaskManager};
///
/// /// Forwards every event's gist to a channel, for a task of its own to export: the add-on
/// /// itself stays fast, as add-ons must.
/// struct Forward(std::sync::mpsc::Sender<String>);
///
/// impl Addon for Forward {
///     fn on_event(&self, event: &TaskEvent<'_>) {
///         let _ = self.0.send(format!("{} {:?}", event.id, event.kind));
///     }
/// }
///
/// let (sender, _receiver) = std::sync::mpsc::channel();
/// let tasks = TaskManager::builder().addon(Forward(sender)).build();
/// # let _ = tasks;
/// ```
#[derive(Default)]
#[must_use = "call .build() to get the TaskManager"]
pub struct TaskManagerBuilder {
    addons: Vec<Box<dyn Addon>>,
}

impl TaskManager {
    /// A builder, to give the manager add-ons (and whatever else a manager can be given).
    pub fn builder() -> TaskManagerBuilder {
        TaskManagerBuilder::default()
    }
}

impl TaskManagerBuilder {
    /// Adds an add-on: it hears every event of every task of this manager (and of its
    /// clones), after the add-ons added before it. Pass an `Arc` to keep a handle on it.
    pub fn addon(mut self, addon: impl Addon) -> Self {
        self.addons.push(Box::new(addon));
        self
    }

    /// The manager.
    pub fn build(self) -> TaskManager {
        let mut manager = TaskManager::new();
        manager.addons = AddonSet::new(self.addons);
        manager
    }
}

impl fmt::Debug for TaskManagerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskManagerBuilder")
            .field(
                "addons",
                &self
                    .addons
                    .iter()
                    .map(|addon| addon.name())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}
