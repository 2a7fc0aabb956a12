//! The registry both cancellable hand-written baselines use: running tasks by id in a
//! `Mutex<HashMap<u64, _>>`, ids from an atomic counter. Shared, so that the token and the
//! tuned baseline differ only in how a task learns it was cancelled.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// What the registry keeps per task: a cheap clone of the task's own cancel handle.
pub trait CancelHandle: Clone + Default {
    fn cancel(&self);
}

/// The running tasks, by id.
pub struct Registry<H> {
    next_id: AtomicU64,
    tasks: Mutex<HashMap<u64, H>>,
}

impl<H> Default for Registry<H> {
    fn default() -> Self {
        Registry {
            next_id: AtomicU64::new(0),
            tasks: Mutex::new(HashMap::new()),
        }
    }
}

impl<H: CancelHandle> Registry<H> {
    /// A new id and a fresh handle; the registry keeps a clone of it.
    pub fn register(&self) -> (u64, H) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let handle = H::default();
        self.lock().insert(id, handle.clone());
        (id, handle)
    }

    pub fn deregister(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Cancels outside the lock: `cancel` wakes the task, which may take the lock at once.
    pub fn cancel(&self, id: u64) {
        let handle = self.lock().remove(&id);
        if let Some(handle) = handle {
            handle.cancel();
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, H>> {
        // A panicking task cannot leave the map half-updated, so a poisoned lock is usable.
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
