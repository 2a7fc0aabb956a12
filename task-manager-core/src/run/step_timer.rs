//! The time limit of a task's timed steps (`#[step(timeout = "..")]`), kept on the manager's
//! alarm clock (`alarms.rs`) rather than with a tokio timer of the task's own.

use std::sync::Arc;
use std::task::Context;
use std::time::Duration;

use tokio::time::Instant;

use crate::alarms::{Alarm, Alarms};
use crate::flow::FlowInfo;
use crate::registry::Registry;
use crate::run::step_limits::StepLimits;

/// The time limit of a flow's timed steps: one alarm per task at most, set by its first
/// timed attempt and taken back after the flow's last timed step (or when the task ends). A
/// local of the task's body, written by `#[flow]` only in a flow with a `timeout` step.
///
/// An alarm is moved only when it must be: an attempt whose deadline is later than the
/// alarm's leaves it there (steps usually end well within their limits, and moving an alarm
/// takes the clock's lock); if it rings before the attempt's own deadline, it is set again
/// then, once. On each poll an attempt compares its deadline with the time the clock last
/// rang at (one load).
pub struct StepTimer {
    /// The manager's alarm clock, once an attempt has set an alarm.
    alarms: Option<Arc<Alarms>>,
    /// The alarm, if one is set; it rings at `alarm_at`, at most `deadline`.
    alarm: Option<Alarm>,
    alarm_at: u64,
    /// The current attempt's deadline, on the clock's time.
    deadline: u64,
    /// The task's submission, on the clock's time (attempts count from it).
    submitted: u64,
    /// The passport's per-call limits, if it set any.
    limits: StepLimits,
    /// The waker the alarm wakes (its data and vtable addresses).
    waker: (usize, usize),
}

impl StepTimer {
    /// No alarm yet; `limits` are the passport's per-call step limits.
    pub fn new(limits: StepLimits) -> Self {
        StepTimer {
            alarms: None,
            alarm: None,
            alarm_at: u64::MAX,
            deadline: u64::MAX,
            submitted: 0,
            limits,
            waker: (0, 0),
        }
    }

    /// Step `index`'s time limit in this task: the passport's, else the step's own.
    pub(crate) fn limit(&self, flow: &FlowInfo, index: usize) -> Option<Duration> {
        self.limits.get(flow, index)
    }

    /// The next attempt's deadline is `deadline` nanoseconds after the task's submission.
    #[inline(always)]
    pub(crate) fn arm(
        &mut self,
        registry: &Registry,
        submitted_at: Instant,
        deadline: u64,
        cx: &Context<'_>,
    ) {
        if self.alarms.is_some() {
            let deadline = self.submitted.saturating_add(deadline);
            self.deadline = deadline;
            if deadline >= self.alarm_at {
                // It rings early at worst, and is set again then.
                return;
            }
        }
        self.arm_slow(registry, submitted_at, deadline, cx);
    }

    /// [`arm`](Self::arm) for the first timed attempt, or one whose deadline is earlier
    /// than the alarm's.
    #[inline(never)]
    fn arm_slow(
        &mut self,
        registry: &Registry,
        submitted_at: Instant,
        deadline: u64,
        cx: &Context<'_>,
    ) {
        let alarms = match &self.alarms {
            Some(alarms) => alarms,
            None => {
                let alarms = registry.alarms();
                self.submitted = alarms.offset(submitted_at);
                self.deadline = self.submitted.saturating_add(deadline);
                self.alarms.insert(Arc::clone(alarms))
            }
        };
        if let Some(alarm) = self.alarm.take() {
            alarms.unset(alarm);
        }
        let waker = cx.waker();
        self.alarm = Some(alarms.set(self.deadline, waker));
        self.alarm_at = self.deadline;
        self.waker = (waker.data() as usize, waker.vtable() as *const _ as usize);
    }

    /// Whether the current attempt's deadline has passed.
    #[inline(always)]
    pub(crate) fn expired(&mut self, cx: &Context<'_>) -> bool {
        let Some(alarms) = &self.alarms else {
            return false;
        };
        let rung = alarms.rung_up_to();
        let waker = cx.waker();
        let identity = (waker.data() as usize, waker.vtable() as *const _ as usize);
        if rung < self.alarm_at && identity == self.waker {
            return false;
        }
        self.expired_slow(rung, identity, cx)
    }

    /// [`expired`](Self::expired) once the alarm has rung, or under another waker.
    #[inline(never)]
    fn expired_slow(&mut self, rung: u64, identity: (usize, usize), cx: &Context<'_>) -> bool {
        let Some(alarms) = self.alarms.clone() else {
            return false;
        };
        if rung >= self.deadline {
            return true;
        }
        if rung >= self.alarm_at {
            // It rang for an earlier attempt's deadline (the clock took it): set it again
            // for this one's.
            let waker = cx.waker();
            self.alarm = Some(alarms.set(self.deadline, waker));
            self.alarm_at = self.deadline;
            self.waker = identity;
        } else if let Some(alarm) = self.alarm {
            alarms.rewake(alarm, cx.waker());
            self.waker = identity;
        }
        false
    }

    /// No step needs the alarm any more (or until a later one sets it again).
    pub(crate) fn disarm(&mut self) {
        self.alarm_at = u64::MAX;
        self.deadline = u64::MAX;
        if let (Some(alarm), Some(alarms)) = (self.alarm.take(), &self.alarms) {
            alarms.unset(alarm);
        }
    }
}

impl Drop for StepTimer {
    fn drop(&mut self) {
        self.disarm();
    }
}
