//! The futures the generated code awaits: one step's own future raced against the task's
//! cancel signal and deadline ([`StepRace`]; [`TimedStepRace`] with the step's own time
//! limit too), and a stopped step's cleanup ([`CleanupRun`]).

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use tokio::time::{Instant, Sleep};

use crate::cleanup::Cleanup;
use crate::reason::CancelReason;
use crate::report::timeline::offset;
use crate::report::StepEnd;
use crate::run::scope::{Scope, StepRun, Stop, StopKind};
use crate::run::step_timer::StepTimer;

pin_project! {
    /// The future [`Scope::step`] returns. It holds the step's future inline, once: a plain
    /// `async fn` would keep a second copy of it (its argument and its pinned local), and the
    /// largest step's race is the size of every parked task.
    ///
    /// A step that started children (`Task::child`) and ends while some still run drops its
    /// future where it stands, parks how it ended in the same place (boxed: only such a step
    /// pays for it), and ends once its children have: see [`Scope::poll_children`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct StepRace<'a, F: Future> {
        scope: &'a mut Scope,
        // `u32`, not `usize`: packed with `began`, the race is 8 bytes smaller (a flow has
        // at most `u16::MAX` steps; see `TaskShared::set_step`).
        index: u32,
        began: bool,
        #[pin]
        run: Run<F>,
    }
}

pin_project! {
    /// The step's future, or, once it has ended with children still running, how it ended.
    #[project = RunProj]
    pub(crate) enum Run<F: Future> {
        Running { #[pin] future: F },
        Parked { raced: Option<Box<Raced<F::Output>>> },
    }
}

impl<'a, F: Future> StepRace<'a, F> {
    pub(crate) fn new(scope: &'a mut Scope, index: usize, run: F) -> Self {
        StepRace {
            scope,
            index: index as u32,
            began: false,
            run: Run::Running { future: run },
        }
    }
}

impl<F, T, E> Future for StepRace<'_, F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = StepRun<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<StepRun<T, E>> {
        let mut this = self.project();
        let index = *this.index as usize;
        let parked = match this.run.as_mut().project() {
            RunProj::Running { future } => {
                let raced = std::task::ready!(this.scope.poll_step(index, this.began, future, cx));
                if !this.scope.has_children() {
                    return Poll::Ready(this.scope.end_step(index, *this.began, raced));
                }
                park(this.run, raced)
            }
            RunProj::Parked { raced } => raced,
        };
        reap_parked(this.scope, index, *this.began, parked, cx)
    }
}

pin_project! {
    /// The future [`Scope::timed_step`] returns: a [`StepRace`] that also stops the step at
    /// its time limit (`#[step(timeout = "..")]` with no `retry` and no `resource`: one
    /// attempt, so no attempt state). The limit is kept by the task's [`StepTimer`], on the
    /// manager's alarm clock.
    #[must_use = "futures do nothing unless awaited"]
    pub struct TimedStepRace<'a, F: Future> {
        scope: &'a mut Scope,
        timer: &'a mut StepTimer,
        index: u32,
        began: bool,
        #[pin]
        run: Run<F>,
    }
}

impl<'a, F: Future> TimedStepRace<'a, F> {
    pub(crate) fn new(
        scope: &'a mut Scope,
        timer: &'a mut StepTimer,
        index: usize,
        run: F,
    ) -> Self {
        TimedStepRace {
            scope,
            timer,
            index: index as u32,
            began: false,
            run: Run::Running { future: run },
        }
    }
}

impl<F, T, E> Future for TimedStepRace<'_, F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = StepRun<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<StepRun<T, E>> {
        let mut this = self.project();
        let index = *this.index as usize;
        let parked = match this.run.as_mut().project() {
            RunProj::Running { future } => {
                let timer = &mut **this.timer;
                let polled = this
                    .scope
                    .poll_timed_step(index, this.began, timer, future, cx);
                let raced = std::task::ready!(polled);
                let completed = matches!(raced, Raced::Returned(Ok(_)));
                this.scope.end_timer(timer, index, completed);
                if !this.scope.has_children() {
                    return Poll::Ready(this.scope.end_step(index, *this.began, raced));
                }
                park(this.run, raced)
            }
            RunProj::Parked { raced } => raced,
        };
        reap_parked(this.scope, index, *this.began, parked, cx)
    }
}

