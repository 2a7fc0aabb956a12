//! `TaskManager::builder()`: a manager configured before its first task, one method per
//! setting, every setting checked once, in `build`.

use std::fmt;
use std::time::Duration;

use crate::error::ConfigError;
use crate::manager::TaskManager;
use crate::observe::{Addon, AddonSet};

/// Builds a [`TaskManager`] with add-ons and settings.
///
/// ```
/// use std::time::Duration;
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
/// let tasks = TaskManager::builder()
///     .addon(Forward(sender))
///     .cleanup_timeout(Duration::from_secs(5))
///     .build()?;
/// assert_eq!(tasks.cleanup_timeout(), Some(Duration::from_secs(5)));
/// # Ok::<(), task_manager_core::ConfigError>(())
/// ```
#[derive(Default)]
#[must_use = "call .build() to get the TaskManager"]
pub struct TaskManagerBuilder {
    addons: Vec<Box<dyn Addon>>,
    cleanup_timeout: Option<Duration>,
}

impl TaskManager {
    /// A builder, to give the manager add-ons and settings before its first task.
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

    /// Gives every cleanup of the manager's tasks a deadline, as
    /// [`TaskManager::with_cleanup_timeout`] does (which says what it means); a flow's own
    /// `#[flow(cleanup_timeout = "..")]` takes precedence. Checked by [`build`](Self::build).
    pub fn cleanup_timeout(mut self, timeout: Duration) -> Self {
        self.cleanup_timeout = Some(timeout);
        self
    }

    /// The manager.
    ///
    /// # Errors
    /// [`ConfigError::Zero`] for a zero [`cleanup_timeout`](Self::cleanup_timeout).
    pub fn build(self) -> Result<TaskManager, ConfigError> {
        let mut manager = TaskManager::new();
        if let Some(timeout) = self.cleanup_timeout {
            crate::limits::check_cleanup_timeout("cleanup_timeout", timeout)?;
            manager.registry.set_cleanup_timeout(timeout);
        }
        manager.addons = AddonSet::new(self.addons);
        Ok(manager)
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
            .field("cleanup_timeout", &self.cleanup_timeout)
            .finish()
    }
}
