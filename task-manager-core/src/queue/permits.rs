//! A counting semaphore with a bounded, priority-ordered waiting line: the one primitive
//! under both the task-level limits and the step resources.
//!
//! tokio's `Semaphore` is fair but has no priorities and no capacity, and it wakes a waiter
//! through its own future; here a waiter is a task that already has a waker slot and a cancel
//! flag (its `TaskShared`), so the line stores only a pointer to it and wakes it through it.
//!
//! # State (all of it under `state`'s lock)
//! * `free`: permits nobody holds.
//! * `waiting`: who waits, in a [`Line`]: higher priority first, then arrival order
//!   (`seq` grows by one on every entry, so equal priorities are served first come, first
//!   served).
//! * each waiter's `waiting` flag ([`Waiter::waiting_flag`]): `true` from its entry into the
//!   line until it is handed a permit or its ticket leaves.
//!
//! # Invariants
//! 1. **No permit is created or lost.** `free` + the live [`Permit`]s + the tickets that were
//!    handed a permit and have not yet claimed it == `permits`. A permit moves from `free` to
//!    a holder, from a holder straight to the next waiter (`hand_off`), or back to `free`.
//! 2. **Nobody jumps the line.** `free > 0` implies `waiting` is empty: a released permit goes
//!    to the first live waiter before it can go back to `free`, and a newcomer only takes a
//!    free permit. Hence start order is line order, not "whoever is polled first".
//! 3. **A clear flag means a permit.** A ticket whose waiter's flag is clear (and who is no
//!    longer in `waiting`) owns one permit, handed over by `hand_off`, and must claim it or
//!    pass it on. An abandoned waiter (its task was cancelled) may be dropped from `waiting` by
//!    anyone (`hand_off`, `sweep`) *without* clearing its flag: its ticket then finds its
//!    flag still set and owns nothing.
//! 4. **Bounded.** `waiting.len() <= capacity`. Abandoned entries count until they are dropped;
//!    `enter` drops them before refusing anyone, if a waiter was abandoned since its last look
//!    (its manager's [`Abandonments`] count moved), so that a cancelled task's place is free
//!    at once.
//!
//! Lock order: nothing else is locked while `state` is held; wakers are called after it is
//! released.

use std::cmp::Reverse;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::line::{Key, Line};
use crate::cluster::ClusterPermit;

/// How many waiters of one manager's lines gave up (their tasks were cancelled while they
/// waited), counted by the cancellers. A line that is full looks for abandoned entries only
/// when this moved since its last look: a flood of refused submissions to a full line costs
/// one comparison each, not a scan. One count per manager, shared by its lines: a cancel in
/// one manager never makes another manager's lines look.
#[derive(Debug, Clone, Default)]
pub(crate) struct Abandonments(Arc<AtomicU64>);

impl Abandonments {
    /// Some waiter of these lines gave up.
    pub(crate) fn note(&self) {
        self.0.fetch_add(1, Ordering::Release);
    }

    fn count(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// What the line needs from a waiter. The runtime's waiter is a task (`TaskShared`); the unit
/// tests use a small fake.
pub(crate) trait Waiter {
    /// Whether the waiter gave up for good (its task was cancelled): it is skipped when a
    /// permit frees and does not count in positions.
    fn is_abandoned(&self) -> bool;
    /// The flag of invariant 3. Written only by the line, under its lock.
    fn waiting_flag(&self) -> &AtomicBool;
    /// Wakes the waiter after it was handed a permit.
    fn wake(&self);
}

/// The line was full: the newcomer is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full {
    pub(crate) capacity: usize,
}

pub(crate) struct PermitQueue<W: Waiter> {
    permits: usize,
    capacity: usize,
    abandonments: Abandonments,
    state: Mutex<State<W>>,
    /// A cluster's permit this one-permit line stands for (see [`Permit::carrying`]): given
    /// back to the cluster when the line goes, with the last [`Permit`] of it.
    _carried: Option<ClusterPermit>,
}

struct State<W> {
    free: usize,
    waiting: Line<W>,
    next_seq: u64,
    /// The [`Abandonments`] count at the last sweep.
    swept_at: u64,
}

/// What [`PermitQueue::enter`] gives: a permit at once, or a place in the line.
pub(crate) enum Entry<W: Waiter> {
    Admitted(Permit<W>),
    Queued(Ticket<W>),
}

impl<W: Waiter> Entry<W> {
    /// Whether the newcomer has to wait (for the add-ons' `Queued` event).
    pub(crate) fn is_queued(&self) -> bool {
        matches!(self, Entry::Queued(_))
    }
}

impl<W: Waiter> PermitQueue<W> {
    /// A semaphore of `permits` permits whose line holds at most `capacity` waiters. Both are
    /// at least 1 (the configuration is checked before this is called).
    pub(crate) fn new(permits: usize, capacity: usize, abandonments: &Abandonments) -> Self {
        PermitQueue {
            permits,
            capacity,
            abandonments: abandonments.clone(),
            state: Mutex::new(State {
                free: permits,
                waiting: Line::default(),
                next_seq: 0,
                swept_at: abandonments.count(),
            }),
            _carried: None,
        }
    }

