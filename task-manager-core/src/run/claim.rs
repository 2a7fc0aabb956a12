//! What the runner tells a clustered manager's store (`cluster/`) about one task: each step
//! boundary, the claim of its own ending against the cancels of every instance, and how it
//! ended. A task of a manager without a cluster pays one `is_none` at each of these points.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::cleanup::Cleanup;
use crate::cluster::{
    ClusterEnding, ClusterFuture, ClusterSeal, EndedAs, RecordedCleanup, SealedAs, Sealing,
};
use crate::error::ClusterError;
use crate::outcome::Ending;
use crate::queue;
use crate::run::scope::Scope;

/// The future [`Scope::claim`] returns: ready at once for a task without a cluster, or one
/// that met a cancel already; otherwise ready once the store has answered the task's seal.
#[must_use = "futures do nothing unless awaited"]
pub struct Claim<'a> {
    scope: &'a mut Scope,
    state: ClaimState,
}

/// How the task is about to end, told to the store with the seal, is kept in the state it
/// is needed in and in as few bytes as it takes (the store's [`Sealing`] is built from it
/// when the claim is first polled): the claim of a failure is awaited with the failed
/// step's index beside it in the task's state machine, and stays within the step race's
/// bytes there (`tests/parked_task_size.rs`).
enum ClaimState {
    Start(SealPlan),
    Sealing(ClusterFuture<Result<ClusterSeal, ClusterError>>),
    Done,
}

/// What the seal says, compactly: [`Sealing`] holds a whole [`ClusterEnding`], which a task
/// that has not yet sealed must not carry in its state machine.
enum SealPlan {
    /// Nothing said ([`Scope::claim`]).
    Unsaid,
    /// Every step returned `Ok`; the seal carries the ending.
    Completed,
    /// The same, with the output a resumable flow keeps: behind one thin pointer, so that
    /// every task's claim stays as small as its plan's index (only such flows pay for it).
    #[allow(clippy::box_collection)]
    CompletedKeeping(Box<Vec<u8>>),
    /// A step returned `Err` and compensations run after the seal.
    Failed,
    /// Step `index` returned `Err` and nothing runs after the seal: it carries the ending.
    FailedAt(usize),
}

impl SealPlan {
    /// The store's seal for task `scope`, or `None` for a seal that says nothing.
    fn sealing(self, scope: &Scope) -> Option<Sealing> {
        let steps_completed = scope.timeline.completed();
        let ending = |ended| ClusterEnding {
            ended,
            steps_completed,
            cleanup: None,
            replaces_seal: false,
        };
        let completed = || {
            Sealing::new(SealedAs::Completed { steps_completed })
                .with_ending(ending(EndedAs::Completed))
        };
        let flow = scope.shared.flow().name();
        Some(
            match self {
                SealPlan::Unsaid => return None,
                SealPlan::Completed => completed(),
                SealPlan::CompletedKeeping(output) => completed().with_output(Some(*output)),
                SealPlan::Failed => Sealing::new(SealedAs::Failed),
                SealPlan::FailedAt(index) => {
                    let step = scope.shared.flow().step_name(index);
                    Sealing::new(SealedAs::Failed).with_ending(ending(EndedAs::Failed { step }))
                }
            }
            .with_flow(flow),
        )
    }
}

