//! Heap accounting for the memory binary.
//!
//! The counting allocator (the `allocation-counter` crate; the workspace forbids `unsafe`, so
//! the suite cannot write its own) becomes the global allocator of any binary that uses the
//! crate. That is why it is used here and only here: the `suite` binary, which times the
//! contenders, must allocate through the system allocator untaxed.
//!
//! It keeps its counters per thread, without atomics, so it sees only the calling thread:
//! this binary spawns every task from the measuring thread, where tokio allocates the task
//! cells.

pub use allocation_counter::AllocationInfo;

/// Runs `region` and returns what it allocated on this thread and did not free.
pub fn on_this_thread<T>(region: impl FnOnce() -> T) -> (T, AllocationInfo) {
    let mut value = None;
    let info = allocation_counter::measure(|| value = Some(region()));
    (value.expect("measured region ran"), info)
}
