//! The time limit of a task's timed steps (`#[step(timeout = "..")]`): kept by the manager's
//! step-time watch (`watch.rs`) while the step is far from its limit, and by a precise alarm
//! on the manager's alarm clock (`alarms.rs`) once the watch asks for one, or from the start
//! for a step the watch does not keep (a limit under a second, or a per-call one).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Context;
use std::time::Duration;

use tokio::time::Instant;

use crate::alarms::{Alarm, Alarms};
use crate::flow::FlowInfo;
use crate::registry::Registry;
use crate::run::scope::Scope;
use crate::run::step_limits::StepLimits;
use crate::watch::ASKED;

/// The time limit of a flow's timed steps. A local of the task's body, written by `#[flow]`
/// only in a flow with a `timeout` step; 32 bytes, copied with the task's future.
///
/// A watched attempt costs a mark in the task's cell: written when it begins, read on each
/// poll, cleared when it ends. A precise alarm (boxed, made by the first attempt that needs
/// one) is moved only when it must be: an attempt whose deadline is later than the alarm's
/// leaves it there; if it rings before the attempt's own deadline, it is set again then,
/// once. On each poll a precisely timed attempt compares its deadline with the time the clock
/// last rang at (one load).
pub struct StepTimer {
    /// The passport's per-call limits, if it set any.
    limits: StepLimits,
    /// The current attempt's deadline, in nanoseconds since the task's submission.
    deadline: u64,
    /// The precise alarm, once an attempt has needed one.
    precise: Option<Box<Precise>>,
    /// How the current attempt is timed.
    mode: Mode,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// No timed attempt is in progress.
    Idle,
    /// The watch keeps the attempt's limit (its mark is in the task's cell).
    Watched,
    /// The precise alarm keeps it.
    Precise,
}

/// A precise alarm on the manager's alarm clock.
struct Precise {
    alarms: Arc<Alarms>,
    /// The alarm, if one is set; it rings at `alarm_at`, at most `deadline`.
    alarm: Option<Alarm>,
    alarm_at: u64,
    /// The current attempt's deadline, on the clock's time.
    deadline: u64,
    /// The task's submission, on the clock's time (attempts count from it).
    submitted: u64,
    /// The waker the alarm wakes (its data and vtable addresses).
    waker: (usize, usize),
}

impl StepTimer {
    /// No alarm yet; `limits` are the passport's per-call step limits.
    pub fn new(limits: StepLimits) -> Self {
        StepTimer {
            limits,
            deadline: u64::MAX,
            precise: None,
            mode: Mode::Idle,
        }
    }

    /// Step `index`'s time limit in this task: the passport's, else the step's own.
    pub(crate) fn limit(&self, flow: &FlowInfo, index: usize) -> Option<Duration> {
        self.limits.get(flow, index)
    }

    /// [`limit`](Self::limit) in nanoseconds, 0 if the step has none.
    #[inline(always)]
    pub(crate) fn limit_nanos(&self, flow: &FlowInfo, index: usize) -> u64 {
        if self.limits.is_empty() {
            return flow.step_timeout_nanos(index);
        }
        self.limit(flow, index).map_or(0, |limit| {
            u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX)
        })
    }

    /// Whether the current attempt is kept by the watch (its limit is not checked on the
    /// poll that armed it: the ask that a watched mark may get wakes the task).
    #[inline(always)]
    pub(crate) fn is_watched(&self) -> bool {
        self.mode == Mode::Watched
    }

    /// The precise alarm for the current attempt's deadline: set, or left where it is if it
    /// rings earlier.
    #[inline(never)]
    fn arm_precise(&mut self, registry: &Registry, submitted_at: Instant, cx: &Context<'_>) {
        let precise = match &mut self.precise {
            Some(precise) => {
                precise.deadline = precise.submitted.saturating_add(self.deadline);
                if precise.deadline >= precise.alarm_at {
                    // It rings early at worst, and is set again then.
                    return;
                }
                precise
            }
            None => {
                let alarms = Arc::clone(registry.alarms());
                let submitted = alarms.offset(submitted_at);
                self.precise.insert(Box::new(Precise {
                    alarms,
                    alarm: None,
                    alarm_at: u64::MAX,
                    deadline: submitted.saturating_add(self.deadline),
                    submitted,
                    waker: (0, 0),
                }))
            }
        };
        precise.set(cx);
    }
}

impl Precise {
    /// Sets the alarm for `deadline`, waking the task polled under `cx`.
    fn set(&mut self, cx: &Context<'_>) {
        if let Some(alarm) = self.alarm.take() {
            self.alarms.unset(alarm);
        }
        let waker = cx.waker();
        self.alarm = Some(self.alarms.set(self.deadline, waker));
        self.alarm_at = self.deadline;
        self.waker = (waker.data() as usize, waker.vtable() as *const _ as usize);
    }