    /// Takes a free permit, or a place in the line behind everyone of equal or higher
    /// priority, or is refused if the line is full.
    pub(crate) fn enter(
        self: &Arc<Self>,
        waiter: &Arc<W>,
        priority: i32,
    ) -> Result<Entry<W>, Full> {
        let mut state = self.lock();
        if state.free > 0 {
            // Invariant 2: nobody is waiting.
            state.free -= 1;
            return Ok(Entry::Admitted(Permit {
                queue: Arc::clone(self),
            }));
        }
        if state.waiting.len() >= self.capacity {
            state.sweep(&self.abandonments);
            if state.waiting.len() >= self.capacity {
                return Err(Full {
                    capacity: self.capacity,
                });
            }
        }
        let key = Key {
            rank: Reverse(priority),
            seq: state.next_seq,
        };
        state.next_seq += 1;
        waiter.waiting_flag().store(true, Ordering::Release);
        state.waiting.push(key, Arc::clone(waiter));
        drop(state);
        if waiter.is_abandoned() {
            // Cancelled before it got here: its canceller did not know to tell the lines.
            self.abandonments.note();
        }
        Ok(Entry::Queued(Ticket {
            queue: Some(Arc::clone(self)),
            waiter: Arc::clone(waiter),
            key,
        }))
    }

    /// How many live waiters are ahead of `waiter` (0: it is next); `None` if it is not in
    /// the line.
    pub(crate) fn position_of(&self, waiter: &W) -> Option<usize> {
        let state = self.lock();
        let mut ahead = 0;
        for queued in state.waiting.iter() {
            if std::ptr::eq(Arc::as_ptr(queued), waiter) {
                return Some(ahead);
            }
            if !queued.is_abandoned() {
                ahead += 1;
            }
        }
        None
    }

    /// Entries in the line, abandoned ones not yet dropped included.
    pub(crate) fn waiting_len(&self) -> usize {
        self.lock().waiting.len()
    }

    /// How many permits the line has in all.
    pub(crate) fn permits(&self) -> usize {
        self.permits
    }

    /// Permits held (handed-over, unclaimed ones included).
    pub(crate) fn in_use(&self) -> usize {
        self.permits - self.lock().free
    }

