//! The cell that decides how a task ends: by itself, or by a cancel, and then with which
//! reason, from whom, and what became of the stopped step's cleanup. Everything else about a
//! task (its flow, its step, its place in a queue, what observers read) is in `shared.rs`,
//! which holds one of these.
//!
//! # Invariants
//! * `phase` decides, once and for all, whether the task ends by itself or by a cancel. It
//!   moves `RUNNING -> CANCELLED` (a canceller wins) or `RUNNING -> SEALED` (the task sealed
//!   its own ending first); never anything else. Whoever makes that compare-and-swap decides,
//!   so "did the step finish or was it cancelled first" has exactly one answer. A cancelled
//!   phase also says who asked (the winning canceller's `CancelSource::code`, in the bits
//!   below the `CANCELLED` bit): the one swap writes both.
//! * `slot` (a mutex, taken on the cold paths, cancel and waiting, and once at each task's
//!   end to mark it ended) holds the reason, the cleanup's result, a panicked step's message,
//!   the last progress, the task's family (opaque here) and the wakers of those waiting for
//!   the end or the cancel, in a box
//!   made by the first cancel, waiter or progress report: most tasks never make it. The
//!   canceller holds the mutex across its compare-and-swap, so a task that sees `CANCELLED`
//!   and then locks `slot` always finds the reason written.
//! * `waker` is the task's own waker, registered while a step (or a wait in a line) is
//!   pending, so that a cancel wakes the task and the step stops at once. The protocol of
//!   the task's side: look at `phase`, register the waker, look at `phase` again.
//! * `ENDED`, a bit set on top of the decided phase under `slot`'s lock, says the task's
//!   runner is gone (on every path); those waiting for the end look at it under that lock.
//! * `ABANDONED`, a bit set under `slot`'s lock by [`TaskCell::abandon`] (a clustered
//!   instance that lost its lease), says the task is no longer this instance's: its runner
//!   stops, runs no cleanup or compensation, and ends it `Abandoned`. Abandoning a running
//!   task also decides it cancelled (source `OwnerLost`) in the same swap, so that the step
//!   race stops it as it stops any cancelled task and a later seal or cancel finds it
//!   decided; abandoning a decided task (cancelled or sealed) only adds the bit. Set at most
//!   once, never on an ended task.
//!
//! Lock order: a registry shard, then `slot`; never the reverse. Wakers are called after the
//! lock is released.
//!
//! # Checked with loom
//! `loom.rs` beside this file runs the decisions above under every interleaving, compiled
//! against loom's atomics, mutex and waker through the crate's `sync` facade:
//! `RUSTFLAGS="--cfg task_manager_loom" cargo test -p task-manager-core --lib cell::loom`.
//! This file imports only the values it stores and `crate::sync`.

use std::any::Any;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::cleanup::Cleanup;
use crate::compensation::Compensation;
use crate::observe::Progress;
use crate::reason::{CancelReason, CancelSource, CancelStatus};
use crate::report::Attempt;
use crate::sync::{AtomicU8, AtomicWaker, Mutex, MutexGuard, Ordering, PoisonError};

#[cfg(all(test, task_manager_loom))]
mod loom;

const RUNNING: u8 = 0;
const SEALED: u8 = 1;
/// Set in every cancelled phase; the bits of `SOURCE` hold the source's code (`1..=0x1f`).
const CANCELLED: u8 = 0x80;
/// Set, under `slot`'s lock, once the task's runner is gone (see [`TaskCell::end`]), on top
/// of the decided phase; it lives in the phase byte so that the slot's cell is one pointer.
const ENDED: u8 = 0x40;
/// Set, under `slot`'s lock, once the task is abandoned (see [`TaskCell::abandon`]).
const ABANDONED: u8 = 0x20;
const SOURCE: u8 = 0x1f;

/// Whether `phase` is a cancelled one.
#[inline]
const fn is_cancelled(phase: u8) -> bool {
    phase & CANCELLED != 0
}