/// A step that ended with children still running: its future goes now (a cancel stops it at
/// once), how it ended is kept until its children have ended.
#[cold]
fn park<F: Future>(
    mut run: Pin<&mut Run<F>>,
    raced: Raced<F::Output>,
) -> &mut Option<Box<Raced<F::Output>>> {
    run.set(Run::Parked {
        raced: Some(Box::new(raced)),
    });
    match run.project() {
        RunProj::Parked { raced } => raced,
        RunProj::Running { .. } => unreachable!("just parked"),
    }
}

/// The end of a step that left children running: once they have all ended, the step ends
/// as it had (see [`StepRace`]). Out of line: most steps never come here.
#[cold]
#[inline(never)]
fn reap_parked<T, E>(
    scope: &mut Scope,
    index: usize,
    began: bool,
    parked: &mut Option<Box<Raced<Result<T, E>>>>,
    cx: &mut Context<'_>,
) -> Poll<StepRun<T, E>> {
    std::task::ready!(scope.poll_children(cx));
    match parked.take() {
        Some(raced) => Poll::Ready(scope.end_step(index, began, *raced)),
        None => Poll::Pending,
    }
}

/// What a step's race does on each poll, and when it ends: kept with the race, on the
/// runner's state it borrows.
impl Scope {
    /// Whether the task has children that have not ended (one load for a task that never
    /// had any).
    #[inline(always)]
    pub(crate) fn has_children(&self) -> bool {
        self.shared.has_children()
    }

    /// Cancels the children that have not ended (with the task's cancel as their reason's
    /// cause, or [`CancelReason::ParentStepEnded`] if the task was not cancelled) and waits
    /// until they all have: the end of a step, or of a cleanup, that started children.
    #[cold]
    #[inline(never)]
    pub(crate) fn poll_children(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(family) = self.shared.family() else {
            return Poll::Ready(());
        };
        let cell = self.shared.cell();
        let parent = family.id();
        family.poll_reap(
            || {
                if cell.is_cancel_requested() {
                    CancelReason::parent(parent, cell.reason())
                } else {
                    CancelReason::ParentStepEnded { parent }
                }
            },
            cx,
        )
    }

    /// One poll of a step's race: see [`Scope::step`].
    fn poll_step<F: Future>(
        &mut self,
        index: usize,
        began: &mut bool,
        run: Pin<&mut F>,
        cx: &mut Context<'_>,
    ) -> Poll<Raced<F::Output>> {
        if self.must_stop(cx) {
            return Poll::Ready(Raced::Cancelled);
        }
        if !*began {
            if self.begin_step(index).is_none() {
                return Poll::Ready(Raced::Cancelled);
            }
            *began = true;
        }
        self.poll_run(index, run, cx)
    }

    /// One poll of a timed step's race: see [`Scope::timed_step`]. The step's time limit
    /// counts from its first poll (its start in the timeline); the step is not polled past it.
    #[inline(always)]
    fn poll_timed_step<F: Future>(
        &mut self,
        index: usize,
        began: &mut bool,
        timer: &mut StepTimer,
        run: Pin<&mut F>,
        cx: &mut Context<'_>,
    ) -> Poll<Raced<F::Output>> {
        if self.must_stop(cx) {
            return Poll::Ready(Raced::Cancelled);
        }
        // One path to the step's poll below (so that it, the timeline's push and the
        // `catch_unwind` stay inlined here as in the untimed race): a watched attempt's limit
        // is not checked on the poll that armed it, a precisely timed one's is.
        let check = if !*began {
            let Some(began_at) = self.begin_step(index) else {
                return Poll::Ready(Raced::Cancelled);
            };
            *began = true;
            let limit = timer.limit_nanos(self.shared.flow(), index);
            if limit != 0 {
                let submitted_at = self.shared.live().submitted_at;
                let start = began_at.unwrap_or_else(|| offset(submitted_at, Instant::now()));
                self.arm_timer(timer, limit, start, cx);
                !timer.is_watched()
            } else {
                false
            }
        } else {
            true
        };
        if check && self.timer_expired(timer, cx) {
            // For the cleanup's reason and the ending (cold: a limit was reached).
            let limit = timer.limit(self.shared.flow(), index).unwrap_or_default();
            self.shared.cell().record_step_limit(limit);
            return Poll::Ready(Raced::TimedOut);
        }
        self.poll_run(index, run, cx)
    }

