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
use tokio::time::{Instant, Sleep};

use crate::checks::CheckedPolicy;
use crate::cleanup::Cleanup;
use crate::report::{Attempt, StepEnd};
use crate::retry::{Retry, SplitMix};
use crate::run::race::{CleanupBody, Raced};
use crate::run::scope::{Scope, Stop, StopKind};

/// One step's attempts: its policy, how many began, the records of those that failed.
/// A local of the step's loop in the task's state machine: only steps with a policy carry it.
pub struct Attempts<E> {
    index: u32,
    /// Attempts begun so far.
    begun: u32,
    policy: Option<Retry<E>>,
    describe: fn(&E) -> String,
    random: SplitMix,
    /// When the current attempt began.
    started_at: Option<Instant>,
    /// When the first attempt began (for the policy's budget).
    first_started_at: Option<Instant>,
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
    /// overran its time limit: its cleanup runs first ([`Scope::attempt_cleanup`]).
    Retry(Option<Stop>),
}

impl<E> Attempts<E> {
    fn new(index: usize, policy: Option<Retry<E>>, describe: fn(&E) -> String, seed: u64) -> Self {
        Attempts {
            index: index as u32,
            begun: 0,
            random: SplitMix::new(policy.as_ref().and_then(Retry::jitter_seed).unwrap_or(seed)),
            policy,
            describe,
            started_at: None,
            first_started_at: None,
            delay: Duration::ZERO,
            records: Vec::new(),
        }
    }

    fn index(&self) -> usize {
        self.index as usize
    }

    /// Whether the attempt that just failed gets another one, and after which wait: the
    /// policy allows it (`retryable`), attempts are left, and the wait ends within the budget.
    fn next_delay(&mut self, retryable: impl FnOnce(&Retry<E>) -> bool) -> Option<Duration> {
        let policy = self.policy.as_ref()?;
        if self.begun >= policy.max_attempts() || !retryable(policy) {
            return None;
        }
        let delay = policy.delay(self.begun, self.random.next());
        if let (Some(budget), Some(first)) = (policy.time_budget(), self.first_started_at) {
            if first.elapsed().saturating_add(delay) > budget {
                return None;
            }
        }
        Some(delay)
    }

    /// Records the attempt that just ended.
    fn record(
        &mut self,
        step: &'static str,
        end: StepEnd,
        error: Option<String>,
        delay: Option<Duration>,
    ) {
        let started_at = self.started_at.unwrap_or_else(Instant::now);
        self.records.push(Attempt {
            step,
            number: self.begun,
            started_at,
            duration: started_at.elapsed(),
            end,
            error,
            delay,
            cleanup: None,
        });
    }
}

fn no_description<E>(_: &E) -> String {
    String::new()
}

impl Scope {
    /// The attempts of step `index`, which has a time limit and no retry policy: one attempt.
    pub fn attempt_once<E>(&mut self, index: usize) -> Attempts<E> {
        self.hooks.step_next(self.id, &self.shared, index);
        self.shared.set_step(index);
        self.tell_step(index);
        Attempts::new(index, None, no_description::<E>, 0)
    }

    /// The attempts of step `index`, retried as `policy` says. The error's `Display` is
    /// what the report and the `StepRetrying` event say of a failed attempt.
    pub fn attempts<E>(&mut self, index: usize, policy: CheckedPolicy<E>) -> Attempts<E> {
        self.hooks.step_next(self.id, &self.shared, index);
        self.shared.set_step(index);
        self.tell_step(index);
        // The task's id as the jitter's seed, unless the policy sets one.
        let id = self.id.as_u128();
        let seed = (id as u64) ^ ((id >> 64) as u64);
        Attempts::new(index, Some(policy.policy), policy.describe, seed)
    }