    /// Gives one permit back: to the first live waiter if there is one (invariant 2), else
    /// to `free`.
    fn hand_off(&self) {
        let next = {
            let mut state = self.lock();
            loop {
                match state.waiting.pop_first() {
                    None => {
                        state.free += 1;
                        break None;
                    }
                    // Invariant 3: dropped without clearing its flag; it owns nothing.
                    Some(abandoned) if abandoned.is_abandoned() => {}
                    Some(next) => {
                        next.waiting_flag().store(false, Ordering::Release);
                        break Some(next);
                    }
                }
            }
        };
        if let Some(next) = next {
            next.wake();
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<W>> {
        // No user code runs under this lock and no update is left half-done by a panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<W: Waiter> State<W> {
    /// Drops abandoned entries, if any waiter of the manager's lines was abandoned since the
    /// last sweep.
    fn sweep(&mut self, abandonments: &Abandonments) {
        let epoch = abandonments.count();
        if epoch != self.swept_at {
            self.swept_at = epoch;
            self.waiting.retain(|waiter| !waiter.is_abandoned());
        }
    }
}

impl<W: Waiter> fmt::Debug for PermitQueue<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PermitQueue")
            .field("permits", &self.permits)
            .field("capacity", &self.capacity)
            .field("in_use", &self.in_use())
            .field("waiting", &self.waiting_len())
            .finish()
    }
}

/// One permit, held until dropped; dropping it hands it to the next waiter.
pub(crate) struct Permit<W: Waiter> {
    queue: Arc<PermitQueue<W>>,
}

impl<W: Waiter> Permit<W> {
    /// A permit that stands for `permit`, a permit of the manager's cluster: the only permit
    /// of a line of its own, out from the start. Dropping it drops that line, and with it the
    /// cluster's permit, which gives it back to the cluster. A step's stop and a retrying
    /// step's attempts then hold either kind in one pointer.
    pub(crate) fn carrying(permit: ClusterPermit) -> Self {
        let abandonments = Abandonments::default();
        let mut line = PermitQueue::new(1, 1, &abandonments);
        line.state
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .free = 0;
        line._carried = Some(permit);
        Permit {
            queue: Arc::new(line),
        }
    }
}

impl<W: Waiter> Drop for Permit<W> {
    fn drop(&mut self) {
        self.queue.hand_off();
    }
}

/// A place in the line. Poll [`is_granted`](Self::is_granted) after each wake; once it says
/// yes, [`claim`](Self::claim) the permit. Dropping the ticket leaves the line, or passes on
/// the permit it was handed and never claimed.
pub(crate) struct Ticket<W: Waiter> {
    /// `None` once claimed.
    queue: Option<Arc<PermitQueue<W>>>,
    waiter: Arc<W>,
    key: Key,
}

impl<W: Waiter> Ticket<W> {
    /// Who waits with this ticket.
    pub(crate) fn waiter(&self) -> &W {
        &self.waiter
    }

    /// Whether a permit was handed to this ticket (invariant 3).
    pub(crate) fn is_granted(&self) -> bool {
        !self.waiter.waiting_flag().load(Ordering::Acquire)
    }