    /// Whether the task's cancel or deadline has come (the deadline requests the cancel).
    #[inline(always)]
    pub(super) fn must_stop(&mut self, cx: &mut Context<'_>) -> bool {
        let deadline = self.deadline.as_mut().map(Pin::as_mut);
        self.shared
            .must_stop(deadline, || CancelReason::Timeout, cx)
    }

    /// Step `index` begins now, unless a cancel came meanwhile (`None`); `Some` says when it
    /// began, in nanoseconds since submission, if the timeline reads the clock.
    #[inline(always)]
    pub(super) fn begin_step(&mut self, index: usize) -> Option<Option<u64>> {
        // Whoever hears `StepStarted` may cancel: a cancel that lands before the step's
        // first poll keeps the step from beginning, wherever it comes from.
        if !self.hooks.step_starting(self.id, &self.shared, index) {
            return None;
        }
        Some(self.timeline.begin(self.shared.live().submitted_at))
    }

    /// One poll of a step's own future, inside its span and a `catch_unwind`; when it stays
    /// pending, the task's waker is registered with the cancel signal.
    #[inline(always)]
    pub(super) fn poll_run<F: Future>(
        &mut self,
        index: usize,
        run: Pin<&mut F>,
        cx: &mut Context<'_>,
    ) -> Poll<Raced<F::Output>> {
        let polled = self
            .hooks
            .in_step(|| catch_unwind(AssertUnwindSafe(|| run.poll(cx))));
        match polled {
            Ok(Poll::Ready(result)) => Poll::Ready(Raced::Returned(result)),
            Err(payload) => Poll::Ready(Raced::Panicked(panic_message(payload))),
            Ok(Poll::Pending) => {
                let waker = cx.waker();
                let identity = (waker.data() as usize, waker.vtable() as *const _ as usize);
                if identity != self.registered_waker {
                    // The registered clone keeps these addresses from being reused while
                    // they are remembered here.
                    self.shared.cell().register_waker(waker);
                    self.registered_waker = identity;
                }
                self.hooks.step_pending(index);
                // A cancel between the check above and the registration would find no
                // waker to wake: look once more now that the waker is in place.
                if self.shared.cell().is_cancel_requested() {
                    Poll::Ready(Raced::Cancelled)
                } else {
                    Poll::Pending
                }
            }
        }
    }

    /// Registers the task's waker with its cancel signal, unless it is the one registered
    /// last, and says whether a cancel came in between (look again after registering).
    pub(super) fn register_and_check(&mut self, cx: &mut Context<'_>) -> bool {
        let waker = cx.waker();
        let identity = (waker.data() as usize, waker.vtable() as *const _ as usize);
        if identity != self.registered_waker {
            self.shared.cell().register_waker(waker);
            self.registered_waker = identity;
        }
        self.shared.cell().is_cancel_requested()
    }

    /// The end of a step's race: records it and says what the generated code does next.
    pub(super) fn end_step<T, E>(
        &mut self,
        index: usize,
        began: bool,
        raced: Raced<Result<T, E>>,
    ) -> StepRun<T, E> {
        let (run, end) = match raced {
            Raced::Returned(Ok(value)) => (StepRun::Completed(value), StepEnd::Completed),
            Raced::Returned(Err(error)) => (StepRun::Failed(error), StepEnd::Failed),
            Raced::Cancelled => {
                self.hooks.cancel_requested(self.id, &self.shared);
                (
                    StepRun::Stopped(Stop::new(index, began, StopKind::Cancelled)),
                    StepEnd::Cancelled,
                )
            }
            Raced::Panicked(message) => {
                // The panic and a concurrent cancel race for the ending like any other end.
                self.hooks.step_panicked(index);
                let panicked = self.shared.cell().seal();
                let kind = if panicked {
                    self.shared.cell().record_panic(message);
                    StopKind::Panicked
                } else {
                    self.hooks.cancel_requested(self.id, &self.shared);
                    StopKind::Cancelled
                };
                (
                    StepRun::Stopped(Stop::new(index, began, kind)),
                    StepEnd::Panicked,
                )
            }
            Raced::TimedOut => {
                // The time limit and a concurrent cancel race for the ending, as a panic does.
                let kind = if self.shared.cell().seal() {
                    StopKind::TimedOut
                } else {
                    self.hooks.cancel_requested(self.id, &self.shared);
                    StopKind::Cancelled
                };
                (
                    StepRun::Stopped(Stop::new(index, began, kind)),
                    StepEnd::TimedOut,
                )
            }
        };
        if began {
            let submitted_at = self.shared.live().submitted_at;
            let duration = self.timeline.end(submitted_at, end);
            self.hooks
                .step_finished(self.id, &self.shared, index, end, duration);
        }
        run
    }
}

