//! A task's place in a tree of tasks: its parent, its live children, and what became of the
//! cleanups of those that ended cancelled. A task that has neither parent nor children never
//! makes one: a child's family is made with it and kept in its `TaskShared`, a top-level
//! task's in its cell's cold slot (made by its first child), and `TaskShared` holds one byte
//! of flags saying whether there is one and whether it has live children (see `shared.rs`).
//!
//! # Invariants
//! * A child is linked to its parent once, at its submission, after it is registered and
//!   before it is spawned ([`Family::adopt`]), and unlinks itself once, when its runner is gone
//!   ([`Family::leave`], from the child's `Scope::drop`, after the child's cell has ended). So
//!   `children` holds exactly the children that have not ended yet.
//! * A cancel of the parent that took effect cancels every child in `children` at that
//!   moment (`TaskShared::request_cancel_by`), and a child adopted after it is cancelled at
//!   adoption: `adopt` reads the parent's phase under `kin`'s lock, and the canceller takes
//!   that lock after its compare-and-swap, so one of the two always sees the other.
//! * While the parent's runner waits for its children (the end of a step, or of a cleanup:
//!   `reaping` is set), a child adopted meanwhile is cancelled at adoption too, and the last
//!   child to leave wakes the runner (`reaper`).
//! * `records` gets one entry per descendant that ended cancelled, appended by the child
//!   itself as it leaves (its own descendants' entries first, moved up from its family): a
//!   child has no children left when it ends, so its records are complete by then.
//!
//! Lock order: `kin`, then a cell's slot (`adopt` reads the parent's reason under `kin`);
//! never the reverse (a slot is locked to find a family and released before `kin` is
//! taken). Cancels and wakes happen after `kin` is released. The parent's `HAS_CHILDREN` flag (`shared.rs`) is written under `kin`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Waker};

use tokio::time::Instant;

use crate::cleanup::Cleanup;
use crate::id::TaskId;
use crate::reason::{CancelReason, CancelSource};
use crate::shared::TaskShared;

/// What became of the cleanup of a descendant that ended cancelled: one entry of
/// [`Cancellation::descendants`](crate::Cancellation::descendants).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DescendantCleanup {
    /// The descendant.
    pub id: TaskId,
    /// Its parent (the task that was cancelled, or one of its descendants).
    pub parent: TaskId,
    /// Its flow.
    pub flow: &'static str,
    /// Its cleanup, as its own [`Cancellation`](crate::Cancellation) would tell it.
    pub cleanup: Cleanup,
}

/// See the module docs.
pub(crate) struct Family {
    /// This task's own id (the registry keys tasks by id; the shared state does not hold it).
    id: TaskId,
    parent: Option<Parent>,
    /// When this task must end at the latest: its own deadline or its parent's, the earlier;
    /// `None` for never. Its children's deadlines are at most this.
    deadline: Option<Instant>,
    /// How many children have not ended: `children.len()`, readable without the lock (the
    /// runner looks at it at the end of every step). Written under the lock.
    live: AtomicUsize,
    /// Whether `records` may hold anything (a child ever left): its leaving parent skips the
    /// lock otherwise.
    recorded: AtomicBool,
    /// A child's place in its parent's `children` (set by `adopt`, read by `leave`).
    place: AtomicUsize,
    kin: Mutex<Kin>,
}

struct Parent {
    id: TaskId,
    /// Weak: the parent holds its children strongly until they leave.
    task: Weak<TaskShared>,
    /// The parent's family, which this task leaves when it ends (weak, as `task`: reached
    /// without the parent's cell lock that finding it through `task` would take).
    family: Weak<Family>,
}

#[derive(Default)]
struct Kin {
    /// The children that have not ended, each at the place it was given (`free` lists the
    /// empty ones): adopting and leaving cost no hashing.
    children: Vec<Option<(TaskId, Arc<TaskShared>)>>,
    free: Vec<usize>,
    /// How many places are taken.
    count: usize,
    /// Set while the runner waits for the children to end: the reason they are cancelled
    /// with (a child adopted meanwhile gets it at once).
    reaping: Option<CancelReason>,
    /// The runner's waker while it waits for the children.
    reaper: Option<Waker>,
    records: Vec<DescendantCleanup>,
}

