//! The manager's alarm clock: when the time limits of its tasks' steps
//! (`#[step(timeout = "..")]`) run out. One tokio timer for the whole manager, set for its
//! earliest alarm, instead of one per task: a timed step sets an alarm (one uncontended
//! lock, a slab slot and a heap push) when the manager's step-time watch asks it to, near its
//! limit (`watch.rs`), or when it begins if the watch does not keep its limit (under a
//! second, or per call), and takes it back when no step needs it any more. A tokio timer
//! per task cost about 470 instructions (create, register at the first `Pending`, move,
//! deregister); an alarm here, about a third of that, and a watched step none.
//!
//! # How a task learns that its time is up
//! The clock rings from a tokio task of its own ([`ring`]), spawned on the runtime of the
//! first task that sets an alarm. When it rings it records the time it rang at in
//! `rung_up_to`, takes every alarm due by then out of the book, and wakes their tasks. A
//! timed step compares its deadline with `rung_up_to` on each poll (one load, see
//! `run/step_timer.rs`): a deadline at or before it has passed.
//!
//! # Invariants
//! * Times are nanoseconds since `base` plus [`BASE`] (so that an earlier instant has one
//!   too), on tokio's clock (so the paused test clock moves
//!   the alarms as it moves tokio's own timers: the clock's one timer is a tokio timer).
//! * `rung_up_to` only grows, and is at most the clock's `Instant::now()` when it was
//!   stored: nothing is ever seen as past its deadline early. It is stored under the book's
//!   lock, after the due alarms are taken out and before their tasks are woken.
//! * An alarm is one slot of the slab (its task's waker and a generation) and one entry of
//!   the heap (its time, the slot and that generation). Taking an alarm back frees its slot
//!   at once (so the waker, and with it the task's memory, is not kept) and leaves its heap
//!   entry stale: a heap entry is live iff its slot is set with its generation. Stale
//!   entries are dropped when they reach the top, and the heap is compacted when they
//!   outnumber the live ones three to one, so the book is at most about four times the
//!   size of what is set.
//! * `bell.next` is at most the time of the earliest live alarm; an alarm set earlier than
//!   it wakes the clock, which sets its timer again.
//!
//! A manager used from two runtimes at once keeps its alarms on the runtime whose task set
//! the first one; if that runtime shuts down, the next alarm set starts the clock again on
//! its own runtime.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Poll, Waker};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// See the module docs.
pub(crate) struct Alarms {
    base: Instant,
    rung_up_to: AtomicU64,
    book: Mutex<Book>,
}

/// An alarm set with [`Alarms::set`]: what [`Alarms::unset`] needs to take it back. Its
/// slot is kept plus one, so that an `Option<Alarm>` (in every timed task) is eight bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Alarm {
    key_plus_one: std::num::NonZeroU32,
    generation: u32,
}

impl Alarm {
    fn key(self) -> u32 {
        self.key_plus_one.get() - 1
    }
}

#[derive(Default)]
struct Book {
    slots: Vec<Slot>,
    /// The first free slot (`NONE`: none), the others chained through `Slot::next_free`.
    free: u32,
    /// (time, slot, generation), earliest first.
    due: BinaryHeap<Reverse<(u64, u32, u32)>>,
    /// How many alarms are set (the heap's other entries are stale).
    set: usize,
    bell: Bell,
}

struct Slot {
    generation: u32,
    next_free: u32,
    /// The task to wake; `None` while the slot is free.
    waker: Option<Waker>,
}

/// The clock's own state, as the tasks that set alarms see it.
struct Bell {
    /// A clock task runs (it clears this when it is dropped, with its runtime).
    running: bool,
    /// The clock task's waker, while it waits.
    waker: Option<Waker>,
    /// When the clock's timer is set for (`u64::MAX`: not set).
    next: u64,
}

impl Default for Bell {
    fn default() -> Self {
        Bell {
            running: false,
            waker: None,
            next: u64::MAX,
        }
    }
}

const NONE: u32 = u32::MAX;

/// What setting an alarm asks of the clock.
enum Nudge {
    None,
    /// Start it: no clock task runs.
    Start,
    /// Wake it: the new alarm is due before its timer.
    Wake(Waker),
}