impl Scope {
    /// Claims the task's own ending in its cluster's store, before the generated code seals
    /// it in the cell (`completed`, `failed`, and the compensating flows' `fail` and
    /// `try_complete`). If a cancel from any instance won the store first, it is applied to
    /// the cell now, so that the seal that follows loses and the task ends cancelled with
    /// that cancel's reason. Nothing to do without a cluster.
    pub fn claim(&mut self) -> Claim<'_> {
        Claim {
            scope: self,
            state: ClaimState::Start(SealPlan::Unsaid),
        }
    }

    /// [`claim`](Self::claim) after every step returned `Ok`: the seal tells the store that
    /// the task is ending completed ([`SealedAs::Completed`]), so that an instance that
    /// claims it if this one is lost before its ending is recorded ends it completed. Nothing
    /// runs between this seal and the ending, so the seal carries the ending too
    /// ([`Sealing::ending`]).
    pub fn claim_completed(&mut self) -> Claim<'_> {
        Claim {
            scope: self,
            state: ClaimState::Start(SealPlan::Completed),
        }
    }

    /// [`claim_completed`](Self::claim_completed) for a flow that keeps its output
    /// (`on_owner_lost = resume`): `output`, the last step's value as JSON, goes with the
    /// seal, for [`TaskManager::outcome_in_cluster`](crate::TaskManager::outcome_in_cluster).
    pub fn claim_completed_keeping(&mut self, output: Option<Vec<u8>>) -> Claim<'_> {
        let plan = match output {
            Some(output) => SealPlan::CompletedKeeping(Box::new(output)),
            None => SealPlan::Completed,
        };
        Claim {
            scope: self,
            state: ClaimState::Start(plan),
        }
    }

    /// [`claim`](Self::claim) after a step returned `Err` in a flow with compensations: the
    /// seal tells the store that the task is ending failed ([`SealedAs::Failed`]); its
    /// compensations run after it, and its ending is told once they ran.
    pub fn claim_failed(&mut self) -> Claim<'_> {
        Claim {
            scope: self,
            state: ClaimState::Start(SealPlan::Failed),
        }
    }

    /// [`claim_failed`](Self::claim_failed) after step `index` returned `Err` in a flow
    /// without compensations: nothing runs between this seal and the ending, so the seal
    /// carries the ending too ([`Sealing::ending`]).
    pub fn claim_failed_at(&mut self, index: usize) -> Claim<'_> {
        Claim {
            scope: self,
            state: ClaimState::Start(SealPlan::FailedAt(index)),
        }
    }

    /// Whether the task's manager has a cluster: the generated code awaits
    /// [`claim`](Self::claim) only then, so that a task without one pays a branch, not a
    /// future.
    #[inline(always)]
    pub fn is_clustered(&self) -> bool {
        self.hooks.clustered
    }

    /// Step `index` is next: tells the store.
    #[inline(always)]
    pub(super) fn tell_step(&self, index: usize) {
        if self.hooks.clustered {
            self.tell_step_to_store(index);
        }
    }

    #[cold]
    #[inline(never)]
    fn tell_step_to_store(&self, index: usize) {
        if let Some(link) = &self.registry.cluster {
            let step = self.shared.flow().step_name(index);
            link.cluster.step_began(self.id, index, step);
        }
    }

    /// The task ends as `ending` says: tells the store (called for a clustered task only).
    #[cold]
    pub(super) fn tell_ended<T, E>(&self, ending: &Ending<T, E>, cleanup: Option<&Cleanup>) {
        let Some(link) = &self.registry.cluster else {
            return;
        };
        if self.shared.cell().is_abandoned() {
            // No longer this instance's to tell (`abandon.rs`).
            return;
        }
        let replaces_seal = self.hooks.ended_with_seal;
        if replaces_seal && matches!(ending, Ending::Completed(_) | Ending::Failed { .. }) {
            // The store recorded this very ending with the seal (`claim_completed`,
            // `claim_failed_at`): a completed or failed ending after such a seal is the one
            // it carried.
            return;
        }
        let ended = match ending {
            Ending::Completed(_) => EndedAs::Completed,
            Ending::Failed { step, .. } => EndedAs::Failed { step },
            Ending::Cancelled { reason, step, .. } => EndedAs::Cancelled {
                step: *step,
                reason: reason.clone(),
                source: self.shared.cell().cancel_source(),
            },
            Ending::Panicked { step, message } => EndedAs::Panicked {
                step,
                message: message.clone(),
            },
            Ending::TimedOut { step, limit } => EndedAs::TimedOut {
                step,
                limit: *limit,
            },
            // Abandoned tasks were turned away above.
            Ending::Abandoned { .. } => return,
        };
        let ending = ClusterEnding {
            ended,
            steps_completed: self.timeline.completed(),
            cleanup: cleanup.map(RecordedCleanup::from),
            replaces_seal,
        };
        link.cluster.ended(self.id, ending);
    }

    /// The runtime dropped the task before it ended: tells the store (told from the
    /// scope's drop, when no ending was).
    pub(super) fn tell_dropped(&self) {
        if self.shared.cell().is_abandoned() {
            return;
        }
        if let Some(link) = &self.registry.cluster {
            let ending = ClusterEnding {
                ended: EndedAs::Dropped,
                steps_completed: self.timeline.completed(),
                cleanup: None,
                replaces_seal: self.hooks.ended_with_seal,
            };
            link.cluster.ended(self.id, ending);
        }
    }
}

impl Future for Claim<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                ClaimState::Done => return Poll::Ready(()),
                ClaimState::Start(plan) => {
                    let plan = std::mem::replace(plan, SealPlan::Unsaid);
                    let scope = &*this.scope;
                    let Some(link) = &scope.registry.cluster else {
                        this.state = ClaimState::Done;
                        continue;
                    };
                    // A task that met a cancel ends cancelled whatever the store says; its
                    // ending records that cancel.
                    if scope.shared.cell().is_cancel_requested() {
                        this.state = ClaimState::Done;
                        continue;
                    }
                    let seal = match plan.sealing(scope) {
                        Some(sealing) => link.cluster.seal_with(scope.id, sealing),
                        None => link.cluster.seal(scope.id),
                    };
                    this.state = ClaimState::Sealing(seal);
                }
                ClaimState::Sealing(seal) => {
                    let answer = std::task::ready!(seal.as_mut().poll(cx));
                    this.state = ClaimState::Done;
                    // `Err`: the store failed for good; the cell decides alone.
                    match answer {
                        Ok(ClusterSeal::CancelWon { reason, source }) => {
                            let scope = &*this.scope;
                            let lines = Some(scope.registry.queues.abandonments());
                            queue::cancel(&scope.shared, reason, source, lines);
                        }
                        Ok(ClusterSeal::SealedEnded) => this.scope.hooks.ended_with_seal = true,
                        _ => {}
                    }
                }
            }
        }
    }
}
