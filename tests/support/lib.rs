//! Helpers shared by the integration tests in `tests/`.
//!
//! Two tools, so that a test knows exactly where a task is instead of guessing with sleeps:
//!
//! * [`Journal`]: an ordered log that steps and cleanups write to ("a began", "cleanup a:
//!   cancelled: user left"), which the test reads back and compares as a whole.
//! * [`Gate`]: a point inside a step where the step announces that it has arrived and then
//!   waits until the test lets it through (or forever, if the test never does).
//!
//! Every wait on them is bounded by [`soon`], so that a broken behaviour fails its test
//! rather than hanging it. (Doctests are off for this crate; the unit test at the bottom
//! runs the scenario below.)
//!
//! The fixtures that several test files share are modules: [`pipeline`] (three gated steps,
//! for where a cancel lands), [`queue`] (the flows of the `queue_*` tests), [`named_jobs`]
//! (tasks named by their payload, for the tests about ids) and [`soak`]. [`EventLog`]
//! journals a task's events; [`panics`] silences planned panics.
//!
//! ```
//! use task_manager_support::{Gate, Journal};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let (journal, gate) = (Journal::new(), Gate::new());
//! let step = tokio::spawn({
//!     let (journal, gate) = (journal.clone(), gate.clone());
//!     async move {
//!         journal.record("a began");
//!         gate.pass().await;          // "I have begun"; then wait for the test
//!         journal.record("a returned");
//!     }
//! });
//! gate.arrived().await;               // the step is now parked inside `pass`
//! assert_eq!(journal.entries(), ["a began"]);
//! gate.open();
//! step.await.unwrap();
//! assert_eq!(journal.entries(), ["a began", "a returned"]);
//! # }
//! ```

pub mod named_jobs;
pub mod panics;
pub mod pipeline;
pub mod postgres;
pub mod queue;
mod quiet_cluster;
pub mod soak;
pub mod tree;

use std::fmt::Display;
use std::future::IntoFuture;
use std::pin::pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};

mod events;
pub use events::{describe, EventLog};

/// How long [`soon`] waits before it calls a wait a hang. On tokio's paused test clock, which
/// jumps ahead whenever every task is waiting, a hang is reported at once and costs no real
/// time; a broken behaviour makes its test fail instead of blocking the test run.
pub const PATIENCE: Duration = Duration::from_secs(24 * 60 * 60);

/// Awaits `event`, panicking with "`what` did not happen" if it takes longer than [`PATIENCE`].
pub async fn soon<F: IntoFuture>(what: &str, event: F) -> F::Output {
    match tokio::time::timeout(PATIENCE, event).await {
        Ok(output) => output,
        Err(_) => panic!("{what} did not happen (waited a day of tokio time)"),
    }
}

/// An ordered, shared log of what the steps and cleanups of a test did. Cloning shares it.
#[derive(Clone, Default, Debug)]
pub struct Journal {
    inner: Arc<JournalInner>,
}

#[derive(Default, Debug)]
struct JournalInner {
    entries: Mutex<Vec<String>>,
    /// Woken on every new entry, for [`Journal::wait_for`].
    changed: Notify,
}

impl Journal {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one entry.
    pub fn record(&self, entry: impl Display) {
        self.lock().push(entry.to_string());
        self.inner.changed.notify_waiters();
    }

    /// Waits until some entry is exactly `entry` (at once if one already is). For work that
    /// nobody awaits: a detached task, a cleanup running after its handle was dropped.
    pub async fn wait_for(&self, entry: &str) {
        soon(
            &format!("journal entry {entry:?}"),
            self.wait_for_ever(entry),
        )
        .await;
    }

    async fn wait_for_ever(&self, entry: &str) {
        loop {
            let mut changed = pin!(self.inner.changed.notified());
            // Register before looking, so that an entry recorded in between still wakes us.
            changed.as_mut().enable();
            if self.contains(entry) {
                return;
            }
            changed.await;
        }
    }

