//! A step with a policy (`#[step(timeout = "..")]`, `#[step(retry = ..)]`): each attempt
//! raced against the cancel, the deadline and the attempt's own time limit
//! ([`AttemptRace`]); the cleanup of a timed-out attempt that is retried
//! ([`Scope::attempt_cleanup`]); the wait between two attempts ([`Scope::backoff`]).
//!
//! The generated code of such a step is a loop (see `task-manager-macros/src/step.rs`):
//!
//! ```text
//! let mut attempts = scope.attempts(index, policy);
//! loop {
//!     match scope.attempt(&mut attempts, step(task, input.clone())).await {
//!         AttemptRun::Completed(value) => break value,
//!         AttemptRun::Failed(error) => return scope.failed(task, index, error),
//!         AttemptRun::Stopped(stop) => break 'stopped stop,
//!         AttemptRun::Retry(retry) => scope.attempt_cleanup(&mut attempts, retry, cleanup).await,
//!     }
//!     if let Some(stop) = scope.backoff(&mut attempts).await { break 'stopped stop }
//! }
//! ```
//!
//! Invariants: attempts never overlap (an attempt's future is dropped when its race ends,
//! before the loop goes on, and a timed-out attempt's cleanup is awaited before the wait);
//! the step begins once (`StepStarted`, one span in the timeline, from the first attempt's
//! start to the last one's end) and ends once (`StepFinished`); every attempt of a step that
//! was retried is kept for the report. A step without a policy never comes here: it pays
//! nothing for any of this.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Instant;

use crate::checks::CheckedPolicy;
use crate::cleanup::Cleanup;
use crate::queue::ResourcePermit;
use crate::report::timeline::offset;
use crate::report::{Attempt, StepEnd};
use crate::retry::{Retry, SplitMix};
use crate::run::race::{CleanupBody, Raced};
use crate::run::scope::{Scope, Stop, StopKind};
use crate::run::step_timer::StepTimer;

/// One step's attempts: how many began, the permit the current one holds, and, once an
/// attempt has failed, the policy and the records (`Retrying`).
///
/// A local of the step's loop in the task's state machine, live across all of the loop's
/// awaits, so that every byte of it is in every task of the flow and is moved with the task:
/// what only a failure needs is boxed and made at the first failure. A step whose attempts
/// all succeed carries 32 bytes and never calls its policy function.
pub struct Attempts<E> {
    index: u32,
    /// Attempts begun so far.
    begun: u32,
    /// The policy's function (`#[step(retry = ..)]`), called at the first failure; `None`
    /// for a step with a time limit and no retry: one attempt.
    policy: Option<fn() -> CheckedPolicy<E>>,
    /// The permit of the step's resource (`#[step(resource = "..")]`) the current attempt
    /// holds: taken before it begins, kept through the cleanup of an attempt that timed out or
    /// panicked, released before the wait for the next one (a wait holds no resource).
    permit: Option<ResourcePermit>,
    /// Made when an attempt of a step with a policy first fails.
    retrying: Option<Box<Retrying<E>>>,
}

/// What a step with a policy keeps once one of its attempts has failed.
struct Retrying<E> {
    policy: Retry<E>,
    describe: fn(&E) -> String,
    random: SplitMix,
    /// When the current attempt began.
    started_at: Instant,
    /// When the first attempt began (for the policy's budget).
    first_started_at: Instant,
    /// The wait before the next attempt.
    delay: Duration,
    records: Vec<Attempt>,
}

/// How one attempt's race ended, as [`Scope::attempt`] reports it to the generated code.
pub enum AttemptRun<T, E> {
    /// The attempt returned `Ok`: feed the value to the next step.
    Completed(T),
    /// The attempt returned `Err` and no other attempt follows: end the task with
    /// [`Scope::failed`].
    Failed(E),
    /// The step was stopped (cancel, panic, or a time limit not retried): run its cleanup,
    /// then end the task with [`Scope::stopped`].
    Stopped(Stop),
    /// Another attempt follows, after the wait ([`Scope::backoff`]). `Some` if this one
    /// overran its time limit or panicked: its cleanup runs first
    /// ([`Scope::attempt_cleanup`]).
    Retry(Option<Stop>),
}

