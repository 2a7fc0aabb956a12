//! Waiting in a cluster-wide line (the manager's store shares limits): the store keeps the
//! line, the task waits for its answer, raced against the task's cancel flag and deadline
//! exactly as a wait in one of this manager's lines is (`wait.rs`). Dropping a wait leaves
//! the line: the store's future does that on its drop.
//!
//! While a task waits for the store's permit, its `waiting` flag is set (it is in no line of
//! this manager meanwhile, so nothing else writes it), so that `status` and `snapshot` say
//! it waits.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::FutureExt;
use tokio::sync::oneshot;
use tokio::time::{sleep_until, Sleep};

use crate::cluster::{ClusterFuture, ClusterPermit, Entered};
use crate::error::ClusterError;
use crate::queue::WaitLimits;
use crate::reason::{CancelReason, CancelSource};
use crate::shared::TaskShared;

/// The future spawned for a task whose flow's line is cluster-wide: waits for the store's
/// answer to its entry (made by `submit_in_cluster`, told through `gate`), then for its
/// permit if it was queued, then runs the body holding the permit. As `run_admitted`, the
/// body is stored once; a wait that ends in a cancel lets the body see the cancel before its
/// first step, so the task ends with nothing run and nothing to clean up.
///
/// A gate closed with no answer, or with `Full`, means the submission was refused or
/// dropped before the entry was made: nobody holds the task's handle, and the task is
/// cancelled as a dropped handle cancels it.
pub(crate) fn run_cluster_admitted<Body: Future, OnPending: Fn()>(
    shared: Arc<TaskShared>,
    gate: oneshot::Receiver<Entered>,
    limits: WaitLimits,
    on_pending: OnPending,
    body: Body,
) -> impl Future<Output = Body::Output> {
    let (expires_at, max_wait) = limits.parts();
    let admission = ClusterAdmission {
        shared,
        state: State::Gate(gate),
        expiry: expires_at.map(|at| Box::pin(sleep_until(at))),
        max_wait,
        on_pending,
    };
    admission.then(move |permit: Option<ClusterPermit>| {
        body.map(move |outcome| {
            drop(permit);
            outcome
        })
    })
}

enum State {
    /// Waiting for the store's answer to the entry.
    Gate(oneshot::Receiver<Entered>),
    /// In the line: ready with the permit.
    Queued(ClusterFuture<ClusterPermit>),
    /// Over.
    Done,
}

struct ClusterAdmission<OnPending> {
    shared: Arc<TaskShared>,
    state: State,
    expiry: Option<Pin<Box<Sleep>>>,
    max_wait: Option<Duration>,
    on_pending: OnPending,
}

// Nothing in it is pinned structurally: the receiver and the store's future are `Unpin`
// (the latter boxed), the timer is boxed.
impl<OnPending> Unpin for ClusterAdmission<OnPending> {}

impl<OnPending: Fn()> Future for ClusterAdmission<OnPending> {
    type Output = Option<ClusterPermit>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let max_wait = this.max_wait;
        let expiry = this.expiry.as_mut().map(Pin::as_mut);
        let polled = poll_wait(&this.shared, &mut this.state, expiry, max_wait, cx);
        if polled.is_pending() {
            // An await point: a cancel here wakes this task, which then leaves.
            (this.on_pending)();
        }
        polled
    }
}

/// One poll of a wait for a cluster-wide permit: `Ready(None)` if the task must stop first
/// (its cancel is then requested), and the wait is dropped, leaving the line.
fn poll_wait(
    shared: &TaskShared,
    state: &mut State,
    deadline: Option<Pin<&mut Sleep>>,
    max_wait: Option<Duration>,
    cx: &mut Context<'_>,
) -> Poll<Option<ClusterPermit>> {
    // Register before looking, so that a cancel between the look and the registration still
    // wakes this task.
    shared.cell().register_waker(cx.waker());
    let expired = || match max_wait {
        Some(max_wait) => CancelReason::QueueWaitExceeded { max_wait },
        None => CancelReason::Timeout,
    };
    if shared.must_stop(deadline, expired, cx) {
        return Poll::Ready(leave(shared, state));
    }
    loop {
        match state {
            State::Done => return Poll::Ready(None),
            State::Gate(gate) => match std::task::ready!(Pin::new(gate).poll(cx)) {
                Ok(Entered::Admitted(permit)) => {
                    *state = State::Done;
                    return Poll::Ready(Some(permit));
                }
                Ok(Entered::Queued(wait)) => {
                    shared.waiting_flag().store(true, Ordering::Release);
                    *state = State::Queued(wait);
                }
                Ok(Entered::Full { .. }) | Err(_) => {
                    let _ = shared.request_cancel_by(
                        CancelReason::HandleDropped,
                        CancelSource::HandleDropped,
                    );
                    return Poll::Ready(leave(shared, state));
                }
            },
            State::Queued(wait) => {
                let permit = std::task::ready!(wait.as_mut().poll(cx));
                shared.waiting_flag().store(false, Ordering::Release);
                *state = State::Done;
                return Poll::Ready(Some(permit));
            }
        }
    }
}

/// Leaves the line (the store's wait is dropped) and the waiting state.
fn leave(shared: &TaskShared, state: &mut State) -> Option<ClusterPermit> {
    *state = State::Done;
    shared.waiting_flag().store(false, Ordering::Release);
    None
}

/// Waits for a permit of a step's cluster-wide resource: the store's answer to the entry
/// (`entering`), then the permit if the step was queued, raced against the task's cancel
/// and `deadline` (the task's own). `None` if the task must stop first (its cancel is then
/// requested). `on_queued` is called once if the step has to wait, `on_pending` on each poll
/// that returns `Pending`.
///
/// A store that fails to make the entry leaves the step without a permit it may not run
/// without: the task is cancelled, with the store's error as the reason.
pub(crate) async fn acquire_in_cluster(
    shared: &TaskShared,
    entering: ClusterFuture<Result<Entered, ClusterError>>,
    deadline: &mut Option<Pin<Box<Sleep>>>,
    on_queued: impl FnOnce(),
    on_pending: impl Fn(),
) -> Option<ClusterPermit> {
    let (answer, gate) = oneshot::channel();
    let mut entering = Some(entering);
    let mut answer = Some(answer);
    let mut on_queued = Some(on_queued);
    let mut state = State::Gate(gate);
    poll_fn(|cx| {
        // The entry is polled here, not spawned: it is dropped with this wait.
        if let Some(entry) = entering.as_mut() {
            if let Poll::Ready(entered) = entry.as_mut().poll(cx) {
                entering = None;
                match entered {
                    Ok(entered) => {
                        if matches!(entered, Entered::Queued(_)) {
                            if let Some(told) = on_queued.take() {
                                told();
                            }
                        }
                        if let Some(answer) = answer.take() {
                            let _ = answer.send(entered);
                        }
                    }
                    Err(error) => {
                        let reason = CancelReason::from(format!(
                            "the cluster's store could not admit the step: {error}"
                        ));
                        let _ = shared.request_cancel(reason);
                    }
                }
            }
        }
        let deadline = deadline.as_mut().map(Pin::as_mut);
        let polled = poll_wait(shared, &mut state, deadline, None, cx);
        if polled.is_pending() {
            on_pending();
        }
        polled
    })
    .await
}