    /// Everything recorded so far, in order.
    pub fn entries(&self) -> Vec<String> {
        self.lock().clone()
    }

    /// The entries starting with `prefix`, in order.
    pub fn with_prefix(&self, prefix: &str) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|entry| entry.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// How many entries are exactly `entry`.
    pub fn count(&self, entry: &str) -> usize {
        self.lock().iter().filter(|known| *known == entry).count()
    }

    /// Whether some entry is exactly `entry`.
    pub fn contains(&self, entry: &str) -> bool {
        self.count(entry) > 0
    }

    /// Records `entry` when the returned guard is dropped. Hold it in a step to learn when the
    /// step's future is dropped (a step stopped by a cancel must be dropped at once).
    pub fn on_drop(&self, entry: impl Display) -> RecordOnDrop {
        RecordOnDrop {
            journal: self.clone(),
            entry: entry.to_string(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        // A test that panicked while recording has failed already; keep the log readable.
        self.inner
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Records its entry in a [`Journal`] when dropped; see [`Journal::on_drop`].
#[derive(Debug)]
pub struct RecordOnDrop {
    journal: Journal,
    entry: String,
}

impl Drop for RecordOnDrop {
    fn drop(&mut self) {
        self.journal.record(&self.entry);
    }
}

/// A checkpoint inside a step, driven by the test. Cloning shares it; several steps (of
/// several tasks) may pass the same gate, each arrival and each opening is counted.
#[derive(Clone, Debug)]
pub struct Gate {
    inner: Arc<GateInner>,
}

#[derive(Debug)]
struct GateInner {
    /// One permit per step that has arrived and not yet been counted by [`Gate::arrived`].
    arrivals: Semaphore,
    /// One permit per step the test has let through and that has not yet used it.
    openings: Semaphore,
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    /// A closed gate nobody has arrived at.
    pub fn new() -> Self {
        Gate {
            inner: Arc::new(GateInner {
                arrivals: Semaphore::new(0),
                openings: Semaphore::new(0),
            }),
        }
    }

    /// For the step: announce the arrival and go on without waiting.
    pub fn announce(&self) {
        self.inner.arrivals.add_permits(1);
    }

    /// For the step: announce the arrival, then wait until the test opens the gate once.
    pub async fn pass(&self) {
        self.announce();
        self.inner
            .openings
            .acquire()
            .await
            .expect("a gate's semaphores are never closed")
            .forget();
    }

    /// For the step: announce the arrival, then never go on. The step stays parked here until
    /// its future is dropped.
    pub async fn park(&self) -> ! {
        self.announce();
        std::future::pending().await
    }

    /// For the test: wait until one more step has arrived (at [`announce`](Self::announce),
    /// [`pass`](Self::pass) or [`park`](Self::park)).
    pub async fn arrived(&self) {
        soon("an arrival at the gate", self.inner.arrivals.acquire())
            .await
            .expect("a gate's semaphores are never closed")
            .forget();
    }

    /// For the test: let one step through, now or when it arrives.
    pub fn open(&self) {
        self.inner.openings.add_permits(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_gate_holds_a_step_until_opened_and_the_journal_keeps_the_order() {
        let (journal, gate) = (Journal::new(), Gate::new());
        let step = tokio::spawn({
            let (journal, gate) = (journal.clone(), gate.clone());
            async move {
                journal.record("a began");
                let _dropped = journal.on_drop("a dropped");
                gate.pass().await;
                journal.record("a returned");
            }
        });
        gate.arrived().await;
        assert_eq!(journal.entries(), ["a began"]);
        gate.open();
        journal.wait_for("a dropped").await;
        step.await.expect("the step did not panic");
        assert_eq!(journal.entries(), ["a began", "a returned", "a dropped"]);
        assert_eq!(journal.count("a began"), 1);
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "an arrival at the gate did not happen")]
    async fn waiting_for_what_never_happens_fails_instead_of_hanging() {
        Gate::new().arrived().await;
    }
}