    /// Whether the current attempt's deadline has passed.
    fn expired(&mut self, cx: &Context<'_>) -> bool {
        let rung = self.alarms.rung_up_to();
        let waker = cx.waker();
        let identity = (waker.data() as usize, waker.vtable() as *const _ as usize);
        if rung < self.alarm_at && identity == self.waker {
            return false;
        }
        if rung >= self.deadline {
            return true;
        }
        if rung >= self.alarm_at {
            // It rang for an earlier attempt's deadline (the clock took it): set it again
            // for this one's.
            self.set(cx);
        } else if let Some(alarm) = self.alarm {
            self.alarms.rewake(alarm, waker);
            self.waker = identity;
        }
        false
    }

    /// No step needs the alarm any more (or until a later one sets it again).
    fn disarm(&mut self) {
        self.alarm_at = u64::MAX;
        self.deadline = u64::MAX;
        if let Some(alarm) = self.alarm.take() {
            self.alarms.unset(alarm);
        }
    }
}

impl Drop for Precise {
    fn drop(&mut self) {
        self.disarm();
    }
}

/// The step timer as a step's race uses it, on the runner's state it borrows.
impl Scope {
    /// An attempt of a timed step with a limit of `limit` nanoseconds began `start`
    /// nanoseconds after the task's submission: the watch keeps its limit, or a precise
    /// alarm does.
    #[inline(always)]
    pub(super) fn arm_timer(
        &mut self,
        timer: &mut StepTimer,
        limit: u64,
        start: u64,
        cx: &Context<'_>,
    ) {
        timer.deadline = start.saturating_add(limit);
        if timer.limits.is_empty()
            && self
                .registry
                .watch()
                .watch(&self.registry, &self.shared, limit)
        {
            timer.mode = Mode::Watched;
            return;
        }
        timer.mode = Mode::Precise;
        let submitted_at = self.shared.live().submitted_at;
        timer.arm_precise(&self.registry, submitted_at, cx);
    }

    /// Whether the current attempt's deadline has passed.
    #[inline(always)]
    pub(super) fn timer_expired(&mut self, timer: &mut StepTimer, cx: &Context<'_>) -> bool {
        match timer.mode {
            Mode::Watched => {
                let mark = self.shared.cell().marks.timer.load(Ordering::Acquire);
                mark & ASKED != 0 && self.answer_ask(timer, cx)
            }
            Mode::Precise => timer
                .precise
                .as_mut()
                .is_some_and(|precise| precise.expired(cx)),
            Mode::Idle => false,
        }
    }

    /// The watch asked the current attempt to set its precise alarm (it may be near its
    /// limit): the ask took the task's registered waker, so it is registered again at the
    /// next pending poll.
    #[cold]
    #[inline(never)]
    fn answer_ask(&mut self, timer: &mut StepTimer, cx: &Context<'_>) -> bool {
        self.settle_ask();
        self.shared.cell().marks.timer.store(0, Ordering::Release);
        timer.mode = Mode::Precise;
        let submitted_at = self.shared.live().submitted_at;
        timer.arm_precise(&self.registry, submitted_at, cx);
        timer
            .precise
            .as_mut()
            .is_some_and(|precise| precise.expired(cx))
    }

    /// The ask's take of the waker is over; the waker is registered again when next needed.
    #[cold]
    fn settle_ask(&mut self) {
        self.shared.cell().settle_ask();
        self.registered_waker = (0, 0);
    }

    /// The current attempt, of step `index`, ended (`completed`: its step returned `Ok`).
    /// A precise alarm stays set (to be moved on) only while a later timed step will use it:
    /// after the flow's last timed step, or an attempt that did not complete, it goes, so
    /// that it neither wakes the task nor moves a paused clock once no step needs it. (A step
    /// without a `timeout` between two timed ones may be woken once, for nothing.)
    #[inline(always)]
    pub(super) fn end_timer(&mut self, timer: &mut StepTimer, index: usize, completed: bool) {
        if timer.mode == Mode::Watched {
            let mark = self.shared.cell().marks.timer.swap(0, Ordering::AcqRel);
            if mark & ASKED != 0 {
                self.settle_ask();
            }
        }
        timer.mode = Mode::Idle;
        if let Some(precise) = timer.precise.as_mut() {
            if !completed || !self.shared.flow().timed_after(index) {
                precise.disarm();
            }
        }
    }
}
