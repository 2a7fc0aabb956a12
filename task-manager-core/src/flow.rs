//! What the `#[flow]` macro tells the runtime about a flow.

use std::fmt;
use std::time::Duration;

use crate::limit::{Limit, ZeroSetting};

/// The static description of one flow: its name, its steps in order (one [`StepInfo`] each),
/// its default deadline, its cleanup deadline and (queue add-on) its limit. `#[flow]` writes
/// one per flow, in a `static`; the runner, status and reports read it. Not a public API
/// (it is reached through the macros' `__private` module): a per-flow setting is added here
/// and to the macro's expansion together.
///
/// ```
/// use std::time::Duration;
/// use task_manager_core::__private::{FlowInfo, StepInfo};
/// use task_manager_core::Limit;
///
/// static FLOW: FlowInfo = FlowInfo::new(
///     "query",
///     &[StepInfo::new("prepare"), StepInfo::new("send").with_resource("db")],
/// )
/// .with_timeout(Duration::from_secs(30))
/// .with_limit(Limit::new(4).with_queue_capacity(100));
/// assert_eq!(FLOW.step_name(1), "send");
/// assert_eq!(FLOW.step_resource(1), Some("db"));
/// ```
#[derive(Debug)]
pub struct FlowInfo {
    name: &'static str,
    steps: &'static [StepInfo],
    timeout: Option<Duration>,
    cleanup_timeout: Option<Duration>,
    limit: Option<Limit>,
    /// Whether any step needs a resource (queue add-on): settled when the flow is written,
    /// so that a flow without any costs one read at submission.
    any_resource: bool,
    /// Whether each step's start and duration are read from the clock for the report
    /// (`#[flow(report = minimal)]` says no, unless an add-on or a span listens).
    times_steps: bool,
}

/// The static description of one step: the one place a per-step setting lives (its name,
/// the resource it waits for, its per-attempt time limit; a per-step policy is added here,
/// with its `#[step(..)]` key).
///
/// ```
/// use std::time::Duration;
/// use task_manager_core::__private::StepInfo;
///
/// const CHARGE: StepInfo = StepInfo::new("charge").with_timeout(Duration::from_secs(2));
/// assert_eq!(CHARGE.timeout(), Some(Duration::from_secs(2)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepInfo {
    name: &'static str,
    resource: Option<&'static str>,
    timeout: Option<Duration>,
    /// `timeout` in nanoseconds (0: none), for the runner's hot path.
    timeout_nanos: u64,
}

impl StepInfo {
    /// A step with this name (its method's name) and no setting.
    pub const fn new(name: &'static str) -> Self {
        StepInfo {
            name,
            resource: None,
            timeout: None,
            timeout_nanos: 0,
        }
    }

    /// The same step, with a time limit on each of its attempts (`#[step(timeout = "2s")]`):
    /// an attempt still running that long after its first poll is dropped, its cleanup runs
    /// with [`CancelReason::StepTimeout`](crate::CancelReason::StepTimeout), and unless the
    /// step's retry policy retries it the task ends [`Ending::TimedOut`](crate::Ending::TimedOut).
    ///
    /// # Panics
    /// If `limit` is zero (in a `static`, a compile error; the macro refuses it first).
    pub const fn with_timeout(self, limit: Duration) -> Self {
        if limit.is_zero() {
            panic!("a step timeout of 0 would stop every attempt before it starts");
        }
        let nanos = limit.as_nanos();
        StepInfo {
            timeout: Some(limit),
            timeout_nanos: if nanos > u64::MAX as u128 {
                u64::MAX
            } else {
                nanos as u64
            },
            ..self
        }
    }

    /// The same step, waiting for a permit of the manager's resource `name` before it
    /// begins (`#[step(resource = "db")]`). The name must be a resource of the manager the
    /// flow's tasks are submitted to ([`SubmitError::UnknownResource`](crate::SubmitError::UnknownResource)).
    pub const fn with_resource(self, name: &'static str) -> Self {
        StepInfo {
            resource: Some(name),
            ..self
        }
    }

    /// The step's name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The resource the step waits for, if any.
    pub const fn resource(&self) -> Option<&'static str> {
        self.resource
    }

    /// The time limit of each of the step's attempts, if it has one.
    pub const fn timeout(&self) -> Option<Duration> {
        self.timeout
    }
}

impl FlowInfo {
    /// A flow with these steps, in order, and no deadline.
    pub const fn new(name: &'static str, steps: &'static [StepInfo]) -> Self {
        let mut any_resource = false;
        let mut index = 0;
        while index < steps.len() {
            any_resource |= steps[index].resource.is_some();
            index += 1;
        }
        FlowInfo {
            name,
            steps,
            timeout: None,
            cleanup_timeout: None,
            limit: None,
            any_resource,
            times_steps: true,
        }
    }

    /// The same flow with a minimal report (`#[flow(report = minimal)]`): the steps' starts
    /// and durations are not read from the clock (two reads per step saved), unless an
    /// add-on or a `tracing` span listens to the task. The report still lists every step
    /// that began and how it ended; [`Report::step_times`](crate::Report::step_times) says
    /// whether its times were measured.
    pub const fn with_minimal_report(self) -> Self {
        FlowInfo {
            times_steps: false,
            ..self
        }
    }

    /// Whether the report times each step (not under `#[flow(report = minimal)]`).
    pub const fn times_steps(&self) -> bool {
        self.times_steps
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
    /// It replaces the manager's default ([`TaskManagerBuilder::cleanup_timeout`](crate::TaskManagerBuilder::cleanup_timeout)).
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

    /// The flow's name (`name = ...` in `#[flow]`).
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The steps, in the order they run.
    pub const fn steps(&self) -> &'static [StepInfo] {
        self.steps
    }

    /// The name of step `index`, or `"<unknown step>"` if out of range.
    pub fn step_name(&self, index: usize) -> &'static str {
        self.steps
            .get(index)
            .map_or("<unknown step>", StepInfo::name)
    }

    /// The resource step `index` waits for, if any.
    pub fn step_resource(&self, index: usize) -> Option<&'static str> {
        self.steps.get(index).and_then(StepInfo::resource)
    }

    /// The time limit of step `index`'s attempts, if it has one.
    pub fn step_timeout(&self, index: usize) -> Option<Duration> {
        self.steps.get(index).and_then(StepInfo::timeout)
    }

    /// The time limit of step `index`'s attempts in nanoseconds, 0 if it has none.
    #[inline(always)]
    pub(crate) fn step_timeout_nanos(&self, index: usize) -> u64 {
        self.steps.get(index).map_or(0, |step| step.timeout_nanos)
    }

    /// Whether a step after step `index` has a time limit.
    pub fn timed_after(&self, index: usize) -> bool {
        self.steps
            .get(index + 1..)
            .is_some_and(|later| later.iter().any(|step| step.timeout.is_some()))
    }

    /// Whether any step waits for a resource.
    pub const fn has_resources(&self) -> bool {
        self.any_resource
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
}

/// One step of a flow, by position and name. The flow's generated step enum turns it back
/// into a type: `QueryStep::from_index(step.index)`, or [`TaskEvent::step_as`](crate::TaskEvent::step_as).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StepRef {
    /// The step's position in the flow (0-based).
    pub index: usize,
    /// The step's name (its method's name).
    pub name: &'static str,
}

impl fmt::Display for StepRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}