/// See the module docs.
pub(crate) struct TaskCell {
    phase: AtomicU8,
    /// Bytes of the task's shared state that take no part in the decisions here (see
    /// `shared.rs`): kept beside `phase`, in what would otherwise be its padding, so that the
    /// shared state, every task's allocation, stays within its size class.
    pub(crate) marks: Marks,
    waker: AtomicWaker,
    slot: Mutex<SlotCell>,
}

/// See [`TaskCell::marks`]; what each byte means is `shared.rs`'s business.
pub(crate) struct Marks {
    pub(crate) step: std::sync::atomic::AtomicU16,
    pub(crate) waiting: std::sync::atomic::AtomicBool,
    pub(crate) tree: std::sync::atomic::AtomicU8,
    /// The step-time watch's mark of a step in progress (`watch.rs`): moved from "watched"
    /// to "asked" only by [`TaskCell::ask_timer`], under `slot`'s lock.
    pub(crate) timer: std::sync::atomic::AtomicU16,
}

/// The slot's cell: the cold state, allocated by the first cancel, waiter or progress
/// report. Most tasks never need it: they pay 16 bytes for the mutex and this pointer instead
/// of the hundred-odd bytes of a [`Slot`].
#[derive(Default)]
struct SlotCell {
    cold: Option<Box<Slot>>,
}

impl SlotCell {
    fn cold(&mut self) -> &mut Slot {
        self.cold.get_or_insert_with(Box::default)
    }
}

#[derive(Default)]
struct Slot {
    reason: Option<CancelReason>,
    /// What became of the cleanup of the step the task stopped at (it ran, or why it did
    /// not), recorded by the task: for its report, and for its cancellers if a cancel
    /// stopped it. Kept here rather than in the task's future, which every task carries.
    cleanup: Option<Cleanup>,
    /// The message of the step's panic that ended the task, from the step's stop until the
    /// ending takes it.
    panic: Option<String>,
    /// The time limit of the step attempt that timed out last (`#[step(timeout = "..")]`, or
    /// the passport's): for its cleanup's reason and the task's ending.
    step_limit: Duration,
    /// Those waiting for the task to end (cancellers) or to be cancelled (signals).
    waiters: Vec<Waker>,
    /// The last progress reported; `None` until a step reports one.
    progress: Option<Box<Progress>>,
    /// The attempts of the steps that retried (`#[step(retry = ..)]`), for the report; a
    /// step that succeeded at its first attempt adds none.
    attempts: Vec<Attempt>,
    /// The compensations that ran (`#[step(compensate = ..)]`), in order: for the report and
    /// for the cancellers ([`Cancellation::compensations`](crate::Cancellation::compensations)).
    compensations: Vec<Compensation>,
    /// The family (`family.rs`) of a top-level task that has started children, typed `Any`
    /// so that the cell knows nothing of it: made by its first child, under this slot's lock
    /// (a child's own family is made with its shared state, and kept there).
    family: Option<Arc<dyn Any + Send + Sync>>,
    /// The passport's priority, if not the default 0 (the queue add-on's; most tasks have
    /// none, and those that do are queued, which is the slow path already).
    priority: i32,
}

impl TaskCell {
    /// A running task's cell, with its `marks` as they start.
    pub(crate) fn new(marks: Marks) -> Self {
        TaskCell {
            phase: AtomicU8::new(RUNNING),
            marks,
            waker: AtomicWaker::new(),
            slot: Mutex::new(SlotCell::default()),
        }
    }

    /// Asks the task to stop, by the means the reason implies. Only the first call while the
    /// task runs takes effect. (The runner goes through `TaskShared::request_cancel`, which
    /// also cancels the task's children; the loom model calls this.)
    #[cfg(all(test, task_manager_loom))]
    pub(crate) fn request_cancel(&self, reason: CancelReason) -> CancelStatus {
        let source = CancelSource::implied_by(&reason);
        self.request_cancel_by(reason, source)
    }