pub(crate) enum Raced<T> {
    Returned(T),
    Cancelled,
    Panicked(String),
    /// The attempt's time limit passed (a step with `timeout = ".."`).
    TimedOut,
}

pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(message) => (*message).to_string(),
            Err(_) => "<a panic whose payload is not a string>".to_string(),
        },
    }
}

/// The future [`Scope::cleanup`] returns: a stopped step's cleanup run to its end, or to its
/// deadline. Two pointers in the task's state machine: the cleanup and everything its run
/// needs (start instant, deadline timer) are boxed together in a [`CleanupBody`], since the
/// cleanup is the cold path and the largest state of a task's future is every task's size.
///
/// Children the cleanup started are cancelled and awaited when it ends, before the task
/// ends (as a step's are).
#[must_use = "futures do nothing unless awaited"]
pub struct CleanupRun<'a> {
    scope: &'a mut Scope,
    /// `None`: the stopped step never began, and has no cleanup to run.
    body: Option<Pin<Box<dyn Future<Output = Cleanup> + Send + 'a>>>,
    /// The cleanup has ended and its children are being waited for.
    reaping: bool,
}

impl<'a> CleanupRun<'a> {
    pub(crate) fn new(
        scope: &'a mut Scope,
        body: Option<Pin<Box<dyn Future<Output = Cleanup> + Send + 'a>>>,
    ) -> Self {
        CleanupRun {
            scope,
            body,
            reaping: false,
        }
    }
}

impl Future for CleanupRun<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.reaping {
            return this.scope.poll_children(cx);
        }
        let Some(body) = this.body.as_mut() else {
            return Poll::Ready(());
        };
        if this.scope.abandoned_while_cleaning(cx) {
            // Abandoned mid-cleanup: dropped where it stands, recorded nowhere (`abandon.rs`).
            this.body = None;
            return Poll::Ready(());
        }
        let cleanup = std::task::ready!(this.scope.hooks.in_step(|| body.as_mut().poll(cx)));
        this.body = None;
        this.scope.end_cleanup(cleanup);
        if this.scope.has_children() {
            this.reaping = true;
            return this.scope.poll_children(cx);
        }
        Poll::Ready(())
    }
}

pin_project! {
    /// A cleanup's own future, with its step, its start and its deadline: polled inside a
    /// `catch_unwind`, it ends as the [`Cleanup`] record the report and the cancellers get.
    pub(crate) struct CleanupBody<F> {
        step: &'static str,
        started_at: Instant,
        limit: Option<Duration>,
        #[pin]
        deadline: Option<Sleep>,
        #[pin]
        cleanup: F,
    }
}

impl<F> CleanupBody<F> {
    /// Starts the clock (and the deadline, if the cleanup has a time `limit`) now.
    pub(crate) fn new(step: &'static str, limit: Option<Duration>, cleanup: F) -> Self {
        CleanupBody {
            step,
            started_at: Instant::now(),
            limit,
            deadline: limit.map(tokio::time::sleep),
            cleanup,
        }
    }
}

impl<F: Future<Output = ()>> Future for CleanupBody<F> {
    type Output = Cleanup;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Cleanup> {
        let this = self.project();
        let step = *this.step;
        let cleanup = this.cleanup;
        match catch_unwind(AssertUnwindSafe(|| cleanup.poll(cx))) {
            Ok(Poll::Ready(())) => {
                let duration = this.started_at.elapsed();
                return Poll::Ready(Cleanup::Completed { step, duration });
            }
            Err(payload) => {
                let message = panic_message(payload);
                return Poll::Ready(Cleanup::Panicked { step, message });
            }
            Ok(Poll::Pending) => {}
        }
        // Dropped where it stands at its deadline (the task's box drops it).
        match this.deadline.as_pin_mut().map(|sleep| sleep.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Cleanup::TimedOut {
                step,
                after: this.limit.unwrap_or_default(),
            }),
            _ => Poll::Pending,
        }
    }
}