/// Why a child could not be linked to its parent.
pub(crate) enum Unlinked {
    /// The parent has ended (its runner is gone).
    ParentEnded,
}

impl Family {
    /// The family of a task with no parent, made when it starts its first child.
    pub(crate) fn root(id: TaskId, deadline: Option<Instant>) -> Self {
        Family {
            id,
            parent: None,
            deadline,
            live: AtomicUsize::new(0),
            recorded: AtomicBool::new(false),
            place: AtomicUsize::new(usize::MAX),
            kin: Mutex::default(),
        }
    }

    /// The family of a child of `parent` (whose family exists: it made the child's passport).
    /// `own` is the child's own deadline; the child's is the earlier of it and the parent's.
    pub(crate) fn child(
        id: TaskId,
        parent: &Arc<TaskShared>,
        parent_family: &Arc<Family>,
        own: Option<Instant>,
    ) -> Self {
        let deadline = match (own, parent_family.deadline) {
            (Some(own), Some(theirs)) => Some(own.min(theirs)),
            (own, theirs) => own.or(theirs),
        };
        Family {
            id,
            parent: Some(Parent {
                id: parent_family.id,
                task: Arc::downgrade(parent),
                family: Arc::downgrade(parent_family),
            }),
            deadline,
            live: AtomicUsize::new(0),
            recorded: AtomicBool::new(false),
            place: AtomicUsize::new(usize::MAX),
            kin: Mutex::default(),
        }
    }

    pub(crate) fn id(&self) -> TaskId {
        self.id
    }

    pub(crate) fn parent_id(&self) -> Option<TaskId> {
        self.parent.as_ref().map(|parent| parent.id)
    }

    /// The parent's shared state, while it runs.
    pub(crate) fn parent(&self) -> Option<Arc<TaskShared>> {
        self.parent.as_ref()?.task.upgrade()
    }

