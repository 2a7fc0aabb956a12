//! A clustered task abandoned by its instance (`TaskCell::abandon`): the instance lost its
//! lease in the cluster's store, so another instance may have claimed the task and decides
//! its ending there. The runner stops the task where it stands and ends it
//! [`Ending::Abandoned`]: no cleanup and no compensation runs here (the claimant decides
//! what runs), and nothing more is told to the store.
//!
//! Only the cold paths look: a stopped step's cleanup ([`Scope::cleanup`], `CleanupRun`),
//! the cleanup of a timed-out attempt that is retried (`Scope::attempt_cleanup`), a compensation, the ending after a stop or a lost seal. The step race needs no look of
//! its own: abandoning a running task decides it cancelled, which the race already checks
//! before and after every poll. A manager without a cluster never abandons a task, and
//! pays for this one `is_some` on those cold paths.

use crate::outcome::{Ending, Outcome};
use crate::run::scope::Scope;
use crate::task::Task;

impl Scope {
    /// Whether the task was abandoned (its manager's cluster gave it to another instance).
    #[inline]
    pub(super) fn is_abandoned(&self) -> bool {
        self.registry.cluster.is_some() && self.shared.cell().is_abandoned()
    }

    /// For a cleanup or a compensation that is about to be polled: whether the task was
    /// abandoned. Registers the task's waker first (on a clustered manager), so that an
    /// abandonment that lands while it is pending wakes the task and stops it.
    pub(super) fn abandoned_while_cleaning(&self, cx: &std::task::Context<'_>) -> bool {
        if self.registry.cluster.is_none() {
            return false;
        }
        let cell = self.shared.cell();
        cell.register_waker(cx.waker());
        cell.is_abandoned()
    }

    /// Ends an abandoned task: `step` was in progress (it had begun and not finished).
    #[cold]
    pub(super) fn abandoned<P, R, T, E>(
        &mut self,
        task: Task<P, R>,
        step: Option<&'static str>,
    ) -> Outcome<T, E, R> {
        let ending = Ending::Abandoned {
            step,
            steps_completed: self.timeline.completed(),
        };
        self.finish(task, ending)
    }

    /// The ending of an abandoned task that was between steps, for the paths that build an
    /// ending before finishing it.
    #[cold]
    pub(super) fn abandoned_between_steps<T, E>(&self) -> Ending<T, E> {
        Ending::Abandoned {
            step: None,
            steps_completed: self.timeline.completed(),
        }
    }
}
