//! Waiting in a line, raced against the task's cancel flag and deadline exactly as a step is
//! (`TaskShared::must_stop` is the same check, on every poll, before anything else). The
//! runner awaits these; they know nothing of it: an await point is reported through the
//! `on_pending` callback it passes.
//!
//! * A queued task is a spawned task that waits for admission before its body is first
//!   polled. The body is made at submission (so the task context and scope sit inside it
//!   once, not twice); if the wait ends in a cancel, the body's first step sees the cancel
//!   before it begins, and the task ends "cancelled before it started" through the same code
//!   as any cancel before a step: no step, no cleanup.
//! * A step with a resource waits for its permit ([`acquire`]) before the step begins. In
//!   both cases nothing of the step has run, so a cancel there runs no cleanup.

use std::future::{poll_fn, ready, Future};
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::{Either, FutureExt};
use tokio::time::{sleep_until, Instant, Sleep};

use crate::queue::permits::{Abandonments, Entry, Ticket, Waiter};
use crate::queue::{ResourcePermit, TaskPermit};
use crate::reason::{CancelReason, CancelSource, CancelStatus};
use crate::shared::TaskShared;

impl Waiter for TaskShared {
    fn is_abandoned(&self) -> bool {
        self.cell().is_cancel_requested()
    }

    fn waiting_flag(&self) -> &AtomicBool {
        TaskShared::waiting_flag(self)
    }

    fn wake(&self) {
        self.cell().wake();
    }
}

/// When a queued task must stop waiting: its deadline (the task's timeout, counted from
/// submission) or its flow's max wait (also from submission), whichever comes first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WaitLimits {
    expires_at: Option<Instant>,
    /// Set when the max wait is what expires first.
    max_wait: Option<Duration>,
}

impl WaitLimits {
    pub(crate) fn new(
        submitted_at: Instant,
        timeout: Option<Duration>,
        max_wait: Option<Duration>,
    ) -> Self {
        // A time too far for the clock to represent never comes (as with the task's deadline).
        let deadline = timeout.and_then(|timeout| submitted_at.checked_add(timeout));
        let max_wait_at =
            max_wait.and_then(|max_wait| Some((submitted_at.checked_add(max_wait)?, max_wait)));
        match (deadline, max_wait_at) {
            (deadline, Some((at, max_wait))) if deadline.is_none_or(|deadline| at < deadline) => {
                WaitLimits {
                    expires_at: Some(at),
                    max_wait: Some(max_wait),
                }
            }
            (deadline, _) => WaitLimits {
                expires_at: deadline,
                max_wait: None,
            },
        }
    }
}

impl WaitLimits {
    /// When the wait expires, and the max wait if that is what expires first.
    pub(crate) fn parts(self) -> (Option<Instant>, Option<Duration>) {
        (self.expires_at, self.max_wait)
    }
}

fn expired(max_wait: Option<Duration>) -> CancelReason {
    match max_wait {
        Some(max_wait) => CancelReason::QueueWaitExceeded { max_wait },
        None => CancelReason::Timeout,
    }
}

/// The future spawned for a task of a limited flow: waits for admission (unless it was
/// admitted at submission), then runs the flow's body holding the permit. The permit is a
/// guard: it is released however the task ends, the runtime dropping it included.
///
/// Built from `futures_util`'s combinators rather than as an `async fn`: an `async fn` keeps
/// its arguments for its whole life, so the body (the task's whole state machine) would be
/// stored twice. Here the body is stored once, and the wait's small state beside it.
///
/// `on_pending` is called on each poll of the wait that returns `Pending`: an await point
/// (the runner's explorer hook may cancel the task there).
pub(crate) fn run_admitted<Body: Future, OnPending: Fn()>(
    entry: Entry<TaskShared>,
    limits: WaitLimits,
    on_pending: OnPending,
    body: Body,
) -> impl Future<Output = Body::Output> {
    let admitted = match entry {
        Entry::Admitted(permit) => Either::Left(ready(Some(permit))),
        Entry::Queued(ticket) => Either::Right(Admission::new(ticket, limits, on_pending)),
    };
    // `None`: cancelled while queued (by a request, the deadline or the max wait). The body
    // sees the cancel before its first step begins and ends at once.
    admitted.then(move |permit: Option<TaskPermit>| {
        body.map(move |outcome| {
            drop(permit);
            outcome
        })
    })
}

