//! What the `#[flow]` macro tells the runtime about a flow.

use std::time::Duration;

/// The static description of one flow: its name, its steps' names in order, and its
/// default deadline. `#[flow]` writes one per flow; it is public so that status and reports
/// can name steps, and so that the runtime can be driven without the macro in tests.
///
/// ```
/// use std::time::Duration;
/// use task_manager_core::FlowInfo;
///
/// static FLOW: FlowInfo = FlowInfo::new("query", &["prepare", "send"]).with_timeout(Duration::from_secs(30));
/// assert_eq!(FLOW.step_name(1), "send");
/// ```
#[derive(Debug)]
pub struct FlowInfo {
    name: &'static str,
    steps: &'static [&'static str],
    timeout: Option<Duration>,
    cleanup_timeout: Option<Duration>,
}

impl FlowInfo {
    /// A flow with these step names, in order, and no deadline.
    pub const fn new(name: &'static str, steps: &'static [&'static str]) -> Self {
        FlowInfo {
            name,
            steps,
            timeout: None,
            cleanup_timeout: None,
        }
    }

    /// The same flow with a whole-task deadline, counted from submission.
    pub const fn with_timeout(self, timeout: Duration) -> Self {
        FlowInfo {
            timeout: Some(timeout),
            ..self
        }
    }

    /// The same flow with a deadline on each cleanup: a cleanup still running that long after
    /// it began is dropped, and the task ends with [`Cleanup::TimedOut`](crate::Cleanup::TimedOut).
    /// It replaces the manager's default ([`TaskManager::with_cleanup_timeout`](crate::TaskManager::with_cleanup_timeout)).
    pub const fn with_cleanup_timeout(self, timeout: Duration) -> Self {
        FlowInfo {
            cleanup_timeout: Some(timeout),
            ..self
        }
    }

    /// The flow's name (`name = ...` in `#[flow]`).
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The steps' names, in the order they run.
    pub const fn steps(&self) -> &'static [&'static str] {
        self.steps
    }

    /// The name of step `index`, or `"<unknown step>"` if out of range.
    pub fn step_name(&self, index: usize) -> &'static str {
        self.steps.get(index).copied().unwrap_or("<unknown step>")
    }

    /// The flow's default deadline.
    pub const fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The flow's cleanup deadline.
    pub const fn cleanup_timeout(&self) -> Option<Duration> {
        self.cleanup_timeout
    }
}