impl Alarms {
    pub(crate) fn new() -> Self {
        Alarms {
            base: Instant::now(),
            rung_up_to: AtomicU64::new(0),
            book: Mutex::new(Book {
                free: NONE,
                ..Book::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Book> {
        // Nothing under this lock panics midway; a poisoned book is still consistent.
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `at` in this clock's time: nanoseconds since `base`, counted from [`BASE`] so that
    /// an instant before the clock was made (a task submitted before the manager's first
    /// timed step) has a time too. Saturates 146 years either way.
    pub(crate) fn offset(&self, at: Instant) -> u64 {
        match at.checked_duration_since(self.base) {
            Some(after) => BASE.saturating_add(nanos(after)),
            None => BASE.saturating_sub(nanos(self.base.duration_since(at))),
        }
    }

    /// The time the clock last rang at: every deadline at or before it has passed.
    #[inline(always)]
    pub(crate) fn rung_up_to(&self) -> u64 {
        self.rung_up_to.load(Ordering::Acquire)
    }

    /// Sets an alarm for `at` that wakes `waker`; starts the clock on the current runtime if
    /// none runs.
    pub(crate) fn set(self: &Arc<Self>, at: u64, waker: &Waker) -> Alarm {
        let mut book = self.lock();
        let key = match book.free {
            NONE => {
                let key = u32::try_from(book.slots.len())
                    .ok()
                    .filter(|&key| key < NONE - 1)
                    .expect("fewer than 2^32 - 1 alarms");
                book.slots.push(Slot {
                    generation: 0,
                    next_free: NONE,
                    waker: Some(waker.clone()),
                });
                key
            }
            key => {
                let slot = &mut book.slots[key as usize];
                let next = slot.next_free;
                slot.waker = Some(waker.clone());
                book.free = next;
                key
            }
        };
        let generation = book.slots[key as usize].generation;
        book.due.push(Reverse((at, key, generation)));
        book.set += 1;
        let nudge = if !book.bell.running {
            book.bell.running = true;
            book.bell.next = at;
            Nudge::Start
        } else if at < book.bell.next {
            book.bell.next = at;
            book.bell.waker.take().map_or(Nudge::None, Nudge::Wake)
        } else {
            Nudge::None
        };
        drop(book);
        match nudge {
            Nudge::None => {}
            Nudge::Start => self.start_clock(),
            Nudge::Wake(clock) => clock.wake(),
        }
        Alarm {
            key_plus_one: std::num::NonZeroU32::MIN.saturating_add(key),
            generation,
        }
    }

    /// Spawns the clock task on the current runtime (out of line: once per manager, or
    /// per runtime that dropped it).
    #[cold]
    #[inline(never)]
    fn start_clock(self: &Arc<Self>) {
        tokio::spawn(ring(Clock(Arc::downgrade(self))));
    }

    /// Takes back an alarm that has not rung (one that has is already gone: nothing to do).
    pub(crate) fn unset(&self, alarm: Alarm) {
        let mut book = self.lock();
        let waker = book.free_slot(alarm.key(), alarm.generation);
        if waker.is_some() && book.due.len() > 4 * book.set + 256 {
            book.compact();
        }
        drop(book);
        drop(waker);
    }

    /// The task of a set alarm is now polled under `waker`.
    pub(crate) fn rewake(&self, alarm: Alarm, waker: &Waker) {
        let mut book = self.lock();
        if let Some(slot) = book.slots.get_mut(alarm.key() as usize) {
            if slot.generation == alarm.generation {
                if let Some(set) = slot.waker.as_mut() {
                    set.clone_from(waker);
                }
            }
        }
    }

    /// Rings every alarm due now: takes them out of the book, records the time, wakes their
    /// tasks. Returns when the clock must ring next (`None`: no alarm is set), having kept
    /// `clock` to be woken if an earlier alarm is set meanwhile.
    fn ring_due(&self, clock: &Waker) -> Option<u64> {
        let now = self.offset(Instant::now());
        let mut woken = Vec::new();
        let mut book = self.lock();
        while let Some(&Reverse((at, key, generation))) = book.due.peek() {
            let live = book.is_live(key, generation);
            if live && at > now {
                break;
            }
            book.due.pop();
            if live {
                woken.extend(book.free_slot(key, generation));
            }
        }
        self.rung_up_to.fetch_max(now, Ordering::AcqRel);
        let next = book.due.peek().map(|&Reverse((at, ..))| at);
        book.bell.next = next.unwrap_or(u64::MAX);
        match &mut book.bell.waker {
            Some(known) if known.will_wake(clock) => {}
            other => *other = Some(clock.clone()),
        }
        drop(book);
        woken.into_iter().for_each(Waker::wake);
        next
    }

    /// The clock task is gone (its runtime shut down): the next alarm set starts another.
    fn clock_stopped(&self) {
        let mut book = self.lock();
        book.bell = Bell::default();
    }

    /// The instant `at` (a time of this clock) is; one past the clock's range is a year
    /// from now (the clock rings then, finds nothing due, and waits again).
    fn instant(&self, at: u64) -> Instant {
        let far = || Instant::now() + Duration::from_secs(365 * 24 * 3600);
        match at.checked_sub(BASE) {
            Some(after) => self.base.checked_add(Duration::from_nanos(after)),
            None => self.base.checked_sub(Duration::from_nanos(BASE - at)),
        }
        .unwrap_or_else(far)
    }
}

/// The clock's time of its `base`: times before it are below, down to 0.
const BASE: u64 = 1 << 62;

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl Drop for Alarms {
    fn drop(&mut self) {
        // The clock task waits on a weak reference: wake it to find the manager gone.
        let clock = self.lock().bell.waker.take();
        if let Some(clock) = clock {
            clock.wake();
        }
    }
}

impl Book {
    fn is_live(&self, key: u32, generation: u32) -> bool {
        self.slots
            .get(key as usize)
            .is_some_and(|slot| slot.generation == generation && slot.waker.is_some())
    }

    /// Frees the slot of a set alarm; its heap entry is stale from now on.
    fn free_slot(&mut self, key: u32, generation: u32) -> Option<Waker> {
        let free = self.free;
        let slot = self.slots.get_mut(key as usize)?;
        if slot.generation != generation {
            return None;
        }
        let waker = slot.waker.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        slot.next_free = free;
        self.free = key;
        self.set -= 1;
        Some(waker)
    }

    /// Drops the stale heap entries.
    #[cold]
    fn compact(&mut self) {
        let mut due = std::mem::take(&mut self.due).into_vec();
        due.retain(|&Reverse((_, key, generation))| self.is_live(key, generation));
        self.due = BinaryHeap::from(due);
    }
}

/// The clock's hold on the alarms: weak, so that the clock ends when the manager is gone;
/// when it is dropped (its task ended, or was dropped with its runtime, polled or not), the
/// alarms learn that no clock runs.
struct Clock(Weak<Alarms>);

impl Drop for Clock {
    fn drop(&mut self) {
        if let Some(alarms) = self.0.upgrade() {
            alarms.clock_stopped();
        }
    }
}

/// The clock: a tokio task that sleeps until the earliest alarm, rings it and those due with
/// it, and sleeps again. It ends when the manager is gone. (The clock is an argument, so the
/// future owns it from the start: a runtime that drops the task before its first poll drops
/// the clock too, and the next alarm set starts another.)
async fn ring(clock: Clock) {
    let alarms = &clock.0;
    let mut timer: Option<Pin<Box<Sleep>>> = None;
    let mut set_for = u64::MAX;
    std::future::poll_fn(|cx| loop {
        let Some(live) = alarms.upgrade() else {
            return Poll::Ready(());
        };
        let Some(next) = live.ring_due(cx.waker()) else {
            // No alarm: sleep until one is set (it wakes this task).
            return Poll::Pending;
        };
        let sleep = match timer.as_mut() {
            Some(sleep) => {
                if set_for != next {
                    sleep.as_mut().reset(live.instant(next));
                }
                sleep
            }
            None => timer.insert(Box::pin(tokio::time::sleep_until(live.instant(next)))),
        };
        set_for = next;
        drop(live);
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (count.clone(), Waker::from(count))
    }

    /// `n` ms after the clock was made.
    fn ms(n: u64) -> u64 {
        BASE + n * 1_000_000
    }

    #[tokio::test(start_paused = true)]
    async fn an_alarm_rings_at_its_time_and_not_before() {
        let alarms = Arc::new(Alarms::new());
        let (count, waker) = counter();
        alarms.set(ms(10), &waker);
        tokio::time::sleep(Duration::from_millis(9)).await;
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        assert!(alarms.rung_up_to() < ms(10));
        tokio::time::sleep(Duration::from_millis(1)).await;
        tokio::task::yield_now().await;
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(alarms.rung_up_to() >= ms(10));
    }

    #[tokio::test(start_paused = true)]
    async fn an_instant_before_the_clock_was_made_has_its_own_time() {
        let before = Instant::now();
        tokio::time::advance(Duration::from_millis(300)).await;
        let alarms = Alarms::new();
        assert_eq!(alarms.offset(before) + ms(300) - BASE, ms(0));
        assert_eq!(alarms.offset(Instant::now()), ms(0));
        assert_eq!(alarms.instant(alarms.offset(before)), before);
    }

    #[tokio::test(start_paused = true)]
    async fn an_alarm_taken_back_does_not_ring() {
        let alarms = Arc::new(Alarms::new());
        let (count, waker) = counter();
        let alarm = alarms.set(ms(10), &waker);
        alarms.unset(alarm);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        // Taking it back twice, or after its slot is reused, touches nothing else.
        let again = alarms.set(ms(30), &waker);
        alarms.unset(alarm);
        tokio::time::sleep(Duration::from_millis(15)).await;
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        alarms.unset(again);
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_alarm_moves_the_clock() {
        let alarms = Arc::new(Alarms::new());
        let (late, late_waker) = counter();
        let (early, early_waker) = counter();
        alarms.set(ms(100), &late_waker);
        tokio::task::yield_now().await;
        alarms.set(ms(5), &early_waker);
        tokio::time::sleep(Duration::from_millis(5)).await;
        tokio::task::yield_now().await;
        assert_eq!(early.0.load(Ordering::SeqCst), 1);
        assert_eq!(late.0.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_book_stays_about_the_size_of_what_is_set() {
        let alarms = Arc::new(Alarms::new());
        let (_, waker) = counter();
        let kept = alarms.set(ms(1_000), &waker);
        for _ in 0..10_000 {
            let alarm = alarms.set(ms(500), &waker);
            alarms.unset(alarm);
        }
        let book = alarms.lock();
        assert_eq!(book.set, 1);
        assert!(book.due.len() <= 4 + 256, "{} heap entries", book.due.len());
        assert!(book.slots.len() <= 2, "{} slots", book.slots.len());
        drop(book);
        alarms.unset(kept);
    }

    fn paused_runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
    }

    #[test]
    fn a_clock_dropped_with_its_runtime_before_it_ever_ran_is_started_again() {
        let alarms = Arc::new(Alarms::new());
        let (count, waker) = counter();
        // The first alarm spawns the clock; the runtime goes before the clock is polled.
        paused_runtime().block_on(async {
            alarms.set(ms(10), &waker);
        });
        let second = paused_runtime();
        second.block_on(async {
            alarms.set(ms(20), &waker);
            tokio::time::sleep_until(alarms.instant(ms(20))).await;
            tokio::task::yield_now().await;
        });
        assert!(count.0.load(Ordering::SeqCst) >= 1, "no clock rang");
    }

    #[tokio::test(start_paused = true)]
    async fn the_clock_ends_with_the_manager() {
        let alarms = Arc::new(Alarms::new());
        let (_, waker) = counter();
        alarms.set(ms(1_000), &waker);
        let weak = Arc::downgrade(&alarms);
        tokio::task::yield_now().await;
        drop(alarms);
        tokio::task::yield_now().await;
        assert!(weak.upgrade().is_none());
        let metrics = tokio::runtime::Handle::current().metrics();
        assert_eq!(metrics.num_alive_tasks(), 0);
    }
}
