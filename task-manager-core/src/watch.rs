//! The step-time watch: how a manager keeps the time limits of its tasks' timed steps
//! (`#[step(timeout = "..")]`) without an alarm per step. A step whose limit is at least
//! [`FLOOR`] (and that no passport's per-call limit changes) sets no alarm when it begins: it
//! writes the watch's current epoch into a spare half-word of its task's cell (a load and a
//! store) and clears it when it ends (a swap). A tokio task of the watch's own, the ticker,
//! walks the manager's registry every tick (an eighth of the shortest watched limit, between
//! 125 ms and 1 s, and only while some step is watched) and asks each step that may be within
//! two ticks of its limit to set its own precise alarm on the manager's alarm clock
//! (`alarms.rs`): only a step that runs to about three quarters of its limit pays for one.
//! A step with a shorter limit, or a per-call one, sets its precise alarm when it begins.
//!
//! # Invariants
//! * A task's mark (`TaskCell::marks.timer`) is 0, or [`WATCHED`] with the 14 low bits of the
//!   epoch read when its step began, or that with [`ASKED`] too. The task writes 0 and
//!   watched marks; the ticker only moves a watched mark to asked, by a compare-and-swap under
//!   the cell's slot lock that also takes the task's registered waker
//!   (`TaskCell::ask_timer`). A task that sees `asked` (on a poll, or when its step ends) takes
//!   that lock once (`TaskCell::settle_ask`) and registers its waker again.
//! * The epoch is the time of the last sweep in units of 2^24 ns (about 16.8 ms), so a step's
//!   age in epochs is at least its age in units less one: an ask comes early, never late
//!   (for a ticker that is not held up): when `(age + 1) units + 2 ticks` reach the limit.
//!   The step's limit is read from its flow (`FlowInfo::step_timeout` of the task's step).
//!   A step older than [`MAX_AGE`] epochs (about 68 s), or any step when sweeps were
//!   further apart than that, is asked whatever its limit, so that the 14 bits never wrap.
//! * `covers` is the shortest limit the ticker's current tick serves (eight ticks); it only
//!   falls. A step whose limit is shorter lowers `shortest` and sets its precise alarm; the
//!   next tick is finer.
//! * `ticking` is true while a ticker runs. A step stores its mark, then reads `ticking`
//!   (both `SeqCst`); a ticker that finds no watched step clears `ticking`, then sweeps once
//!   more (`SeqCst` loads) before it ends: either that sweep sees the mark, or the step sees
//!   `ticking` false and starts a ticker. A ticker dropped with its runtime clears it too.
//!
//! A sweep costs one load per live task of the manager, at most eight times a second, and
//! nothing while no step is watched. A manager with no timed step makes no watch.

use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::Waker;
use std::time::Duration;

use tokio::time::Instant;

use crate::registry::Registry;
use crate::shared::TaskShared;

/// A mark's bit: the task's step is watched.
pub(crate) const WATCHED: u16 = 0x8000;
/// A mark's bit: the ticker asked the step to set its precise alarm.
pub(crate) const ASKED: u16 = 0x4000;
/// A mark's epoch bits.
const EPOCH: u16 = 0x3fff;
/// An epoch is 2^24 ns.
const UNIT_SHIFT: u32 = 24;
/// A step this many epochs old is asked whatever its limit (half the epoch's range).
const MAX_AGE: u16 = 1 << 12;
/// The shortest limit the watch keeps; a shorter one sets its precise alarm at once.
pub(crate) const FLOOR: u64 = 1_000_000_000;
/// The ticks' bounds: an eighth of [`FLOOR`], and one second.
const MIN_TICK: u64 = FLOOR / 8;
const MAX_TICK: u64 = 1_000_000_000;

/// See the module docs.
pub(crate) struct Watch {
    base: Instant,
    /// The epoch of the last sweep (or of the ticker's start).
    epoch: AtomicU16,
    ticking: AtomicBool,
    /// The shortest limit of a step that asked to be watched, in ns.
    shortest: AtomicU64,
    /// The shortest limit the current tick serves, in ns.
    covers: AtomicU64,
}

impl Watch {
    pub(crate) fn new() -> Self {
        Watch {
            base: Instant::now(),
            epoch: AtomicU16::new(0),
            ticking: AtomicBool::new(false),
            shortest: AtomicU64::new(u64::MAX),
            covers: AtomicU64::new(u64::MAX),
        }
    }

    /// Marks `task`'s step, whose limit is `limit` ns, as watched; `false`: the watch does not
    /// keep it (the limit is shorter than its tick serves), and the step needs a precise alarm.
    #[inline(always)]
    pub(crate) fn watch(&self, registry: &Arc<Registry>, task: &TaskShared, limit: u64) -> bool {
        if limit < self.covers.load(Ordering::Relaxed) {
            return self.watch_shorter(registry, task, limit);
        }
        self.mark(registry, task);
        true
    }

