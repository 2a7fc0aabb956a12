//! Heap accounting for the memory scenario.
//!
//! The counting allocator (the `allocation-counter` crate; the workspace forbids `unsafe`, so
//! the suite cannot write its own) keeps its counters per thread, without atomics: it adds a
//! few nanoseconds per allocation and no contention between the runtime's workers. The price
//! is that it sees only the calling thread, so the memory scenario spawns every task from the
//! measuring thread, where tokio allocates the task cells.

pub use allocation_counter::AllocationInfo;

/// Runs `region` and returns what it allocated on this thread and did not free.
pub fn on_this_thread<T>(region: impl FnOnce() -> T) -> (T, AllocationInfo) {
    let mut value = None;
    let info = allocation_counter::measure(|| value = Some(region()));
    (value.expect("measured region ran"), info)
}
