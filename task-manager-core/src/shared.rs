//! The state one task shares with those who may cancel or observe it: the cell that decides
//! its ending (`cell/`), and beside it what the runner, the queue add-on and the observers
//! need to find from the registry.
//!
//! # Who touches what
//! * `cell`: the ending's decision, the reason, the cleanup's record, the waiters (see there).
//! * `step` is the index of the step in progress, written by the task alone, read by
//!   [`status`](crate::TaskManager::status). It is advisory, so `Relaxed` suffices.
//! * `priority` (the passport's) and `waiting` are the queue add-on's wait slot: `waiting` is
//!   set while the task waits in a line (for admission, or for its step's resource), and is
//!   written only by that line, under its lock (see `queue/permits.rs`). A task of a flow
//!   without limits never touches either.
//! * `live` is what observers read and add-ons need (`observe/live.rs`): this file only
//!   holds it.
//! * `family` is the task's place in a tree of tasks (`family.rs`): set at submission for a
//!   child, by its first child for a parent, never for a task with neither. A cancel that
//!   takes effect ([`TaskShared::request_cancel_by`]) goes on to the children from here.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::OnceLock;
use std::task::Context;

use tokio::time::Sleep;

use crate::cell::TaskCell;
use crate::family::Family;
use crate::flow::FlowInfo;
use crate::observe::TaskLive;
use crate::reason::{CancelReason, CancelSource, CancelStatus};

/// `step` before the first step begins (while queued, or between submit and first poll).
const NOT_STARTED: u16 = u16::MAX;

pub(crate) struct TaskShared {
    flow: &'static FlowInfo,
    cell: TaskCell,
    step: AtomicU16,
    waiting: AtomicBool,
    priority: i32,
    live: TaskLive,
    family: OnceLock<Box<Family>>,
}

impl TaskShared {
    pub(crate) fn new(flow: &'static FlowInfo, priority: i32, live: TaskLive) -> Self {
        TaskShared {
            flow,
            cell: TaskCell::new(),
            step: AtomicU16::new(NOT_STARTED),
            waiting: AtomicBool::new(false),
            priority,
            live,
            family: OnceLock::new(),
        }
    }

    /// A child task's shared state, linked to its parent by `family`.
    pub(crate) fn with_family(mut self, family: Family) -> Self {
        self.family = OnceLock::from(Box::new(family));
        self
    }

    /// The task's place in a tree of tasks, if it has a parent or has had children.
    #[inline]
    pub(crate) fn family(&self) -> Option<&Family> {
        self.family.get().map(|family| &**family)
    }

    /// The task's family, made now (as a root's) if it has none: its first child is coming.
    pub(crate) fn family_or_root(&self, make: impl FnOnce() -> Family) -> &Family {
        self.family.get_or_init(|| Box::new(make()))
    }

    /// Asks the task to stop, saying who asks; the reason's source is implied by it with
    /// [`request_cancel`](Self::request_cancel). Only the first call while the task runs takes
    /// effect; when it does, every child of the task that has not ended is cancelled too,
    /// with [`CancelReason::Parent`].
    pub(crate) fn request_cancel_by(
        &self,
        reason: CancelReason,
        source: CancelSource,
    ) -> CancelStatus {
        let Some(family) = self.family() else {
            return self.cell.request_cancel_by(reason, source);
        };
        let status = self.cell.request_cancel_by(reason.clone(), source);
        if status == CancelStatus::Requested {
            family.cancel_children(&reason);
        }
        status
    }

    /// [`request_cancel_by`](Self::request_cancel_by) with the source the reason implies.
    pub(crate) fn request_cancel(&self, reason: CancelReason) -> CancelStatus {
        let source = CancelSource::implied_by(&reason);
        self.request_cancel_by(reason, source)
    }

    /// The cell that decides the task's ending.
    #[inline]
    pub(crate) fn cell(&self) -> &TaskCell {
        &self.cell
    }

    pub(crate) fn live(&self) -> &TaskLive {
        &self.live
    }

    pub(crate) fn flow(&self) -> &'static FlowInfo {
        self.flow
    }

    #[inline]
    pub(crate) fn set_step(&self, index: usize) {
        self.step.store(index as u16, Ordering::Relaxed);
    }

    pub(crate) fn step(&self) -> Option<usize> {
        match self.step.load(Ordering::Relaxed) {
            NOT_STARTED => None,
            index => Some(usize::from(index)),
        }
    }

    /// The passport's priority.
    pub(crate) fn priority(&self) -> i32 {
        self.priority
    }

    /// Whether the task waits in a line (see the module docs).
    pub(crate) fn is_waiting(&self) -> bool {
        self.waiting.load(Ordering::Relaxed)
    }

    /// The `waiting` flag, for the line the task waits in.
    pub(crate) fn waiting_flag(&self) -> &AtomicBool {
        &self.waiting
    }

    /// The first check of every race (a step's, and a wait in a line's), on every poll:
    /// whether the task must stop now, because a cancel was requested or its deadline passed.
    /// When the deadline passes, the cancel is requested here with the reason `expired` gives
    /// (a step's deadline is the task's timeout; a queued task's may be its max wait); a
    /// concurrent cancel may win that, and its reason then stands.
    #[inline]
    pub(crate) fn must_stop(
        &self,
        deadline: Option<Pin<&mut Sleep>>,
        expired: impl FnOnce() -> CancelReason,
        cx: &mut Context<'_>,
    ) -> bool {
        if self.cell.is_cancel_requested() {
            return true;
        }
        if let Some(sleep) = deadline {
            if sleep.poll(cx).is_ready() {
                let _ = self.request_cancel(expired());
                return true;
            }
        }
        false
    }
}