    /// The permit handed to this ticket. Call only after `is_granted` returned `true`.
    pub(crate) fn claim(mut self) -> Option<Permit<W>> {
        if !self.is_granted() {
            return None;
        }
        self.queue.take().map(|queue| Permit { queue })
    }
}

impl<W: Waiter> Drop for Ticket<W> {
    fn drop(&mut self) {
        let Some(queue) = self.queue.take() else {
            return;
        };
        let mut state = queue.lock();
        if self.waiter.waiting_flag().load(Ordering::Acquire) {
            // Still in the line, or dropped from it as abandoned: leave; no permit is ours.
            state.waiting.remove(self.key);
            self.waiter.waiting_flag().store(false, Ordering::Release);
        } else {
            // Handed a permit we will not use: pass it on.
            drop(state);
            queue.hand_off();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A waiter that counts its wakes and can give up.
    #[derive(Default)]
    struct Fake {
        abandoned: AtomicBool,
        waiting: AtomicBool,
        wakes: AtomicUsize,
    }

    impl Fake {
        /// Gives up, and tells the lines as a canceller does.
        fn abandon(&self, lines: &Abandonments) {
            self.abandoned.store(true, Ordering::Release);
            lines.note();
        }
        fn wakes(&self) -> usize {
            self.wakes.load(Ordering::Acquire)
        }
    }

    impl Waiter for Fake {
        fn is_abandoned(&self) -> bool {
            self.abandoned.load(Ordering::Acquire)
        }
        fn waiting_flag(&self) -> &AtomicBool {
            &self.waiting
        }
        fn wake(&self) {
            self.wakes.fetch_add(1, Ordering::AcqRel);
        }
    }

    fn queue(permits: usize, capacity: usize) -> Arc<PermitQueue<Fake>> {
        Arc::new(PermitQueue::new(
            permits,
            capacity,
            &Abandonments::default(),
        ))
    }

    fn admitted(entry: Result<Entry<Fake>, Full>) -> Permit<Fake> {
        match entry {
            Ok(Entry::Admitted(permit)) => permit,
            Ok(Entry::Queued(_)) => panic!("expected a free permit, got a place in the line"),
            Err(full) => panic!("expected a free permit, got refused: {full:?}"),
        }
    }

    fn queued(entry: Result<Entry<Fake>, Full>) -> Ticket<Fake> {
        match entry {
            Ok(Entry::Queued(ticket)) => ticket,
            Ok(Entry::Admitted(_)) => panic!("expected a place in the line, got a permit"),
            Err(full) => panic!("expected a place in the line, got refused: {full:?}"),
        }
    }

    #[test]
    fn free_permits_are_taken_until_none_is_left() {
        let q = queue(2, 10);
        let w = Arc::new(Fake::default());
        let a = admitted(q.enter(&w, 0));
        let _b = admitted(q.enter(&w, 0));
        assert_eq!(q.in_use(), 2);
        let _t = queued(q.enter(&w, 0));
        drop(a);
        assert_eq!(
            q.in_use(),
            2,
            "the freed permit went to the waiter, not back to free"
        );
        assert_eq!(q.waiting_len(), 0);
    }

    #[test]
    fn equal_priorities_are_served_in_arrival_order() {
        let q = queue(1, 10);
        let holder = admitted(q.enter(&Arc::new(Fake::default()), 0));
        let waiters: Vec<Arc<Fake>> = (0..5).map(|_| Arc::new(Fake::default())).collect();
        let mut tickets: Vec<Option<Ticket<Fake>>> = waiters
            .iter()
            .map(|w| Some(queued(q.enter(w, 0))))
            .collect();
        let mut order = Vec::new();
        let mut permit = Some(holder);
        for _ in 0..waiters.len() {
            drop(permit.take());
            let granted: Vec<usize> = (0..waiters.len())
                .filter(|&i| tickets[i].as_ref().is_some_and(Ticket::is_granted))
                .collect();
            assert_eq!(granted.len(), 1, "exactly one waiter is handed the permit");
            let index = granted[0];
            assert_eq!(waiters[index].wakes(), 1, "and it is woken once");
            order.push(index);
            permit = tickets[index].take().and_then(Ticket::claim);
        }
        assert_eq!(order, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn higher_priority_goes_first_then_arrival_order() {
        let q = queue(1, 10);
        let holder = admitted(q.enter(&Arc::new(Fake::default()), 0));
        let priorities = [0, 5, 0, 5, -1, 9];
        let waiters: Vec<Arc<Fake>> = priorities
            .iter()
            .map(|_| Arc::new(Fake::default()))
            .collect();
        let mut tickets: Vec<Option<Ticket<Fake>>> = waiters
            .iter()
            .zip(priorities)
            .map(|(w, p)| Some(queued(q.enter(w, p))))
            .collect();
        let mut order = Vec::new();
        let mut permit = Some(holder);
        for _ in 0..waiters.len() {
            drop(permit.take());
            let index = (0..waiters.len())
                .find(|&i| tickets[i].as_ref().is_some_and(Ticket::is_granted))
                .expect("someone was handed the permit");
            order.push(index);
            permit = tickets[index].take().and_then(Ticket::claim);
        }
        assert_eq!(order, vec![5, 1, 3, 0, 2, 4]);
    }

    #[test]
    fn a_full_line_refuses_and_keeps_everyone() {
        let q = queue(1, 2);
        let _holder = admitted(q.enter(&Arc::new(Fake::default()), 0));
        let _a = queued(q.enter(&Arc::new(Fake::default()), 0));
        let _b = queued(q.enter(&Arc::new(Fake::default()), 0));
        assert_eq!(
            q.enter(&Arc::new(Fake::default()), 0).err(),
            Some(Full { capacity: 2 })
        );
        assert_eq!(q.waiting_len(), 2);
    }

    #[test]
    fn an_abandoned_waiter_frees_its_place_at_once_and_is_skipped() {
        let q = queue(1, 2);
        let holder = admitted(q.enter(&Arc::new(Fake::default()), 0));
        let quitter = Arc::new(Fake::default());
        let _quitter_ticket = queued(q.enter(&quitter, 0));
        let stayer = Arc::new(Fake::default());
        let stayer_ticket = queued(q.enter(&stayer, 0));
        assert_eq!(q.position_of(&stayer), Some(1));
        quitter.abandon(&q.abandonments);
        assert_eq!(
            q.position_of(&stayer),
            Some(0),
            "the others move up at once"
        );
        // The line is full, but one entry is abandoned: the newcomer gets its place.
        let late = Arc::new(Fake::default());
        let _late_ticket = queued(q.enter(&late, 0));
        drop(holder);
        assert_eq!(
            quitter.wakes(),
            0,
            "an abandoned waiter is never handed a permit"
        );
        assert!(stayer_ticket.is_granted());
        assert_eq!(q.position_of(&late), Some(0));
    }

    #[test]
    fn a_dropped_ticket_leaves_the_line_and_a_granted_one_passes_the_permit_on() {
        let q = queue(1, 10);
        let holder = admitted(q.enter(&Arc::new(Fake::default()), 0));
        let first = Arc::new(Fake::default());
        let first_ticket = queued(q.enter(&first, 0));
        let second = Arc::new(Fake::default());
        let second_ticket = queued(q.enter(&second, 0));
        let third = Arc::new(Fake::default());
        let third_ticket = queued(q.enter(&third, 0));
        drop(second_ticket);
        assert_eq!(q.waiting_len(), 2);
        drop(holder);
        assert!(first_ticket.is_granted());
        // Handed the permit but gone before claiming it: the permit must not be lost.
        drop(first_ticket);
        assert!(third_ticket.is_granted());
        assert_eq!(third.wakes(), 1);
        let permit = third_ticket.claim();
        assert!(permit.is_some());
        assert_eq!(q.in_use(), 1);
        drop(permit);
        assert_eq!(q.in_use(), 0);
        assert_eq!(q.waiting_len(), 0);
    }

    #[test]
    fn a_ticket_of_a_waiter_swept_away_owns_nothing() {
        let q = queue(1, 1);
        let holder = admitted(q.enter(&Arc::new(Fake::default()), 0));
        let quitter = Arc::new(Fake::default());
        let quitter_ticket = queued(q.enter(&quitter, 0));
        quitter.abandon(&q.abandonments);
        let late = Arc::new(Fake::default());
        let late_ticket = queued(q.enter(&late, 0)); // sweeps the quitter away
        assert!(!quitter_ticket.is_granted());
        drop(quitter_ticket);
        assert_eq!(q.in_use(), 1, "dropping a swept ticket gives back nothing");
        drop(holder);
        assert!(late_ticket.is_granted());
        drop(late_ticket);
        assert_eq!(q.in_use(), 0);
    }

    #[test]
    fn permits_are_conserved_under_a_random_mix_of_operations() {
        // A fixed-seed walk through enter / abandon / drop / release, checking invariant 1
        // (no permit created or lost) and invariant 2 (nobody jumps the line) after each step.
        let mut rng = 0x2545_F491_4F6C_DD1D_u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let permits = 3;
        let q = queue(permits, 8);
        let mut held: Vec<Permit<Fake>> = Vec::new();
        let mut line: Vec<(Arc<Fake>, Ticket<Fake>)> = Vec::new();
        for _ in 0..20_000 {
            match next() % 5 {
                0 | 1 => {
                    let waiter = Arc::new(Fake::default());
                    match q.enter(&waiter, (next() % 3) as i32) {
                        Ok(Entry::Admitted(permit)) => held.push(permit),
                        Ok(Entry::Queued(ticket)) => line.push((waiter, ticket)),
                        Err(_) => assert!(q.waiting_len() >= 8),
                    }
                }
                2 if !held.is_empty() => {
                    let index = (next() as usize) % held.len();
                    drop(held.swap_remove(index));
                }
                3 if !line.is_empty() => {
                    let index = (next() as usize) % line.len();
                    let (waiter, ticket) = line.swap_remove(index);
                    if next() % 2 == 0 {
                        waiter.abandon(&q.abandonments);
                    }
                    drop(ticket);
                }
                _ => {}
            }
            // Claim what was handed over.
            let mut still = Vec::new();
            for (waiter, ticket) in line.drain(..) {
                if ticket.is_granted() {
                    held.extend(ticket.claim());
                } else {
                    still.push((waiter, ticket));
                }
            }
            line = still;
            assert_eq!(
                q.in_use(),
                held.len(),
                "every permit in use is held by someone"
            );
            assert!(held.len() <= permits);
            if held.len() < permits {
                assert!(line.is_empty(), "a permit is free while someone waits");
            }
        }
    }
}
