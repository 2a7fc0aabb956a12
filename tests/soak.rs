//! The short soak: 20,000 tasks (10% cancelled mid-step, 1% panicking) leave nothing behind.
//!
//! RSS is too coarse to catch a small leak in 20,000 tasks without being flaky, so this test
//! counts the bytes its own thread holds through a counting allocator instead: after a
//! warm-up (which grows the runtime's and the registry's tables to their working size) the
//! same load must not hold more than a few KiB more. Everything runs on this one thread (a
//! current-thread runtime with a paused clock), so other tests cannot disturb the count, and
//! the run is the same every time. A leak of one word per task would show as 160 KB.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::Ordering;

use task_manager_support::panics::silence_planned_panics;
use task_manager_support::soak::{self, Config, Counts, Soak};

/// Counts, per thread, the bytes allocated and not yet freed.
struct CountingAllocator;

thread_local! {
    static HELD: Cell<i64> = const { Cell::new(0) };
}

fn held_by_this_thread() -> i64 {
    HELD.with(Cell::get)
}

fn count(delta: i64) {
    // `try_with`: the thread-local may be gone while the thread shuts down.
    let _ = HELD.try_with(|held| held.set(held.get() + delta));
}

// SAFETY: every call is forwarded unchanged to the system allocator; the bookkeeping only
// touches a const-initialized thread-local `Cell` without a destructor, which never
// allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as i64);
        // SAFETY: the caller's contract for `alloc` is passed on as it is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as i64));
        // SAFETY: `ptr` was allocated by `System` with `layout`, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as i64 - layout.size() as i64);
        // SAFETY: the caller's contract for `realloc` is passed on as it is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const WARM_UP: u64 = 5_000;
const MEASURED: u64 = 20_000;
/// What the measured run may leave held beyond the warm-up's level.
const SLACK_BYTES: i64 = 16 * 1024;

fn config(tasks: u64) -> Config {
    Config {
        tasks,
        in_flight: 256,
        report_every: 1_000,
    }
}

fn check_balanced(counts: &Counts, tasks: u64, cleanups: u64) {
    let cancelled = (0..tasks).filter(|n| n % 10 == 3 && n % 100 != 7).count() as u64;
    let panicked = (0..tasks).filter(|n| n % 100 == 7).count() as u64;
    assert_eq!(
        *counts,
        Counts {
            submitted: tasks,
            completed: tasks - cancelled - panicked,
            cancelled,
            panicked,
            wrong: 0,
        }
    );
    // One cleanup per cancelled task (its second step was in progress) and per panic.
    assert_eq!(cleanups, cancelled + panicked);
}

#[test]
fn a_short_soak_leaves_nothing_behind() {
    silence_planned_panics();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    let soak = Soak::new();
    let cleanups = || soak.cleanups.load(Ordering::Relaxed);
    let (warm, warm_cleanups, measured, held) = runtime.block_on(async {
        let warm = soak::run(&soak, config(WARM_UP), |_| {})
            .await
            .expect("warm-up");
        let warm_cleanups = cleanups();
        let before = held_by_this_thread();
        let measured = soak::run(&soak, config(MEASURED), |_| {})
            .await
            .expect("soak");
        let after = held_by_this_thread();
        (warm, warm_cleanups, measured, after - before)
    });
    check_balanced(&warm, WARM_UP, warm_cleanups);
    check_balanced(&measured, MEASURED, cleanups() - warm_cleanups);
    assert!(
        soak.tasks.is_empty(),
        "{} tasks left registered",
        soak.tasks.len()
    );
    assert!(
        held <= SLACK_BYTES,
        "{MEASURED} tasks left {held} more bytes held than before them (at most {SLACK_BYTES} allowed): a leak of about {:.1} bytes per task",
        held as f64 / MEASURED as f64
    );
}
