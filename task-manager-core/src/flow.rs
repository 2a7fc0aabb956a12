//! What the `#[flow]` macro tells the runtime about a flow.

use std::time::Duration;

use crate::limit::{Limit, ZeroSetting};

/// The static description of one flow: its name, its steps' names in order, its default
/// deadline, and (queue add-on) its limit and the resource each step needs. `#[flow]` writes
/// one per flow; it is public so that status and reports can name steps, and so that the
/// runtime can be driven without the macro in tests.
///
/// ```
/// use std::time::Duration;
/// use task_manager_core::{FlowInfo, Limit};
///
/// static FLOW: FlowInfo = FlowInfo::new("query", &["prepare", "send"])
///     .with_timeout(Duration::from_secs(30))
///     .with_limit(Limit::new(4).with_queue_capacity(100))
///     .with_resources(&[None, Some("db")]);
/// assert_eq!(FLOW.step_name(1), "send");
/// assert_eq!(FLOW.step_resource(1), Some("db"));
/// ```
#[derive(Debug)]
pub struct FlowInfo {
    name: &'static str,
    steps: &'static [&'static str],
    timeout: Option<Duration>,
    cleanup_timeout: Option<Duration>,
    limit: Option<Limit>,
    resources: &'static [Option<&'static str>],
}

impl FlowInfo {
    /// A flow with these step names, in order, and no deadline.
    pub const fn new(name: &'static str, steps: &'static [&'static str]) -> Self {
        FlowInfo {
            name,
            steps,
            timeout: None,
            cleanup_timeout: None,
            limit: None,
            resources: &[],
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

    /// The same flow with a limit of its own (`#[flow(limit = 4, queue = 100, max_wait = "5s")]`):
    /// on each manager, at most `limit.permits()` of its tasks run at once and the others wait
    /// in line. A `limit_flow` given to the manager's builder for this flow replaces it.
    ///
    /// # Panics
    /// If the limit has zero permits, zero capacity or a zero max wait. In a `static` (where
    /// this is meant to be used) that is a compile error.
    pub const fn with_limit(self, limit: Limit) -> Self {
        match limit.zero_setting() {
            None => {}
            Some(ZeroSetting::Permits) => {
                panic!("a flow limit of 0 permits: no task could ever run")
            }
            Some(ZeroSetting::QueueCapacity) => {
                panic!("a flow queue capacity of 0: every task that has to wait would be refused")
            }
            Some(ZeroSetting::MaxWait) => {
                panic!("a flow max wait of 0: every task that has to wait would be refused")
            }
        }
        FlowInfo {
            limit: Some(limit),
            ..self
        }
    }

    /// The same flow with the resource each step needs (`#[step(resource = "db")]`), one entry
    /// per step, in order. Each name must be a resource of the manager the flow's tasks are
    /// submitted to ([`SubmitError::UnknownResource`](crate::SubmitError::UnknownResource)).
    ///
    /// # Panics
    /// If there is not one entry per step (a compile error in a `static`).
    pub const fn with_resources(self, resources: &'static [Option<&'static str>]) -> Self {
        assert!(
            resources.len() == self.steps.len(),
            "give one resource entry per step (`None` for a step that needs none)"
        );
        FlowInfo { resources, ..self }
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

    /// The flow's own limit (`#[flow(limit = ..)]`).
    pub const fn limit(&self) -> Option<Limit> {
        self.limit
    }

    /// The resource each step needs, one entry per step; empty if no step needs one.
    pub const fn resources(&self) -> &'static [Option<&'static str>] {
        self.resources
    }

    /// The resource step `index` needs, if any.
    pub fn step_resource(&self, index: usize) -> Option<&'static str> {
        self.resources.get(index).copied().flatten()
    }
}