    /// The parent's family, while the parent runs.
    pub(crate) fn parent_family(&self) -> Option<Arc<Family>> {
        self.parent.as_ref()?.family.upgrade()
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The ids of the children that have not ended, in no particular order.
    pub(crate) fn children_ids(&self) -> Vec<TaskId> {
        self.lock().iter().map(|(id, _)| *id).collect()
    }

    /// Whether any child has not ended.
    #[inline]
    pub(crate) fn has_children(&self) -> bool {
        self.live.load(Ordering::Acquire) != 0
    }

    /// Links `child` (registered, not yet spawned) to `parent`, whose family this is. The
    /// child is cancelled at once if the parent is being cancelled, or is waiting for its
    /// children to end.
    pub(crate) fn adopt(
        &self,
        parent: &TaskShared,
        child_id: TaskId,
        child: &Arc<TaskShared>,
        child_family: &Family,
    ) -> Result<(), Unlinked> {
        let mut kin = self.lock();
        if parent.cell().has_ended() {
            return Err(Unlinked::ParentEnded);
        }
        let place = kin.take_place(child_id, Arc::clone(child));
        child_family.place.store(place, Ordering::Relaxed);
        self.live.store(kin.count, Ordering::Release);
        parent.set_has_children(true);
        let reason = match &kin.reaping {
            Some(reason) => Some(reason.clone()),
            None if parent.cell().is_cancel_requested() => {
                Some(CancelReason::parent(self.id, parent.cell().reason()))
            }
            None => None,
        };
        drop(kin);
        if let Some(reason) = reason {
            child.request_cancel_by(reason, CancelSource::Parent);
        }
        Ok(())
    }

    /// Cancels every child that has not ended with `reason` (the parent's cancel took effect).
    pub(crate) fn cancel_children(&self, reason: &CancelReason) {
        if !self.has_children() {
            return;
        }
        let children = self.lock().arcs();
        let reason = CancelReason::parent(self.id, reason.clone());
        for child in children {
            child.request_cancel_by(reason.clone(), CancelSource::Parent);
        }
    }

    /// Cancels every child that has not ended, with `reason`, and waits until they all have
    /// (the runner, at the end of a step or a cleanup). Ready at once when there are none.
    pub(crate) fn poll_reap(
        &self,
        reason: impl FnOnce() -> CancelReason,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let mut kin = self.lock();
        if kin.count == 0 {
            kin.reaping = None;
            kin.reaper = None;
            return Poll::Ready(());
        }
        match &mut kin.reaper {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        if kin.reaping.is_some() {
            return Poll::Pending;
        }
        let reason = reason();
        kin.reaping = Some(reason.clone());
        let children = kin.arcs();
        drop(kin);
        for child in children {
            child.request_cancel_by(reason.clone(), CancelSource::Parent);
        }
        // The last child may have left meanwhile, before the waker was in place for it: it
        // found the waker (set above, under the lock), or the map is empty now.
        let mut kin = self.lock();
        if kin.count == 0 {
            kin.reaping = None;
            kin.reaper = None;
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// The task's runner is gone with children still running (started by a compensation,
    /// which no reap follows): they are cancelled, not waited for.
    #[cold]
    #[inline(never)]
    pub(crate) fn cancel_left_behind(&self) {
        if !self.has_children() {
            return;
        }
        let children = self.lock().arcs();
        for child in children {
            child.request_cancel_by(
                CancelReason::ParentStepEnded { parent: self.id },
                CancelSource::Parent,
            );
        }
    }

    /// The child `id` has ended: it leaves its parent's family (this one), with the records
    /// of its cleanup and of its descendants'.
    pub(crate) fn leave(
        &self,
        parent: &TaskShared,
        id: TaskId,
        child: &TaskShared,
        child_family: &Family,
    ) {
        let mut records = if child_family.recorded.load(Ordering::Acquire) {
            std::mem::take(&mut child_family.lock().records)
        } else {
            Vec::new()
        };
        if child.cell().is_cancel_requested() {
            if let Some(cleanup) = child.cell().recorded_cleanup() {
                records.push(DescendantCleanup {
                    id,
                    parent: self.id,
                    flow: child.flow().name(),
                    cleanup,
                });
            }
        }
        let mut kin = self.lock();
        let place = child_family.place.load(Ordering::Relaxed);
        kin.leave_place(place, id);
        self.live.store(kin.count, Ordering::Release);
        if kin.count == 0 {
            parent.set_has_children(false);
        }
        if !records.is_empty() {
            kin.records.append(&mut records);
            self.recorded.store(true, Ordering::Release);
        }
        let waker = if kin.count == 0 {
            kin.reaper.take()
        } else {
            None
        };
        drop(kin);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The cleanups of the descendants that ended cancelled, so far.
    pub(crate) fn records(&self) -> Vec<DescendantCleanup> {
        self.lock().records.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Kin> {
        // No user code runs under this lock.
        self.kin.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Kin {
    /// Puts a child in a free place (or a new one); its place.
    fn take_place(&mut self, id: TaskId, child: Arc<TaskShared>) -> usize {
        self.count += 1;
        match self.free.pop() {
            Some(place) => {
                self.children[place] = Some((id, child));
                place
            }
            None => {
                self.children.push(Some((id, child)));
                self.children.len() - 1
            }
        }
    }

    /// Frees the place of child `id` (if it is there: a child refused at submission after its
    /// adoption leaves once).
    fn leave_place(&mut self, place: usize, id: TaskId) {
        match self.children.get_mut(place) {
            Some(slot) if slot.as_ref().is_some_and(|(known, _)| *known == id) => {
                *slot = None;
                self.free.push(place);
                self.count -= 1;
            }
            _ => {}
        }
    }

    fn iter(&self) -> impl Iterator<Item = &(TaskId, Arc<TaskShared>)> {
        self.children.iter().flatten()
    }

    fn arcs(&self) -> Vec<Arc<TaskShared>> {
        self.iter().map(|(_, child)| Arc::clone(child)).collect()
    }
}
