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
//!   without limits never touches either. A priority other than 0 is kept in the cell's cold
//!   slot (a task that sets one is queued, the slow path already).
//! * `step`, `waiting` and `tree` are stored in the cell (`TaskCell::marks`), beside its
//!   phase byte, in what would be padding: with the family pointer below, the shared state
//!   stays 88 bytes (every task's allocation; 8 more moved it to the next size class).
//! * `live` is what observers read and add-ons need (`observe/live.rs`): this file only
//!   holds it.
//! * `tree` says whether the task has a place in a tree of tasks (`family.rs`: set at
//!   submission for a child, by its first child for a parent, never for a task with neither)
//!   and whether it has children that have not ended (written by its family under the
//!   family's lock). A child's family is made with its shared state and kept in `family`
//!   (read without a lock); a top-level task's is made by its first child, later, and kept
//!   in the cell's cold slot, under whose lock it is made. A cancel that takes effect
//!   ([`TaskShared::request_cancel_by`]) goes on to the children.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::Context;

use tokio::time::Sleep;

use crate::cell::{Marks, TaskCell};
use crate::family::Family;
use crate::flow::FlowInfo;
use crate::observe::{EventKind, TaskLive};
use crate::reason::{CancelReason, CancelSource, CancelStatus};

/// `step` before the first step begins (while queued, or between submit and first poll).
const NOT_STARTED: u16 = u16::MAX;

pub(crate) struct TaskShared {
    flow: &'static FlowInfo,
    /// Also holds, beside its phase byte, `step`, `waiting` and `tree` (`TaskCell::marks`).
    cell: TaskCell,
    live: TaskLive,
    /// A child's family, made with it (a top-level task's is in the cell's cold slot, made
    /// by its first child).
    family: Option<Arc<Family>>,
}

/// `tree`: the task has a family (a child's in `family`, a parent's in the cell's cold slot).
const HAS_FAMILY: u8 = 1;
/// `tree`: the task has children that have not ended.
const HAS_CHILDREN: u8 = 2;

impl TaskShared {
    pub(crate) fn new(flow: &'static FlowInfo, priority: i32, live: TaskLive) -> Self {
        Self::with_family(flow, priority, live, None)
    }

    /// A child task's shared state, linked to its parent by `family`.
    pub(crate) fn child(
        flow: &'static FlowInfo,
        priority: i32,
        live: TaskLive,
        family: Arc<Family>,
    ) -> Self {
        Self::with_family(flow, priority, live, Some(family))
    }

    #[inline(always)]
    fn with_family(
        flow: &'static FlowInfo,
        priority: i32,
        live: TaskLive,
        family: Option<Arc<Family>>,
    ) -> Self {
        let tree = if family.is_some() { HAS_FAMILY } else { 0 };
        let cell = TaskCell::new(Marks {
            step: AtomicU16::new(NOT_STARTED),
            waiting: AtomicBool::new(false),
            tree: AtomicU8::new(tree),
            timer: AtomicU16::new(0),
        });
        cell.set_priority(priority);
        TaskShared {
            flow,
            cell,
            live,
            family,
        }
    }

    #[inline(always)]
    fn tree(&self) -> &AtomicU8 {
        &self.cell.marks.tree
    }

    /// Whether the task has a place in a tree of tasks (one load).
    #[inline]
    pub(crate) fn has_family(&self) -> bool {
        self.tree().load(Ordering::Acquire) & HAS_FAMILY != 0
    }

    /// Whether the task has children that have not ended (one load).
    #[inline]
    pub(crate) fn has_children(&self) -> bool {
        self.tree().load(Ordering::Acquire) & HAS_CHILDREN != 0
    }

    /// For the task's family, under its lock: whether it has children that have not ended.
    pub(crate) fn set_has_children(&self, has: bool) {
        if has {
            self.tree().fetch_or(HAS_CHILDREN, Ordering::AcqRel);
        } else {
            self.tree().fetch_and(!HAS_CHILDREN, Ordering::AcqRel);
        }
    }

    /// The task's place in a tree of tasks, if it has a parent or has had children.
    pub(crate) fn family(&self) -> Option<Arc<Family>> {
        if let Some(family) = &self.family {
            return Some(Arc::clone(family));
        }
        if !self.has_family() {
            return None;
        }
        self.cell.family()?.downcast::<Family>().ok()
    }

    /// The task's family, made now (as a root's) if it has none: its first child is coming.
    pub(crate) fn family_or_root(&self, make: impl FnOnce() -> Family) -> Arc<Family> {
        if let Some(family) = &self.family {
            return Arc::clone(family);
        }
        // The flag is set under the cell's slot lock, with the family: see
        // `request_cancel_by`.
        let family = self
            .cell
            .family_or_insert(|| {
                self.tree().fetch_or(HAS_FAMILY, Ordering::AcqRel);
                Arc::new(make())
            })
            .downcast::<Family>()
            .ok();
        // The slot holds nothing else than a `Family`.
        family.unwrap_or_else(|| Arc::new(make_orphan()))
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
        let status = self.cell.request_cancel_by(reason, source);
        // Looked at after the compare-and-swap, which the cell makes under its slot's lock:
        // a family made meanwhile (under that lock, with its flag) is seen here, or its first
        // child's adoption sees the cancel (see `family.rs`).
        if status == CancelStatus::Requested && self.has_family() {
            if let Some(family) = self.family() {
                family.cancel_children(&self.cell.reason());
            }
        }
        status
    }

    /// [`request_cancel_by`](Self::request_cancel_by) with the source the reason implies.
    pub(crate) fn request_cancel(&self, reason: CancelReason) -> CancelStatus {
        let source = CancelSource::implied_by(&reason);
        self.request_cancel_by(reason, source)
    }

    /// Builds and delivers an event of this task (whose id is `id`), with its parent's id,
    /// if anyone listens: with no add-ons, one `is_none` check.
    #[inline(always)]
    pub(crate) fn emit<'a>(&self, id: crate::id::TaskId, kind: impl FnOnce() -> EventKind<'a>) {
        self.live.emit(id, self.flow, || self.parent_id(), kind);
    }

    /// The id of the task that started this one, for a child. (Out of line: only events
    /// that someone hears ask it.)
    #[inline(never)]
    pub(crate) fn parent_id(&self) -> Option<crate::id::TaskId> {
        self.family()?.parent_id()
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
        self.cell.marks.step.store(index as u16, Ordering::Relaxed);
    }

    pub(crate) fn step(&self) -> Option<usize> {
        match self.cell.marks.step.load(Ordering::Relaxed) {
            NOT_STARTED => None,
            index => Some(usize::from(index)),
        }
    }

    /// The passport's priority.
    pub(crate) fn priority(&self) -> i32 {
        self.cell.priority()
    }

    /// Whether the task waits in a line (see the module docs).
    pub(crate) fn is_waiting(&self) -> bool {
        self.cell.marks.waiting.load(Ordering::Relaxed)
    }

    /// The `waiting` flag, for the line the task waits in.
    pub(crate) fn waiting_flag(&self) -> &AtomicBool {
        &self.cell.marks.waiting
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

/// Never made: `family_or_root` falls back on it only if the cold slot held something else.
fn make_orphan() -> Family {
    Family::root(crate::id::TaskId::from_u128(0), None)
}