/// Waits until its ticket is handed a permit; `None` if the task must stop first (its cancel
/// is then requested). Dropping it leaves the line (the ticket's own drop).
struct Admission<OnPending> {
    /// `None` once the wait is over.
    ticket: Option<Ticket<TaskShared>>,
    /// Boxed, like a scope's deadline, and only when there is a limit to the wait: an inline
    /// timer would make every queued task's future larger.
    expiry: Option<Pin<Box<Sleep>>>,
    /// The max wait, if it is what `expiry` stands for (else it is the deadline).
    max_wait: Option<Duration>,
    on_pending: OnPending,
}

impl<OnPending> Admission<OnPending> {
    fn new(ticket: Ticket<TaskShared>, limits: WaitLimits, on_pending: OnPending) -> Self {
        Admission {
            ticket: Some(ticket),
            expiry: limits.expires_at.map(|at| Box::pin(sleep_until(at))),
            max_wait: limits.max_wait,
            on_pending,
        }
    }
}

// Nothing in it is pinned structurally: the ticket and the callback are moved freely, and
// the timer is boxed.
impl<OnPending> Unpin for Admission<OnPending> {}

impl<OnPending: Fn()> Future for Admission<OnPending> {
    type Output = Option<TaskPermit>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(ticket) = &this.ticket else {
            return Poll::Ready(None);
        };
        let max_wait = this.max_wait;
        let expiry = this.expiry.as_mut().map(Pin::as_mut);
        let polled = poll_line(ticket, expiry, || expired(max_wait), cx);
        if polled.is_pending() {
            // An await point: a cancel here wakes this task, which then leaves.
            (this.on_pending)();
        }
        let granted = std::task::ready!(polled);
        let ticket = this.ticket.take();
        Poll::Ready(if granted {
            ticket.and_then(Ticket::claim)
        } else {
            None
        })
    }
}

/// One poll of a wait in a line: `Ready(true)` once the ticket is handed a permit,
/// `Ready(false)` if the task must stop first.
fn poll_line(
    ticket: &Ticket<TaskShared>,
    deadline: Option<Pin<&mut Sleep>>,
    expired: impl FnOnce() -> CancelReason,
    cx: &mut Context<'_>,
) -> Poll<bool> {
    let shared = ticket.waiter();
    if shared.must_stop(deadline, expired, cx) {
        return Poll::Ready(false);
    }
    // Register before looking, so that a hand-off or a cancel between the look and the
    // registration still wakes this task.
    shared.cell().register_waker(cx.waker());
    if ticket.is_granted() {
        return Poll::Ready(true);
    }
    if shared.cell().is_cancel_requested() {
        return Poll::Ready(false);
    }
    Poll::Pending
}

/// Waits in a resource's line until `ticket` is handed a permit, raced against the task's
/// cancel and `deadline` (the task's own): `None` if the task must stop first (its cancel is
/// then requested). `on_pending` is called on each poll that returns `Pending`.
pub(crate) async fn acquire(
    ticket: Ticket<TaskShared>,
    deadline: &mut Option<Pin<Box<Sleep>>>,
    on_pending: impl Fn(),
) -> Option<ResourcePermit> {
    let granted = poll_fn(|cx| {
        let deadline = deadline.as_mut().map(Pin::as_mut);
        let polled = poll_line(&ticket, deadline, || CancelReason::Timeout, cx);
        if polled.is_pending() {
            on_pending();
        }
        polled
    })
    .await;
    granted.then(|| ticket.claim()).flatten()
}

/// Cancels `task` on behalf of `source`, and, if the cancel took effect while the task waited
/// in a line, tells that line's manager (`lines`) so that a full line gives the place away at
/// once (`permits.rs`, invariant 4). Every canceller that can find a waiting task goes
/// through here: the manager's cancels and the task's handle.
pub(crate) fn cancel(
    task: &TaskShared,
    reason: CancelReason,
    source: CancelSource,
    lines: Option<&Abandonments>,
) -> CancelStatus {
    let status = task.request_cancel_by(reason, source);
    if status == CancelStatus::Requested && task.is_waiting() {
        if let Some(lines) = lines {
            lines.note();
        }
    }
    status
}