    /// The next attempt of the step, `run`: raced against the task's cancel and deadline and,
    /// if the step has a `timeout`, against its own time limit, counted from its first poll.
    ///
    /// `timer` is the task's one [`StepTimer`], shared by its timed steps (`None` in a flow
    /// without any).
    pub fn attempt<'a, F, T, E>(
        &'a mut self,
        attempts: &'a mut Attempts<E>,
        timer: Option<Pin<&'a mut StepTimer>>,
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
            run,
        }
    }

    /// The cleanup of an attempt that overran its time limit and is retried: `cleanup` is
    /// called with [`CancelReason::StepTimeout`](crate::CancelReason::StepTimeout) and run
    /// to its end (or the cleanup deadline) before the wait and the next attempt. What became
    /// of it is kept in the attempt's record. `None`: the attempt failed with an error, and
    /// there is nothing to clean up.
    pub async fn attempt_cleanup<E, C, F>(
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
        let reason = stop.reason(&self.shared);
        self.hooks
            .attempt_cleanup_started(self.id, &self.shared, &reason);
        let step = self.shared.flow().step_name(stop.index());
        let body = CleanupBody::new(step, self.cleanup_limit(), cleanup(reason));
        let body = std::pin::pin!(body);
        let hooks = &self.hooks;
        let mut body = body;
        let done: Cleanup =
            std::future::poll_fn(|cx| hooks.in_step(|| body.as_mut().poll(cx))).await;
        self.hooks
            .attempt_cleanup_finished(self.id, &self.shared, &done);
        if let Some(last) = attempts.records.last_mut() {
            last.cleanup = Some(done);
        }
    }

    /// The wait before the next attempt, raced against the task's cancel and deadline. A
    /// cancel during the wait ends the task at once: no attempt is in progress, so no
    /// cleanup runs, and the task ends `Cancelled` with no step in progress.
    pub async fn backoff<E>(&mut self, attempts: &mut Attempts<E>) -> Option<Stop> {
        let index = attempts.index();
        let sleep = tokio::time::sleep(attempts.delay);
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
        self.hooks.cancel_requested(self.id, &self.shared);
        // The step's run ends here, between two attempts.
        let submitted_at = self.shared.live().submitted_at;
        let duration = self.timeline.end(submitted_at, StepEnd::Cancelled);
        self.hooks
            .step_finished(self.id, &self.shared, index, StepEnd::Cancelled, duration);
        self.keep_attempts(attempts);
        Some(Stop::before(index))
    }

    /// When the current attempt began: the first one's start is the step's, in the timeline.
    fn attempt_started_at<E>(&mut self, attempts: &mut Attempts<E>) -> Instant {
        if attempts.started_at.is_none() {
            let submitted_at = self.shared.live().submitted_at;
            let start = self.timeline.last_start(submitted_at);
            attempts.first_started_at = start;
            attempts.started_at = start;
        }
        attempts.started_at.unwrap_or_else(Instant::now)
    }

    /// Hands a retried step's attempt records to the task's cell, for the report.
    fn keep_attempts<E>(&mut self, attempts: &mut Attempts<E>) {
        if !attempts.records.is_empty() {
            self.timeline.retried = true;
            self.shared.cell().record_attempts(&mut attempts.records);
        }
    }

    /// The end of an attempt's race: the policy decides whether another attempt follows.
    fn end_attempt<T, E>(
        &mut self,
        attempts: &mut Attempts<E>,
        began: bool,
        raced: Raced<Result<T, E>>,
    ) -> AttemptRun<T, E> {
        let index = attempts.index();
        let step = self.shared.flow().step_name(index);
        if began && attempts.begun == 1 && !matches!(raced, Raced::Returned(Ok(_))) {
            // A failed first attempt's record and the policy's budget need its start.
            self.attempt_started_at(attempts);
        }
        let (run, end) = match raced {
            Raced::Returned(Ok(value)) => {
                if !attempts.records.is_empty() {
                    attempts.record(step, StepEnd::Completed, None, None);
                }
                (AttemptRun::Completed(value), StepEnd::Completed)
            }
            Raced::Returned(Err(error)) => {
                match attempts.next_delay(|policy| policy.is_retryable(&error)) {
                    Some(delay) => {
                        let text = (attempts.describe)(&error);
                        return self.retry(attempts, StepEnd::Failed, text, delay, None);
                    }
                    None => {
                        if !attempts.records.is_empty() {
                            let text = (attempts.describe)(&error);
                            attempts.record(step, StepEnd::Failed, Some(text), None);
                        }
                        (AttemptRun::Failed(error), StepEnd::Failed)
                    }
                }
            }
            Raced::TimedOut => {
                let limit = self.shared.flow().step_timeout(index).unwrap_or_default();
                let text = format!("ran longer than its limit of {limit:?}");
                if let Some(delay) = attempts.next_delay(Retry::retries_timeouts) {
                    let stop = Stop::new(index, true, StopKind::TimedOut);
                    return self.retry(attempts, StepEnd::TimedOut, text, delay, Some(stop));
                }
                if !attempts.records.is_empty() {
                    attempts.record(step, StepEnd::TimedOut, Some(text), None);
                }
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
                if began && !attempts.records.is_empty() {
                    attempts.record(step, StepEnd::Cancelled, None, None);
                }
                (
                    AttemptRun::Stopped(Stop::new(index, began, StopKind::Cancelled)),
                    StepEnd::Cancelled,
                )
            }
            Raced::Panicked(message) => {
                self.hooks.step_panicked(index);
                if !attempts.records.is_empty() {
                    attempts.record(step, StepEnd::Panicked, Some(message.clone()), None);
                }
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
        attempts.delay = delay;
        self.hooks
            .step_retrying(self.id, &self.shared, index, attempts.begun, delay, &error);
        attempts.record(step, end, Some(error), Some(delay));
        AttemptRun::Retry(timed_out)
    }
}

pin_project! {
    /// The future [`Scope::attempt`] returns: one attempt of a step with a policy.
    #[must_use = "futures do nothing unless awaited"]
    pub struct AttemptRace<'a, F, E> {
        scope: &'a mut Scope,
        attempts: &'a mut Attempts<E>,
        began: bool,
        // This attempt armed the timer (its step has a `timeout`).
        timed: bool,
        timer: Option<Pin<&'a mut StepTimer>>,
        #[pin]
        run: F,
    }
}

