//! What one parked task costs in memory, pinned: the allocations a submission makes, as the
//! heap sees them. Tokio keeps a task's future (and then its outcome) in a cell aligned to
//! 128 bytes, so a future a few bytes too large costs every parked task 128 bytes more
//! (the `memory` bench's RSS per parked task went from 608 to 736 bytes that way).
//!
//! Its own test binary: the counting allocator (`allocation-counter`) becomes the global
//! allocator of whichever binary uses it.

use std::convert::Infallible;
use std::future::pending;
use std::sync::Arc;

use task_manager_core::{flow, CancelReason, HasTaskManager, Passport, Task, TaskManager};

#[derive(HasTaskManager, Default)]
struct Parking {
    tasks: TaskManager,
}

/// The suite's parked task (`benches/suite/contenders/library.rs`): one step that never
/// returns, with a cleanup.
#[flow(name = parked)]
impl Parking {
    #[step(cancel = unpark)]
    async fn park(&self, _task: &mut Task<usize>) -> Result<(), Infallible> {
        pending().await
    }

    async fn unpark(&self, _task: &mut Task<usize>, _reason: CancelReason) {}
}

/// Tokio's cell of the parked task's future (its header, 32 bytes, the scheduler and task
/// id, 16, the future or the outcome with an 8-byte tag, its trailer, 48), rounded up to
/// its 128-byte alignment: the future must stay within 280 bytes (it is 272 in a release
/// build) for the cell to stay at 384.
const CELL: usize = 384;
/// The shared state (`TaskShared`, 88 bytes) behind its `Arc`'s two counts. In the
/// allocator it fits the gap that the cell's alignment leaves after each cell.
const SHARED: usize = 16 + 88;

#[test]
fn a_parked_task_allocates_its_tokio_cell_and_its_shared_state_only() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let _context = runtime.enter();
    let parking = Arc::new(Parking::default());
    // The registry's shards get their first tables.
    for slot in 0..64 {
        parking
            .execute_parked(Passport::new(slot))
            .expect("submitted")
            .detach();
    }
    // The fewest bytes over a few submissions: a shard's table that grows in one of them is
    // the registry's, not the task's.
    let smallest = (64..96)
        .map(|slot| {
            let allocated = allocation_counter::measure(|| {
                parking
                    .execute_parked(Passport::new(slot))
                    .expect("submitted")
                    .detach();
            });
            (allocated.bytes_current, allocated.count_current)
        })
        .min()
        .expect("some submissions");
    assert_eq!(
        smallest,
        ((CELL + SHARED) as i64, 2),
        "a parked task allocates (bytes, allocations) = {smallest:?}: its tokio cell is no \
         longer {CELL} bytes, or its shared state no longer {SHARED}",
    );
}
