//! The synchronisation primitives of `shared.rs`, named in this one place so that the loom
//! model (`tests/loom_shared.rs`) can compile that very file against loom's instrumented
//! versions of them, without a special build of the whole crate.

pub(crate) use futures_util::task::AtomicWaker;
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU8, Ordering};
pub(crate) use std::sync::{Mutex, MutexGuard, PoisonError};
