//! The optional deadline on cleanups: a cleanup that hangs must not hold its task (and
//! whoever awaits its cancellation, and a graceful shutdown) forever.

use std::time::Duration;

use crate::error::ConfigError;
use crate::manager::TaskManager;

impl TaskManager {
    /// Gives every cleanup of this manager's tasks a deadline: a cleanup still running
    /// `timeout` after it began is dropped where it stands, the task ends, and its cancellers
    /// get [`Cleanup::TimedOut`](crate::Cleanup::TimedOut). A flow's own
    /// `#[flow(cleanup_timeout = "..")]` takes precedence. Applies to tasks submitted after
    /// the call, through every clone of this manager.
    ///
    /// Without a deadline (the default) a cleanup runs as long as it takes: a cleanup that
    /// never finishes keeps its task registered, but wedges nothing else.
    ///
    /// A deadline too far for the clock (`Duration::MAX`) never comes.
    ///
    /// [`TaskManagerBuilder::cleanup_timeout`](crate::TaskManagerBuilder::cleanup_timeout) sets
    /// the same deadline at construction, together with the queue add-on's limits; this is
    /// the shortcut for a manager without them (or to change it later).
    ///
    /// # Errors
    /// [`ConfigError::Zero`] for a zero `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use task_manager_core::TaskManager;
    ///
    /// let tasks = TaskManager::new().with_cleanup_timeout(Duration::from_secs(5))?;
    /// assert_eq!(tasks.cleanup_timeout(), Some(Duration::from_secs(5)));
    /// assert!(TaskManager::new().with_cleanup_timeout(Duration::ZERO).is_err());
    /// # Ok::<(), task_manager_core::ConfigError>(())
    /// ```
    pub fn with_cleanup_timeout(self, timeout: Duration) -> Result<Self, ConfigError> {
        crate::limits::check_cleanup_timeout("with_cleanup_timeout", timeout)?;
        self.registry.set_cleanup_timeout(timeout);
        Ok(self)
    }

    /// The manager's default cleanup deadline, if one was set.
    pub fn cleanup_timeout(&self) -> Option<Duration> {
        self.registry.cleanup_timeout()
    }
}