    #[inline(always)]
    fn mark(&self, registry: &Arc<Registry>, task: &TaskShared) {
        let mark = WATCHED | (self.epoch.load(Ordering::Relaxed) & EPOCH);
        task.cell().marks.timer.store(mark, Ordering::SeqCst);
        if !self.ticking.load(Ordering::SeqCst) {
            self.start(registry, task, mark);
        }
    }

    /// [`watch`](Self::watch) for a limit shorter than the current tick serves (the first
    /// watched step of the manager included).
    #[cold]
    #[inline(never)]
    fn watch_shorter(&self, registry: &Arc<Registry>, task: &TaskShared, limit: u64) -> bool {
        if limit < FLOOR {
            return false;
        }
        self.shortest.fetch_min(limit, Ordering::AcqRel);
        if !self.ticking.load(Ordering::SeqCst) {
            // No ticker sleeps on a coarser tick: the one this step starts plans from
            // `shortest`, this limit included.
            self.plan();
        }
        if limit < self.covers.load(Ordering::Acquire) {
            return false;
        }
        self.mark(registry, task);
        true
    }

    /// The next tick, in ns, from `shortest`; lowers `covers` to what it serves.
    fn plan(&self) -> u64 {
        let shortest = self.shortest.load(Ordering::Acquire);
        let tick = (shortest / 8).clamp(MIN_TICK, MAX_TICK);
        self.covers.fetch_min(tick * 8, Ordering::AcqRel);
        tick
    }

    /// The epoch now.
    fn epoch_now(&self) -> u16 {
        let since = Instant::now().saturating_duration_since(self.base);
        let units = since.as_nanos() >> UNIT_SHIFT;
        (units as u16) & EPOCH
    }

    /// No ticker runs (or one is ending): start one on the current runtime, unless another
    /// step did first. `mark` is `task`'s, written with an epoch that may be old: it is
    /// written again with the current one.
    #[cold]
    #[inline(never)]
    fn start(&self, registry: &Arc<Registry>, task: &TaskShared, mark: u16) {
        if self
            .ticking
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return;
        }
        let epoch = self.epoch_now();
        self.epoch.store(epoch, Ordering::Relaxed);
        // A compare-and-swap: a ticker that is ending may have asked already.
        let _ = task.cell().marks.timer.compare_exchange(
            mark,
            WATCHED | epoch,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
        tokio::spawn(tick(Ticker {
            registry: Arc::downgrade(registry),
            running: true,
        }));
    }

    /// One sweep: asks each watched step that may be near its limit to set its precise alarm
    /// (every watched step if `ask_all`). Returns how many steps stay watched.
    fn sweep(&self, registry: &Registry, tick: u64, ask_all: bool) -> usize {
        let now = self.epoch_now();
        self.epoch.store(now, Ordering::Relaxed);
        let mut watched = 0;
        let mut woken: Vec<Waker> = Vec::new();
        registry.for_each(|_, task| {
            let mark = task.cell().marks.timer.load(Ordering::SeqCst);
            if mark & (WATCHED | ASKED) != WATCHED {
                return;
            }
            let age = now.wrapping_sub(mark) & EPOCH;
            let limit = task
                .step()
                .and_then(|index| task.flow().step_timeout(index))
                .map_or(0, nanos);
            let near = (u64::from(age) + 1)
                .saturating_mul(1 << UNIT_SHIFT)
                .saturating_add(2 * tick)
                >= limit;
            if ask_all || age >= MAX_AGE || near {
                if let Some(waker) = task.cell().ask_timer(mark, mark | ASKED) {
                    woken.extend(waker);
                    return;
                }
            }
            // Still watched (or, if the ask found the mark moved, watched again).
            watched += 1;
        });
        woken.into_iter().for_each(Waker::wake);
        watched
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// The ticker's hold on the registry: weak, so that it ends with the manager; dropped while
/// it still counts as the running ticker (its runtime shut down), it clears `ticking`, so that
/// the next watched step starts another.
struct Ticker {
    registry: Weak<Registry>,
    running: bool,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        if self.running {
            if let Some(registry) = self.registry.upgrade() {
                registry.watch().ticking.store(false, Ordering::SeqCst);
            }
        }
    }
}

/// The ticker: sleeps a tick, sweeps, and ends once no step is watched (see the invariants).
async fn tick(mut ticker: Ticker) {
    let mut last = Instant::now();
    loop {
        let tick = match ticker.registry.upgrade() {
            Some(registry) => registry.watch().plan(),
            None => return,
        };
        tokio::time::sleep(Duration::from_nanos(tick)).await;
        let Some(registry) = ticker.registry.upgrade() else {
            return;
        };
        let watch = registry.watch();
        let now = Instant::now();
        // Sweeps further apart than half the epoch's range: ages may have wrapped.
        let ask_all =
            now.saturating_duration_since(last).as_nanos() >= u128::from(MAX_AGE) << UNIT_SHIFT;
        last = now;
        if watch.sweep(&registry, tick, ask_all) > 0 {
            continue;
        }
        watch.ticking.store(false, Ordering::SeqCst);
        if watch.sweep(&registry, tick, false) == 0
            || watch
                .ticking
                .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
        {
            ticker.running = false;
            return;
        }
    }
}
