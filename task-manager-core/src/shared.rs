//! The state one task shares with those who may cancel it.
//!
//! # Who touches what
//! * `phase` decides, once and for all, whether the task ends by itself or by a cancel. It
//!   moves `RUNNING -> CANCELLED` (a canceller wins) or `RUNNING -> FINISHED` (the task sealed
//!   its own ending first); never anything else. Whoever makes that compare-and-swap decides,
//!   so "did the step finish or was it cancelled first" has exactly one answer. A cancelled
//!   phase also says who asked (the winning canceller's `CancelSource::code`, in the bits
//!   below the `CANCELLED` bit): the one swap writes both, so the source needs no byte and
//!   no lock of its own (the queue add-on's `priority` and `waiting` use the bytes a
//!   separate source took before).
//! * `slot` (a mutex, taken on the cold paths, cancel and waiting, and once at each task's
//!   end to mark it ended) holds the reason, the cleanup's result and the wakers of those
//!   waiting for either, in a box made by the first cancel, waiter or progress report: most
//!   tasks never make it. The canceller holds the mutex across its compare-and-swap, so a
//!   task that sees `CANCELLED` and then locks `slot` always finds the reason written.
//! * `waker` is the task's own waker, registered while a step is pending, so that a cancel
//!   wakes the task and the step stops at once.
//! * `step` is the index of the step in progress, written by the task alone, read by
//!   [`status`](crate::TaskManager::status). It is advisory, so `Relaxed` suffices.
//! * `slot.progress` is the last progress a step reported (observers read it): boxed, so a
//!   task that never reports any pays nothing for it once the slot exists, and under `slot`
//!   because it is written rarely enough to share that lock rather than have one of its own.
//! * `live` is the rest of what observers read and add-ons need (`observe/live.rs`): this
//!   file only holds it.
//! * `priority` (the passport's) and `waiting` belong to the queue add-on: `waiting` is set
//!   while the task waits in a line (for admission, or for its step's resource), and is
//!   written only by that line, under its lock (see `queue/permits.rs`). A task of a flow
//!   without limits never touches either.
//!
//! Lock order: a registry shard, then `slot`; never the reverse.
//!
//! # Checked with loom
//! `tests/loom_shared.rs` compiles this very file against loom's atomics, mutex and waker (it
//! takes them from `crate::sync`, which that test provides) and runs, under every
//! interleaving: a step finishing against a cancel (exactly one wins; a winning cancel's
//! reason is always readable), two cancels (one reason stands, with its source), a cancel
//! against a step going to sleep (the step is always woken: it registers its waker, then
//! looks at `phase` again), and the wake-ups of those waiting for the end or for the cancel.
//! Keep this file free of other `crate::` imports than those that test maps (`reason` is
//! `src/reason.rs` itself there, `observe` a stub, and `crate::queue::note_abandoned`, the
//! one call into the queue add-on, a no-op), so that it keeps compiling there.

use std::task::{Context, Poll, Waker};

use crate::cancel::{CancelStatus, Cleanup};
use crate::flow::FlowInfo;
use crate::observe::{Progress, TaskLive};
use crate::reason::{CancelReason, CancelSource};
use crate::sync::{
    AtomicBool, AtomicU16, AtomicU8, AtomicWaker, Mutex, MutexGuard, Ordering, PoisonError,
};

const RUNNING: u8 = 0;
const FINISHED: u8 = 1;
/// Set in every cancelled phase; the bits below it hold the source's code (`1..=0x7f`).
const CANCELLED: u8 = 0x80;

/// Whether `phase` is a cancelled one.
#[inline]
const fn is_cancelled(phase: u8) -> bool {
    phase & CANCELLED != 0
}

/// `step` before the first step begins (while queued, or between submit and first poll).
pub(crate) const NOT_STARTED: u16 = u16::MAX;

pub(crate) struct TaskShared {
    flow: &'static FlowInfo,
    phase: AtomicU8,
    step: AtomicU16,
    waiting: AtomicBool,
    priority: i32,
    waker: AtomicWaker,
    slot: Mutex<SlotCell>,
    live: TaskLive,
}

