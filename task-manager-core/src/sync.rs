//! The synchronisation primitives of the task's cell (`cell/mod.rs`), named in this one place:
//! std's and futures' in every build, loom's instrumented ones when the crate is compiled with
//! `--cfg task_manager_loom` to run the cell's loom model (as tokio switches its own
//! `loom::sync`). A custom cfg rather than `loom`: tokio reacts to `cfg(loom)` itself.

#[cfg(not(task_manager_loom))]
pub(crate) use futures_util::task::AtomicWaker;
#[cfg(not(task_manager_loom))]
pub(crate) use std::sync::atomic::{AtomicU8, Ordering};
#[cfg(not(task_manager_loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

#[cfg(task_manager_loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, Ordering};
#[cfg(task_manager_loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};

pub(crate) use std::sync::PoisonError;

/// futures' `AtomicWaker` API over loom's.
#[cfg(task_manager_loom)]
pub(crate) struct AtomicWaker(loom::future::AtomicWaker);

#[cfg(task_manager_loom)]
impl AtomicWaker {
    pub(crate) fn new() -> Self {
        AtomicWaker(loom::future::AtomicWaker::new())
    }

    pub(crate) fn register(&self, waker: &std::task::Waker) {
        self.0.register_by_ref(waker);
    }

    pub(crate) fn wake(&self) {
        self.0.wake();
    }

    pub(crate) fn take(&self) -> Option<std::task::Waker> {
        self.0.take_waker()
    }
}