impl<E> Attempts<E> {
    fn new(index: usize, policy: Option<fn() -> CheckedPolicy<E>>) -> Self {
        Attempts {
            index: index as u32,
            begun: 0,
            policy,
            permit: None,
            retrying: None,
        }
    }

    fn index(&self) -> usize {
        self.index as usize
    }

    /// The attempts' records, once one has failed (none for a step that succeeded at once).
    fn records(&mut self) -> Option<&mut Vec<Attempt>> {
        self.retrying
            .as_mut()
            .map(|retrying| &mut retrying.records)
            .filter(|records| !records.is_empty())
    }

    /// Whether the attempt that just failed gets another one, and after which wait: the
    /// step has a policy, the policy allows it (`retryable`), attempts are left, and the wait
    /// ends within the budget. `first_start` is when the first attempt began, and `seed` the
    /// jitter's default seed, for a first failure.
    fn next_delay(
        &mut self,
        first_start: impl FnOnce() -> Instant,
        seed: impl FnOnce() -> u64,
        retryable: impl FnOnce(&Retry<E>) -> bool,
    ) -> Option<Duration> {
        let policy = self.policy?;
        let retrying = self.retrying.get_or_insert_with(|| {
            let CheckedPolicy { policy, describe } = policy();
            let started_at = first_start();
            let seed = policy.jitter_seed().unwrap_or_else(seed);
            Box::new(Retrying {
                policy,
                describe,
                random: SplitMix::new(seed),
                started_at,
                first_started_at: started_at,
                delay: Duration::ZERO,
                records: Vec::new(),
            })
        });
        let policy = &retrying.policy;
        if self.begun >= policy.max_attempts() || !retryable(policy) {
            return None;
        }
        let delay = policy.delay(self.begun, retrying.random.next());
        if let Some(budget) = policy.time_budget() {
            if retrying.first_started_at.elapsed().saturating_add(delay) > budget {
                return None;
            }
        }
        retrying.delay = delay;
        Some(delay)
    }

    /// How the step's error type is described, once an attempt has failed.
    fn describe(&self, error: &E) -> String {
        self.retrying
            .as_ref()
            .map_or_else(String::new, |retrying| (retrying.describe)(error))
    }

    /// Records the attempt that just ended, if an earlier one failed or `delay` says another
    /// follows (a step that succeeds at once, or fails with no retry, records nothing).
    #[inline]
    fn record(
        &mut self,
        step: &'static str,
        end: StepEnd,
        error: Option<String>,
        delay: Option<Duration>,
    ) {
        let number = self.begun;
        let Some(retrying) = self.retrying.as_mut() else {
            return;
        };
        if retrying.records.is_empty() && delay.is_none() {
            return;
        }
        let started_at = retrying.started_at;
        retrying.records.push(Attempt {
            step,
            number,
            started_at,
            duration: started_at.elapsed(),
            end,
            error,
            delay,
            cleanup: None,
        });
    }
}

impl Scope {
    /// The attempts of step `index`, which has a time limit and no retry policy: one attempt.
    pub fn attempt_once<E>(&mut self, index: usize) -> Attempts<E> {
        self.hooks.step_next(self.id, &self.shared, index);
        self.shared.set_step(index);
        self.tell_step(index);
        Attempts::new(index, None)
    }

    /// The attempts of step `index`, retried as the policy `policy` makes says; it is called
    /// when an attempt first fails (a step whose first attempt succeeds never calls it). The
    /// error's `Display` is what the report and the `StepRetrying` event say of a failed
    /// attempt.
    pub fn attempts<E>(&mut self, index: usize, policy: fn() -> CheckedPolicy<E>) -> Attempts<E> {
        self.hooks.step_next(self.id, &self.shared, index);
        self.shared.set_step(index);
        self.tell_step(index);
        Attempts::new(index, Some(policy))
    }

    /// The task's id as the jitter's seed, unless the policy sets one.
    fn jitter_seed(&self) -> u64 {
        let id = self.id.as_u128();
        (id as u64) ^ ((id >> 64) as u64)
    }