/// The slot's cell: whether the task has ended, and the cold state, allocated by the first
/// cancel, waiter or progress report. Most tasks never need it: they pay 16 bytes for the
/// mutex and this cell instead of the hundred-odd bytes of a [`Slot`].
#[derive(Default)]
struct SlotCell {
    ended: bool,
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
    /// Set when the task ends cancelled: its cancellers are then given `cleanup`.
    ended_cancelled: bool,
    /// The message of the step's panic that ended the task, from the step's stop until the
    /// ending takes it.
    panic: Option<String>,
    /// Those waiting for the task to end (cancellers) or to be cancelled (signals).
    waiters: Vec<Waker>,
    /// The last progress reported; `None` until a step reports one.
    progress: Option<Box<Progress>>,
}

impl TaskShared {
    pub(crate) fn new(flow: &'static FlowInfo, priority: i32, live: TaskLive) -> Self {
        TaskShared {
            flow,
            phase: AtomicU8::new(RUNNING),
            step: AtomicU16::new(NOT_STARTED),
            waiting: AtomicBool::new(false),
            priority,
            waker: AtomicWaker::new(),
            slot: Mutex::new(SlotCell::default()),
            live,
        }
    }

    pub(crate) fn live(&self) -> &TaskLive {
        &self.live
    }

    pub(crate) fn flow(&self) -> &'static FlowInfo {
        self.flow
    }

    /// Asks the task to stop, by the means the reason implies. Only the first call while the
    /// task runs takes effect.
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
                if self.is_waiting() {
                    // Its line must give its place away at once, not when the task next runs.
                    crate::queue::note_abandoned();
                }
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

    /// Whether the task has claimed its own ending ([`seal`](Self::seal) succeeded).
    pub(crate) fn is_sealed(&self) -> bool {
        self.phase.load(Ordering::Acquire) == FINISHED
    }

    /// The task claims its own ending. `false`: a cancel won, and the task must end cancelled.
    #[inline]
    pub(crate) fn seal(&self) -> bool {
        self.phase
            .compare_exchange(RUNNING, FINISHED, Ordering::AcqRel, Ordering::Acquire)
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
        CancelSource::from_code(self.phase.load(Ordering::Acquire) & !CANCELLED)
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

    /// Wakes the task (its line handed it a permit).
    pub(crate) fn wake(&self) {
        self.waker.wake();
    }

    /// Marks the task ended and wakes everyone waiting on it. Called once, by the task's
    /// scope on every path out (including a panic or the runtime dropping the task).
    /// Records what became of the stopped step's cleanup (see [`Slot::cleanup`]).
    pub(crate) fn record_cleanup(&self, cleanup: Cleanup) {
        self.lock().cold().cleanup = Some(cleanup);
    }

    /// Keeps the message of the panic that ends the task, until [`take_panic`](Self::take_panic).
    pub(crate) fn record_panic(&self, message: String) {
        self.lock().cold().panic = Some(message);
    }

    /// The message [`record_panic`](Self::record_panic) kept.
    pub(crate) fn take_panic(&self) -> String {
        self.lock()
            .cold
            .as_mut()
            .and_then(|slot| slot.panic.take())
            .unwrap_or_default()
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
    /// woken, with its recorded cleanup if a cancel stopped it.
    pub(crate) fn end(&self) {
        // A task dropped mid-step (runtime shutdown) never sealed: make later cancels say
        // "finished" rather than "requested".
        let cancelled = match self.phase.compare_exchange(
            RUNNING,
            FINISHED,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => false,
            Err(phase) => is_cancelled(phase),
        };
        let mut cell = self.lock();
        cell.ended = true;
        // Cancellers learn of the cleanup a cancel caused. A task that ended by itself caused
        // none for them, even if a panicked step's cleanup ran (the outcome reports that one).
        // A cancelled task has its cold slot (the cancel made it); one nobody cancelled or
        // waited on has none, and needs none.
        let waiters = match cell.cold.as_mut() {
            Some(slot) => {
                slot.ended_cancelled = cancelled;
                std::mem::take(&mut slot.waiters)
            }
            None => Vec::new(),
        };
        drop(cell);
        waiters.into_iter().for_each(Waker::wake);
    }

    /// Ready once the task has ended, with the cleanup that ran (if the task was cancelled).
    pub(crate) fn poll_ended(&self, cx: &mut Context<'_>) -> Poll<Option<Cleanup>> {
        let mut cell = self.lock();
        if cell.ended {
            let cleanup = cell
                .cold
                .as_ref()
                .filter(|slot| slot.ended_cancelled)
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