pin_project! {
    /// The time limit of a flow's timed steps: one tokio timer per task, armed by each timed
    /// attempt and moved on by the next (moving a registered timer later is one
    /// compare-and-swap; creating, registering and dropping one per attempt costs some 850
    /// instructions), dropped after the flow's last timed step. A local of the task's body,
    /// written by `#[flow]` only in a flow with a `timeout` step.
    pub struct StepTimer {
        #[pin]
        sleep: Option<Sleep>,
        // The waker the timer last registered (its data and vtable addresses): a poll under
        // the same waker only reads whether the timer has fired, without registering it again
        // (a waker clone and two atomic operations), as the cancel signal does in `race.rs`.
        registered_waker: (usize, usize),
    }
}

impl StepTimer {
    /// No timer yet.
    #[allow(clippy::new_without_default)] // generated code only
    pub fn new() -> Self {
        StepTimer {
            sleep: None,
            registered_waker: (0, 0),
        }
    }

    fn arm(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.project();
        // The next poll registers the waker with the moved (or new) timer.
        *this.registered_waker = (0, 0);
        let mut sleep = this.sleep;
        match sleep.as_mut().as_pin_mut() {
            Some(armed) => armed.reset(deadline),
            None => sleep.set(Some(tokio::time::sleep_until(deadline))),
        }
    }

    fn poll_expired(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        let this = self.project();
        let Some(sleep) = this.sleep.as_pin_mut() else {
            return false;
        };
        let waker = cx.waker();
        let identity = (waker.data() as usize, waker.vtable() as *const _ as usize);
        if identity == *this.registered_waker {
            // Registered with this waker already: it wakes the task when it fires.
            return sleep.is_elapsed();
        }
        // Outside tokio's cooperative budget: a `Pending` then always means the waker is
        // registered (a spent budget would answer `Pending` without registering it).
        let mut unbudgeted = tokio::task::unconstrained(sleep);
        let fired = Pin::new(&mut unbudgeted).poll(cx).is_ready();
        if !fired {
            *this.registered_waker = identity;
        }
        fired
    }

    fn disarm(self: Pin<&mut Self>) {
        let mut this = self.project();
        *this.registered_waker = (0, 0);
        this.sleep.set(None);
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
        let raced = 'raced: {
            if scope.must_stop(cx) {
                break 'raced Raced::Cancelled;
            }
            if !*this.began {
                if attempts.begun == 0 {
                    // The step begins with its first attempt; when, the timeline knows (read
                    // back only if needed: a time limit, a record, a budget).
                    if !scope.begin_step(index) {
                        break 'raced Raced::Cancelled;
                    }
                } else {
                    attempts.started_at = Some(Instant::now());
                }
                attempts.begun += 1;
                *this.began = true;
                if let (Some(limit), Some(timer)) =
                    (scope.shared.flow().step_timeout(index), this.timer.as_mut())
                {
                    let start = scope.attempt_started_at(attempts);
                    timer.as_mut().arm(start + limit);
                    *this.timed = true;
                }
            }
            // The attempt is not polled past its time limit.
            if *this.timed {
                if let Some(timer) = this.timer.as_mut() {
                    if timer.as_mut().poll_expired(cx) {
                        break 'raced Raced::TimedOut;
                    }
                }
            }
            match scope.poll_run(index, this.run.as_mut(), cx) {
                Poll::Ready(raced) => raced,
                Poll::Pending => return Poll::Pending,
            }
        };
        // The timer stays armed (to be moved on) only while a later timed step will use it:
        // after the flow's last timed step, or an attempt that did not complete, it goes, so
        // that it neither wakes the task nor moves a paused clock once no step needs it. (A
        // step without a `timeout` between two timed ones may be woken once, for nothing.)
        if let Some(timer) = this.timer.as_mut() {
            let completed = matches!(raced, Raced::Returned(Ok(_)));
            if !completed || !scope.shared.flow().timed_after(index) {
                timer.as_mut().disarm();
            }
        }
        Poll::Ready(scope.end_attempt(attempts, *this.began, raced))
    }
}