    /// The next attempt of the step, `run`: raced against the task's cancel and deadline and,
    /// if the step has a `timeout`, against its own time limit, counted from its first poll.
    ///
    /// `timer` is the task's one [`StepTimer`], shared by its timed steps (`None` in a flow
    /// without any).
    pub fn attempt<'a, F, T, E>(
        &'a mut self,
        attempts: &'a mut Attempts<E>,
        timer: Option<&'a mut StepTimer>,
        run: F,
    ) -> AttemptRace<'a, F, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        AttemptRace {
            scope: self,
            attempts,
            began: false,
            timed: false,
            timer,
            parked: None,
            run,
        }
    }

    /// The cleanup of an attempt that overran its time limit or panicked, and is retried:
    /// `cleanup` is called with
    /// [`CancelReason::StepTimeout`](crate::CancelReason::StepTimeout) (or
    /// [`StepPanicked`](crate::CancelReason::StepPanicked)) and run
    /// to its end (or the cleanup deadline) before the wait and the next attempt. What became
    /// of it is kept in the attempt's record. `None`: the attempt failed with an error, and
    /// there is nothing to clean up.
    ///
    /// Boxed: only a failed attempt comes here, and the state of this wait would otherwise
    /// take room in every task of the flow.
    pub fn attempt_cleanup<'a, E, C, F>(
        &'a mut self,
        attempts: &'a mut Attempts<E>,
        timed_out: Option<Stop>,
        cleanup: C,
    ) -> Pin<Box<impl Future<Output = ()> + 'a>>
    where
        C: FnOnce(crate::CancelReason) -> F + 'a,
        F: Future<Output = ()> + Send + 'a,
        E: 'a,
    {
        Box::pin(self.run_attempt_cleanup(attempts, timed_out, cleanup))
    }

    async fn run_attempt_cleanup<E, C, F>(
        &mut self,
        attempts: &mut Attempts<E>,
        timed_out: Option<Stop>,
        cleanup: C,
    ) where
        C: FnOnce(crate::CancelReason) -> F,
        F: Future<Output = ()> + Send,
    {
        let Some(stop) = timed_out else {
            return;
        };
        if self.is_abandoned() {
            // Its instance lost the task: no cleanup runs here (`abandon.rs`); the wait that
            // follows finds the task stopped.
            return;
        }
        let reason = stop.reason(&self.shared);
        self.hooks
            .attempt_cleanup_started(self.id, &self.shared, &reason);
        let step = self.shared.flow().step_name(stop.index());
        let body = CleanupBody::new(step, self.cleanup_limit(), cleanup(reason));
        let body = std::pin::pin!(body);
        let mut body = body;
        let this = &*self;
        let done: Option<Cleanup> = std::future::poll_fn(|cx| {
            if this.abandoned_while_cleaning(cx) {
                // Abandoned mid-cleanup: dropped where it stands, recorded nowhere (`abandon.rs`).
                return Poll::Ready(None);
            }
            this.hooks.in_step(|| body.as_mut().poll(cx)).map(Some)
        })
        .await;
        let Some(done) = done else {
            return;
        };
        self.hooks
            .attempt_cleanup_finished(self.id, &self.shared, &done);
        if let Some(last) = attempts.records().and_then(|records| records.last_mut()) {
            last.cleanup = Some(done);
        }
    }

    /// The wait before the next attempt, raced against the task's cancel and deadline. A
    /// cancel during the wait ends the task at once: no attempt is in progress, so no
    /// cleanup runs, and the task ends `Cancelled` with no step in progress.
    ///
    /// Boxed, as [`attempt_cleanup`](Self::attempt_cleanup) is: only a failed attempt comes here.
    pub fn backoff<'a, E>(
        &'a mut self,
        attempts: &'a mut Attempts<E>,
    ) -> Pin<Box<impl Future<Output = Option<Stop>> + 'a>> {
        Box::pin(self.wait_before_next_attempt(attempts))
    }

    async fn wait_before_next_attempt<E>(&mut self, attempts: &mut Attempts<E>) -> Option<Stop> {
        attempts.permit = None;
        let index = attempts.index();
        let delay = attempts
            .retrying
            .as_ref()
            .map_or(Duration::ZERO, |retrying| retrying.delay);
        let sleep = tokio::time::sleep(delay);
        let mut sleep = std::pin::pin!(sleep);
        let cancelled = std::future::poll_fn(|cx| {
            if self.must_stop(cx) {
                return Poll::Ready(true);
            }
            if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(false);
            }
            // An await point: the explorer may cancel here.
            self.hooks.backoff_pending(index);
            if self.register_and_check(cx) {
                Poll::Ready(true)
            } else {
                Poll::Pending
            }
        })
        .await;
        if !cancelled {
            return None;
        }
        Some(self.stopped_between_attempts(attempts))
    }

    /// Before each attempt of step `index`, which needs a resource
    /// (`#[step(resource = "..")]`): waits for one of its permits, raced against the cancel
    /// and the deadline, as a step without a policy does. The attempt holds it until it ends
    /// (through its cleanup, if it is stopped or retried after a timeout or a panic); the wait
    /// between two attempts holds none. A cancel during this wait stops the task with no
    /// attempt in progress: no cleanup runs, as during the wait between attempts.
    pub async fn attempt_resource<E>(&mut self, attempts: &mut Attempts<E>) -> Option<Stop> {
        match self.wait_for_resource(attempts.index()).await {
            Ok(permit) => {
                attempts.permit = permit;
                None
            }
            Err(stop) if attempts.begun == 0 => Some(stop),
            Err(_) => Some(self.stopped_between_attempts(attempts)),
        }
    }

    /// A cancel met between two attempts (during the wait, or for the resource): the step's
    /// run ends here, with no attempt in progress.
    fn stopped_between_attempts<E>(&mut self, attempts: &mut Attempts<E>) -> Stop {
        let index = attempts.index();
        self.hooks.cancel_requested(self.id, &self.shared);
        let submitted_at = self.shared.live().submitted_at;
        let duration = self.timeline.end(submitted_at, StepEnd::Cancelled);
        self.hooks
            .step_finished(self.id, &self.shared, index, StepEnd::Cancelled, duration);
        self.keep_attempts(attempts);
        Stop::before(index)
    }

    /// When the current attempt began, in nanoseconds since the task's submission: the first
    /// one's start is the step's, in the timeline.
    fn attempt_start_offset<E>(&self, attempts: &Attempts<E>) -> u64 {
        let submitted_at = self.shared.live().submitted_at;
        match &attempts.retrying {
            Some(retrying) => offset(submitted_at, retrying.started_at),
            None => self
                .timeline
                .last_start_offset()
                .unwrap_or_else(|| offset(submitted_at, Instant::now())),
        }
    }

    /// When the step's first attempt began (the step's own start, in the timeline).
    fn first_attempt_start(&self) -> Instant {
        let submitted_at = self.shared.live().submitted_at;
        self.timeline
            .last_start(submitted_at)
            .unwrap_or_else(Instant::now)
    }

    /// Hands a retried step's attempt records to the task's cell, for the report.
    fn keep_attempts<E>(&mut self, attempts: &mut Attempts<E>) {
        if let Some(records) = attempts.records() {
            self.timeline.retried = true;
            self.shared.cell().record_attempts(records);
        }
    }

    /// The end of an attempt's race: the policy decides whether another attempt follows.
    #[inline(always)]
    fn end_attempt<T, E>(
        &mut self,
        attempts: &mut Attempts<E>,
        began: bool,
        raced: Raced<Result<T, E>>,
    ) -> AttemptRun<T, E> {
        let index = attempts.index();
        if attempts.retrying.is_none() && attempts.permit.is_none() {
            if let Raced::Returned(Ok(value)) = raced {
                // The common case, as cheap as a step without a policy: the first attempt
                // succeeded (no record, no permit to give back).
                let submitted_at = self.shared.live().submitted_at;
                let duration = self.timeline.end(submitted_at, StepEnd::Completed);
                self.hooks.step_finished(
                    self.id,
                    &self.shared,
                    index,
                    StepEnd::Completed,
                    duration,
                );
                return AttemptRun::Completed(value);
            }
        }
        self.end_attempt_slow(attempts, began, raced)
    }

    /// [`end_attempt`](Self::end_attempt) past its common case.
    #[inline(never)]
    fn end_attempt_slow<T, E>(
        &mut self,
        attempts: &mut Attempts<E>,
        began: bool,
        raced: Raced<Result<T, E>>,
    ) -> AttemptRun<T, E> {
        let index = attempts.index();
        let step = self.shared.flow().step_name(index);
        // Whether another attempt follows (a first failure makes the policy).
        let first_start = || self.first_attempt_start();
        let seed = || self.jitter_seed();
        let next = match &raced {
            Raced::Returned(Ok(_)) | Raced::Cancelled => None,
            Raced::Returned(Err(error)) => {
                attempts.next_delay(first_start, seed, |policy| policy.is_retryable(error))
            }
            Raced::TimedOut => attempts.next_delay(first_start, seed, Retry::retries_timeouts),
            Raced::Panicked(_) => attempts.next_delay(first_start, seed, Retry::retries_panics),
        };
        let (run, end) = match raced {
            Raced::Returned(Ok(value)) => {
                attempts.record(step, StepEnd::Completed, None, None);
                (AttemptRun::Completed(value), StepEnd::Completed)
            }
            Raced::Returned(Err(error)) => {
                let text = attempts.describe(&error);
                if let Some(delay) = next {
                    return self.retry(attempts, StepEnd::Failed, text, delay, None);
                }
                attempts.record(step, StepEnd::Failed, Some(text), None);
                (AttemptRun::Failed(error), StepEnd::Failed)
            }
            Raced::TimedOut => {
                // Kept by `AttemptRace` when the limit was reached.
                let limit = self.shared.cell().step_limit();
                let text = format!("ran longer than its limit of {limit:?}");
                if let Some(delay) = next {
                    let stop = Stop::new(index, true, StopKind::TimedOut);
                    return self.retry(attempts, StepEnd::TimedOut, text, delay, Some(stop));
                }
                attempts.record(step, StepEnd::TimedOut, Some(text), None);
                // The time limit and a concurrent cancel race for the ending, as a panic does.
                let kind = if self.shared.cell().seal() {
                    StopKind::TimedOut
                } else {
                    self.hooks.cancel_requested(self.id, &self.shared);
                    StopKind::Cancelled
                };
                (
                    AttemptRun::Stopped(Stop::new(index, true, kind)),
                    StepEnd::TimedOut,
                )
            }
            Raced::Cancelled => {
                self.hooks.cancel_requested(self.id, &self.shared);
                if began {
                    attempts.record(step, StepEnd::Cancelled, None, None);
                }
                (
                    AttemptRun::Stopped(Stop::new(index, began, StopKind::Cancelled)),
                    StepEnd::Cancelled,
                )
            }
            Raced::Panicked(message) => {
                if let Some(delay) = next {
                    let stop = Stop::new(index, true, StopKind::Panicked);
                    return self.retry(attempts, StepEnd::Panicked, message, delay, Some(stop));
                }
                // The task is about to claim its ending (not so for a panic that is retried).
                self.hooks.step_panicked(index);
                attempts.record(step, StepEnd::Panicked, Some(message.clone()), None);
                let kind = if self.shared.cell().seal() {
                    self.shared.cell().record_panic(message);
                    StopKind::Panicked
                } else {
                    self.hooks.cancel_requested(self.id, &self.shared);
                    StopKind::Cancelled
                };
                (
                    AttemptRun::Stopped(Stop::new(index, true, kind)),
                    StepEnd::Panicked,
                )
            }
        };
        // The attempt's resource goes with it: now, or after the stopped step's cleanup.
        let run = match run {
            AttemptRun::Stopped(mut stop) => {
                stop.resource = attempts.permit.take();
                AttemptRun::Stopped(stop)
            }
            ended => {
                attempts.permit = None;
                ended
            }
        };
        self.keep_attempts(attempts);
        // The step's run ends with its last attempt; it had not begun if a cancel kept its
        // first attempt from beginning (then `StepStarted`, if told, was closed already).
        if attempts.begun > 0 {
            let submitted_at = self.shared.live().submitted_at;
            let duration = self.timeline.end(submitted_at, end);
            self.hooks
                .step_finished(self.id, &self.shared, index, end, duration);
        }
        run
    }

    /// Another attempt follows this failed one, after `delay`: record it, tell it.
    fn retry<T, E>(
        &mut self,
        attempts: &mut Attempts<E>,
        end: StepEnd,
        error: String,
        delay: Duration,
        timed_out: Option<Stop>,
    ) -> AttemptRun<T, E> {
        let index = attempts.index();
        let step = self.shared.flow().step_name(index);
        self.hooks
            .step_retrying(self.id, &self.shared, index, attempts.begun, delay, &error);
        attempts.record(step, end, Some(error), Some(delay));
        AttemptRun::Retry(timed_out)
    }
}