    /// Asks the task to stop, saying who asks. Only the first call while the task runs
    /// takes effect.
    pub(crate) fn request_cancel_by(
        &self,
        reason: CancelReason,
        source: CancelSource,
    ) -> CancelStatus {
        let mut cell = self.lock();
        let cancelled = CANCELLED | source.code();
        match self
            .phase
            .compare_exchange(RUNNING, cancelled, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                let slot = cell.cold();
                slot.reason = Some(reason);
                let waiters = std::mem::take(&mut slot.waiters);
                drop(cell);
                self.waker.wake();
                waiters.into_iter().for_each(Waker::wake);
                CancelStatus::Requested
            }
            Err(phase) if is_cancelled(phase) => CancelStatus::AlreadyRequested,
            Err(_) => CancelStatus::AlreadyFinished,
        }
    }

    /// The hot-path check, made before every poll of a step.
    #[inline]
    pub(crate) fn is_cancel_requested(&self) -> bool {
        is_cancelled(self.phase.load(Ordering::Acquire))
    }

    /// Whether the task's runner is gone ([`end`](Self::end) was called).
    pub(crate) fn has_ended(&self) -> bool {
        self.phase.load(Ordering::Acquire) & ENDED != 0
    }

    /// Whether the task has claimed its own ending ([`seal`](Self::seal) succeeded).
    pub(crate) fn is_sealed(&self) -> bool {
        self.phase.load(Ordering::Acquire) & !(ENDED | ABANDONED) == SEALED
    }

    /// Whether the task was abandoned ([`abandon`](Self::abandon)).
    pub(crate) fn is_abandoned(&self) -> bool {
        self.phase.load(Ordering::Acquire) & ABANDONED != 0
    }

    /// The task is no longer this instance's (its cluster's store gave it to another): stop
    /// it where it stands, with no cleanup (see the module docs). A running task is decided
    /// cancelled with `reason` (source `OwnerLost`) at once. `None`: it was abandoned
    /// already, or has ended; `Some(decided)`: abandoned now, and `decided` says whether this
    /// call also decided it cancelled (it was running).
    pub(crate) fn abandon(&self, reason: CancelReason) -> Option<bool> {
        let mut cell = self.lock();
        let mut phase = self.phase.load(Ordering::Acquire);
        loop {
            if phase & (ENDED | ABANDONED) != 0 {
                return None;
            }
            let next = if phase == RUNNING {
                CANCELLED | ABANDONED | CancelSource::OwnerLost.code()
            } else {
                phase | ABANDONED
            };
            match self
                .phase
                .compare_exchange(phase, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(now) => phase = now,
            }
        }
        let slot = cell.cold();
        if phase == RUNNING {
            slot.reason = Some(reason);
        }
        let waiters = std::mem::take(&mut slot.waiters);
        drop(cell);
        self.waker.wake();
        waiters.into_iter().for_each(Waker::wake);
        Some(phase == RUNNING)
    }

    /// The task claims its own ending. `false`: a cancel won, and the task must end cancelled.
    #[inline]
    pub(crate) fn seal(&self) -> bool {
        self.phase
            .compare_exchange(RUNNING, SEALED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The winning reason. Call only after `is_cancel_requested` returned `true` or `seal`
    /// returned `false`.
    pub(crate) fn reason(&self) -> CancelReason {
        self.lock()
            .cold
            .as_ref()
            .and_then(|slot| slot.reason.clone())
            .unwrap_or(CancelReason::Requested("<reason lost>".into()))
    }

    /// Who asked for the winning cancel. Call only when [`reason`](Self::reason) may be.
    pub(crate) fn cancel_source(&self) -> CancelSource {
        CancelSource::from_code(self.phase.load(Ordering::Acquire) & SOURCE)
            .unwrap_or(CancelSource::Request)
    }

    /// The last progress a step reported.
    pub(crate) fn progress(&self) -> Option<Progress> {
        self.lock()
            .cold
            .as_ref()
            .and_then(|slot| slot.progress.as_deref().copied())
    }

    /// Records a step's progress; only the first report allocates.
    pub(crate) fn set_progress(&self, progress: Progress) {
        let mut cell = self.lock();
        match &mut cell.cold().progress {
            Some(last) => **last = progress,
            none => *none = Some(Box::new(progress)),
        }
    }

    #[inline]
    pub(crate) fn register_waker(&self, waker: &Waker) {
        self.waker.register(waker);
    }

    /// Wakes the task (say, its line handed it a permit).
    pub(crate) fn wake(&self) {
        self.waker.wake();
    }

    /// The step-time watch (`watch.rs`) asks the task to set a precise alarm for its step:
    /// moves `marks.timer` from `seen` to `asked` and takes the task's registered waker, both
    /// under `slot`'s lock, and returns the waker for the caller to wake after its locks
    /// (`None`: the mark had moved on, the step is over). The task, seeing `asked`, takes
    /// the same lock ([`settle_ask`](Self::settle_ask)) before it registers its waker again:
    /// a take that the ask made cannot come after that registration. A cancel's phase swap
    /// is made under this lock too, so that a cancel whose own wake found the waker taken
    /// is seen by the task the ask woke.
    pub(crate) fn ask_timer(&self, seen: u16, asked: u16) -> Option<Option<Waker>> {
        let cell = self.lock();
        self.marks
            .timer
            .compare_exchange(seen, asked, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        let waker = self.waker.take();
        drop(cell);
        Some(waker)
    }

    /// The task saw the watch's ask (see [`ask_timer`](Self::ask_timer)): once this returns,
    /// the ask's take of its waker is over, and registering it again keeps it registered.
    pub(crate) fn settle_ask(&self) {
        drop(self.lock());
    }

    /// Records what became of the stopped step's cleanup (see [`Slot::cleanup`]).
    pub(crate) fn record_cleanup(&self, cleanup: Cleanup) {
        self.lock().cold().cleanup = Some(cleanup);
    }

    /// Keeps the message of the panic that ends the task, until [`take_panic`](Self::take_panic).
    pub(crate) fn record_panic(&self, message: String) {
        self.lock().cold().panic = Some(message);
    }

    /// Keeps the time limit of a step attempt that just timed out.
    pub(crate) fn record_step_limit(&self, limit: Duration) {
        self.lock().cold().step_limit = limit;
    }

    /// The limit [`record_step_limit`](Self::record_step_limit) kept (zero if none).
    pub(crate) fn step_limit(&self) -> Duration {
        self.lock()
            .cold
            .as_ref()
            .map_or(Duration::ZERO, |slot| slot.step_limit)
    }

    /// The message [`record_panic`](Self::record_panic) kept.
    pub(crate) fn take_panic(&self) -> String {
        self.lock()
            .cold
            .as_mut()
            .and_then(|slot| slot.panic.take())
            .unwrap_or_default()
    }

    /// Keeps the attempts of a step that retried, for the report.
    pub(crate) fn record_attempts(&self, attempts: &mut Vec<Attempt>) {
        self.lock().cold().attempts.append(attempts);
    }

    /// The attempts [`record_attempts`](Self::record_attempts) kept.
    pub(crate) fn take_attempts(&self) -> Vec<Attempt> {
        self.lock()
            .cold
            .as_mut()
            .map(|slot| std::mem::take(&mut slot.attempts))
            .unwrap_or_default()
    }

    /// Records a compensation that ran.
    pub(crate) fn record_compensation(&self, compensation: Compensation) {
        self.lock().cold().compensations.push(compensation);
    }

    /// The compensations that ran so far, in order.
    pub(crate) fn compensations(&self) -> Vec<Compensation> {
        self.lock()
            .cold
            .as_ref()
            .map(|slot| slot.compensations.clone())
            .unwrap_or_default()
    }

    /// The task's family (see [`Slot::family`]), if it has one.
    pub(crate) fn family(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        self.lock().cold.as_ref()?.family.clone()
    }

    /// The passport's priority (0 unless [`set_priority`](Self::set_priority) said otherwise).
    pub(crate) fn priority(&self) -> i32 {
        self.lock().cold.as_ref().map_or(0, |slot| slot.priority)
    }

    /// Records a priority other than the default 0, before the task is published.
    #[inline(always)]
    pub(crate) fn set_priority(&self, priority: i32) {
        if priority != 0 {
            self.keep_priority(priority);
        }
    }

    #[cold]
    #[inline(never)]
    fn keep_priority(&self, priority: i32) {
        self.lock().cold().priority = priority;
    }

    /// The task's family, made by `make` if it has none.
    pub(crate) fn family_or_insert(
        &self,
        make: impl FnOnce() -> Arc<dyn Any + Send + Sync>,
    ) -> Arc<dyn Any + Send + Sync> {
        Arc::clone(self.lock().cold().family.get_or_insert_with(make))
    }

    /// Records `cleanup` unless one was recorded already (the one that ran stands).
    pub(crate) fn record_cleanup_if_none(&self, cleanup: Cleanup) {
        self.lock().cold().cleanup.get_or_insert(cleanup);
    }

    /// The cleanup recorded by [`record_cleanup`](Self::record_cleanup), if any.
    pub(crate) fn recorded_cleanup(&self) -> Option<Cleanup> {
        self.lock().cold.as_ref()?.cleanup.clone()
    }

    /// The task has ended: later cancels say "finished", and those waiting for its end are
    /// woken, with its recorded cleanup if a cancel stopped it. Called once, by the task's
    /// runner on every path out (including a panic or the runtime dropping the task).
    pub(crate) fn end(&self) {
        // A task dropped mid-step (runtime shutdown) never sealed: make later cancels say
        // "finished" rather than "requested".
        let _ = self
            .phase
            .compare_exchange(RUNNING, SEALED, Ordering::AcqRel, Ordering::Acquire);
        let mut cell = self.lock();
        self.phase.fetch_or(ENDED, Ordering::AcqRel);
        // A cancelled task has its cold slot (the cancel made it); one nobody cancelled or
        // waited on has none, and needs none.
        let waiters = match cell.cold.as_mut() {
            Some(slot) => std::mem::take(&mut slot.waiters),
            None => Vec::new(),
        };
        drop(cell);
        waiters.into_iter().for_each(Waker::wake);
    }

    /// Ready once the task has ended, with the cleanup that ran (if the task was cancelled).
    pub(crate) fn poll_ended(&self, cx: &mut Context<'_>) -> Poll<Option<Cleanup>> {
        let mut cell = self.lock();
        // `ENDED` is set under this lock: read under it, it cannot change before the waker
        // is in the list that `end` takes.
        let phase = self.phase.load(Ordering::Acquire);
        if phase & ENDED != 0 {
            // Cancellers learn of the cleanup a cancel caused. A task that ended by itself
            // caused none for them, even if a panicked step's cleanup ran (the outcome
            // reports that one).
            let cleanup = cell
                .cold
                .as_ref()
                .filter(|_| is_cancelled(phase))
                .and_then(|slot| slot.cleanup.clone());
            return Poll::Ready(cleanup);
        }
        push_waker(&mut cell.cold().waiters, cx.waker());
        Poll::Pending
    }

    /// Ready once a cancel has been requested (for cooperative cancellation).
    pub(crate) fn poll_cancel_requested(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_cancel_requested() {
            return Poll::Ready(());
        }
        let mut cell = self.lock();
        // Re-check under the lock: a canceller takes the waiters under this same lock.
        if self.is_cancel_requested() {
            return Poll::Ready(());
        }
        push_waker(&mut cell.cold().waiters, cx.waker());
        Poll::Pending
    }

    fn lock(&self) -> MutexGuard<'_, SlotCell> {
        // Nothing panics while holding the slot, but a poisoned lock must not wedge a cancel.
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn push_waker(waiters: &mut Vec<Waker>, waker: &Waker) {
    if !waiters.iter().any(|known| known.will_wake(waker)) {
        waiters.push(waker.clone());
    }
}
