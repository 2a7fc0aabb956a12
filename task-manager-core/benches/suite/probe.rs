//! What parked tasks report back to the cancellation and memory scenarios.
//!
//! A parked task calls [`Probe::parked`] when it reaches its await point, and its cleanup calls
//! [`Probe::cleanup_started`] as its very first line, then [`Probe::cleanup_finished`] as its
//! last. Every contender's cleanup does exactly this, so latencies are comparable.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

pub struct Probe {
    epoch: Instant,
    /// Nanoseconds since `epoch` plus one when slot `i`'s cleanup began; 0 means not yet.
    started: Box<[AtomicU64]>,
    parked: AtomicUsize,
    finished: AtomicUsize,
    /// Signalled by the cleanup that brings `finished` to `started.len()`; a stored permit
    /// makes a late waiter return at once.
    all_finished: Notify,
}

impl Probe {
    pub fn new(slots: usize) -> Arc<Self> {
        Arc::new(Probe {
            epoch: Instant::now(),
            started: (0..slots).map(|_| AtomicU64::new(0)).collect(),
            parked: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            all_finished: Notify::new(),
        })
    }

    pub fn slots(&self) -> usize {
        self.started.len()
    }

    /// The probe's clock, shared by cancellers and cleanups.
    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    pub fn parked(&self) {
        self.parked.fetch_add(1, Ordering::Release);
    }

    pub fn parked_count(&self) -> usize {
        self.parked.load(Ordering::Acquire)
    }

    pub fn cleanup_started(&self, slot: usize) {
        let stamp = self.now_ns() + 1;
        self.started[slot].store(stamp, Ordering::Release);
    }

    pub fn cleanup_finished(&self) {
        if self.finished.fetch_add(1, Ordering::AcqRel) + 1 == self.slots() {
            self.all_finished.notify_one();
        }
    }

    /// When slot's cleanup began, on the probe's clock.
    pub fn started_at(&self, slot: usize) -> Option<u64> {
        match self.started[slot].load(Ordering::Acquire) {
            0 => None,
            stamp => Some(stamp - 1),
        }
    }

    pub async fn all_parked(&self) {
        while self.parked_count() < self.slots() {
            tokio::task::yield_now().await;
        }
    }

    pub async fn all_finished(&self) {
        if self.finished.load(Ordering::Acquire) < self.slots() {
            self.all_finished.notified().await;
        }
    }

    /// Spins (off the runtime) until slot's cleanup began; panics if it never does, since a
    /// lost cancellation would otherwise hang the suite.
    pub fn spin_until_started(&self, slot: usize) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(stamp) = self.started_at(slot) {
                return stamp;
            }
            assert!(
                Instant::now() < deadline,
                "cleanup of slot {slot} never started"
            );
            std::hint::spin_loop();
        }
    }
}