pin_project! {
    /// The future [`Scope::attempt`] returns: one attempt of a step with a policy.
    /// Like a step's race, an attempt that started children and ends while some run parks
    /// how it ended and ends once they have (`race.rs`).
    #[must_use = "futures do nothing unless awaited"]
    pub struct AttemptRace<'a, F: Future, E> {
        scope: &'a mut Scope,
        attempts: &'a mut Attempts<E>,
        began: bool,
        // This attempt armed the timer (its step has a `timeout`).
        timed: bool,
        timer: Option<&'a mut StepTimer>,
        parked: Option<Box<Raced<F::Output>>>,
        #[pin]
        run: F,
    }
}

impl<F, T, E> Future for AttemptRace<'_, F, E>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = AttemptRun<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<AttemptRun<T, E>> {
        let mut this = self.project();
        let scope = &mut **this.scope;
        let attempts = &mut **this.attempts;
        let index = attempts.index();
        if this.parked.is_some() {
            std::task::ready!(scope.poll_children(cx));
            return match this.parked.take() {
                Some(raced) => Poll::Ready(scope.end_attempt(attempts, *this.began, *raced)),
                None => Poll::Pending,
            };
        }
        // Set when this poll put the attempt under the watch: its limit is not checked on
        // that poll (the watch's ask, if it comes, wakes the task).
        let mut just_watched = false;
        let raced = 'raced: {
            if scope.must_stop(cx) {
                break 'raced Raced::Cancelled;
            }
            if !*this.began {
                if attempts.begun == 0 {
                    // The step begins with its first attempt; when, the timeline knows (read
                    // back only if needed: a time limit, a record, a budget).
                    if scope.begin_step(index).is_none() {
                        break 'raced Raced::Cancelled;
                    }
                } else if let Some(retrying) = attempts.retrying.as_mut() {
                    retrying.started_at = Instant::now();
                }
                attempts.begun += 1;
                *this.began = true;
                if let Some(timer) = this.timer.as_deref_mut() {
                    let limit = timer.limit_nanos(scope.shared.flow(), index);
                    if limit != 0 {
                        let start = scope.attempt_start_offset(attempts);
                        scope.arm_timer(timer, limit, start, cx);
                        *this.timed = true;
                        just_watched = timer.is_watched();
                    }
                }
            }
            // The attempt is not polled past its time limit.
            if *this.timed && !just_watched {
                if let Some(timer) = this.timer.as_deref_mut() {
                    if scope.timer_expired(timer, cx) {
                        // For the cleanup's reason and the ending (cold: a limit was reached).
                        let limit = timer.limit(scope.shared.flow(), index).unwrap_or_default();
                        scope.shared.cell().record_step_limit(limit);
                        break 'raced Raced::TimedOut;
                    }
                }
            }
            match scope.poll_run(index, this.run.as_mut(), cx) {
                Poll::Ready(raced) => raced,
                Poll::Pending => return Poll::Pending,
            }
        };
        // The attempt's mark or alarm goes (see `Scope::end_timer`).
        if let Some(timer) = this.timer.as_deref_mut() {
            let completed = matches!(raced, Raced::Returned(Ok(_)));
            scope.end_timer(timer, index, completed);
        }
        if scope.has_children() {
            *this.parked = Some(Box::new(raced));
            std::task::ready!(scope.poll_children(cx));
            return match this.parked.take() {
                Some(raced) => Poll::Ready(scope.end_attempt(attempts, *this.began, *raced)),
                None => Poll::Pending,
            };
        }
        Poll::Ready(scope.end_attempt(attempts, *this.began, raced))
    }
}
