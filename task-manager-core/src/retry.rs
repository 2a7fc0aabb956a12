//! A step's retry policy (`#[step(retry = policy_fn)]`, `fn policy_fn() -> Retry<E>`): how
//! many attempts, how long to wait between them, which failures are worth another attempt.
//!
//! The backoff math is a few lines, written here rather than taken from a crate, so that the
//! runtime keeps its small set of dependencies: the delay before retry `n` (1 for the second
//! attempt) is `min(cap, initial * factor^(n-1))`, then jittered. The jitter's random numbers
//! come from a SplitMix64 sequence seeded by [`Retry::seed`] (by default the task's id), so
//! a test that fixes the seed gets the same delays on every run.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// How the delay before a retry is spread, so that many tasks failing together do not all
/// retry at the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// The computed delay, as it is.
    #[default]
    None,
    /// A uniformly random delay between zero and the computed delay.
    Full,
    /// Half the computed delay, plus a uniformly random delay up to the other half.
    Equal,
}

/// A step's retry policy. Written by a function the step names, `#[step(retry = policy_fn)]`
/// with `fn policy_fn() -> Retry<E>` (`E` the step's error type), called when an attempt of
/// the step first fails in a task (at most once per task; a step whose first attempt
/// succeeds never calls it).
///
/// By default: 3 attempts in all, 100 ms before the second, doubling, at most 10 s apart,
/// no jitter, no time budget, every error retried, timeouts retried, panics not retried (a
/// panic ends the task, [`Ending::Panicked`](crate::Ending::Panicked), unless
/// [`retry_panics`](Self::retry_panics) says otherwise).
///
/// ```
/// use std::time::Duration;
/// use task_manager_core::{Jitter, Retry};
///
/// #[derive(Debug)]
/// enum PayError { Declined, Unavailable }
///
/// fn payment_retries() -> Retry<PayError> {
///     Retry::attempts(4)
///         .backoff(Duration::from_millis(200), Duration::from_secs(2))
///         .jitter(Jitter::Equal)
///         .budget(Duration::from_secs(10))
///         .retry_if(|error| matches!(error, PayError::Unavailable))
/// }
///
/// let policy = payment_retries();
/// assert!(policy.is_retryable(&PayError::Unavailable));
/// assert!(!policy.is_retryable(&PayError::Declined));
/// assert_eq!(policy.max_attempts(), 4);
/// // Without jitter: 200 ms, 400 ms, 800 ms, then capped.
/// let plain = Retry::<PayError>::attempts(6).backoff(Duration::from_millis(200), Duration::from_secs(1));
/// assert_eq!(plain.delay(1, 0), Duration::from_millis(200));
/// assert_eq!(plain.delay(3, 0), Duration::from_millis(800));
/// assert_eq!(plain.delay(4, 0), Duration::from_secs(1));
/// ```
pub struct Retry<E> {
    max_attempts: u32,
    initial: Duration,
    factor: u32,
    cap: Duration,
    jitter: Jitter,
    seed: Option<u64>,
    budget: Option<Duration>,
    retry_timeouts: bool,
    retry_panics: bool,
    retry_if: Option<Classifier<E>>,
}

/// Decides whether an error is worth another attempt.
type Classifier<E> = Arc<dyn Fn(&E) -> bool + Send + Sync>;

impl<E> Clone for Retry<E> {
    fn clone(&self) -> Self {
        Retry {
            retry_if: self.retry_if.clone(),
            ..*self
        }
    }
}

impl<E> fmt::Debug for Retry<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("max_attempts", &self.max_attempts)
            .field("initial", &self.initial)
            .field("factor", &self.factor)
            .field("cap", &self.cap)
            .field("jitter", &self.jitter)
            .field("seed", &self.seed)
            .field("budget", &self.budget)
            .field("retry_timeouts", &self.retry_timeouts)
            .field("retry_panics", &self.retry_panics)
            .field("retry_if", &self.retry_if.as_ref().map(|_| ".."))
            .finish()
    }
}

impl<E> Default for Retry<E> {
    fn default() -> Self {
        Retry::attempts(3)
    }
}

impl<E> Retry<E> {
    /// A policy of at most `max_attempts` attempts in all (the first included), with the
    /// default backoff. `0` counts as `1` (a single attempt, no retry).
    pub fn attempts(max_attempts: u32) -> Self {
        Retry {
            max_attempts: max_attempts.max(1),
            initial: Duration::from_millis(100),
            factor: 2,
            cap: Duration::from_secs(10),
            jitter: Jitter::None,
            seed: None,
            budget: None,
            retry_timeouts: true,
            retry_panics: false,
            retry_if: None,
        }
    }

    /// Exponential backoff: `initial` before the second attempt, multiplied by the factor
    /// (2 unless [`factor`](Self::factor) says otherwise) before each later one, never more
    /// than `cap`.
    #[must_use]
    pub fn backoff(self, initial: Duration, cap: Duration) -> Self {
        Retry {
            initial,
            cap,
            ..self
        }
    }

    /// The same delay before every retry.
    #[must_use]
    pub fn fixed(self, delay: Duration) -> Self {
        Retry {
            initial: delay,
            cap: delay,
            factor: 1,
            ..self
        }
    }

    /// The multiplier between two delays (2 by default; `0` counts as `1`).
    #[must_use]
    pub fn factor(self, factor: u32) -> Self {
        Retry {
            factor: factor.max(1),
            ..self
        }
    }

    /// How the delays are spread (none by default).
    #[must_use]
    pub fn jitter(self, jitter: Jitter) -> Self {
        Retry { jitter, ..self }
    }

    /// The seed of the jitter's random numbers: the same seed gives the same delays. By
    /// default each task uses its own id.
    #[must_use]
    pub fn seed(self, seed: u64) -> Self {
        Retry {
            seed: Some(seed),
            ..self
        }
    }

    /// The step's whole time, from its first attempt's start: no retry is started whose
    /// delay would end past it (the last failure then ends the task).
    #[must_use]
    pub fn budget(self, budget: Duration) -> Self {
        Retry {
            budget: Some(budget),
            ..self
        }
    }

    /// Whether an attempt that ran longer than the step's `timeout` is retried (yes by default).
    #[must_use]
    pub fn retry_timeouts(self, retry: bool) -> Self {
        Retry {
            retry_timeouts: retry,
            ..self
        }
    }

    /// Whether an attempt that panicked is retried (no by default). The panicked attempt's
    /// future is dropped and the step's cleanup runs with
    /// [`CancelReason::StepPanicked`](crate::CancelReason::StepPanicked) before the wait, as
    /// for a timed-out attempt; the last attempt's panic ends the task `Panicked`.
    #[must_use]
    pub fn retry_panics(self, retry: bool) -> Self {
        Retry {
            retry_panics: retry,
            ..self
        }
    }

    /// Which errors are worth another attempt (every one by default): an error for which
    /// `retryable` says `false` is permanent, and ends the task at once.
    #[must_use]
    pub fn retry_if(self, retryable: impl Fn(&E) -> bool + Send + Sync + 'static) -> Self {
        Retry {
            retry_if: Some(Arc::new(retryable)),
            ..self
        }
    }

    /// At most this many attempts, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Whether `error` is worth another attempt (see [`retry_if`](Self::retry_if)).
    pub fn is_retryable(&self, error: &E) -> bool {
        self.retry_if
            .as_ref()
            .is_none_or(|retryable| retryable(error))
    }

    /// Whether a timed-out attempt is worth another one.
    pub fn retries_timeouts(&self) -> bool {
        self.retry_timeouts
    }

    /// Whether an attempt that panicked is worth another one.
    pub fn retries_panics(&self) -> bool {
        self.retry_panics
    }

    /// The step's time budget, if it has one.
    pub fn time_budget(&self) -> Option<Duration> {
        self.budget
    }

    /// The seed the jitter starts from, if one was set.
    pub fn jitter_seed(&self) -> Option<u64> {
        self.seed
    }

    /// The delay before retry `retry` (1: before the second attempt), with `random` as the
    /// jitter's random number (ignored without jitter).
    pub fn delay(&self, retry: u32, random: u64) -> Duration {
        let mut base = self.initial;
        for _ in 1..retry {
            if base >= self.cap {
                break;
            }
            base = base.saturating_mul(self.factor);
        }
        let base = base.min(self.cap);
        let nanos = u64::try_from(base.as_nanos()).unwrap_or(u64::MAX);
        let jittered = match self.jitter {
            Jitter::None => nanos,
            Jitter::Full => uniform(random, nanos),
            Jitter::Equal => nanos / 2 + uniform(random, nanos - nanos / 2),
        };
        Duration::from_nanos(jittered)
    }
}

/// A number in `0..=bound` from a random `u64` (the high bits of a 128-bit product: no bias
/// worth speaking of at these sizes, no loop).
fn uniform(random: u64, bound: u64) -> u64 {
    let wide = u128::from(random) * (u128::from(bound) + 1);
    u64::try_from(wide >> 64).unwrap_or(bound)
}

/// SplitMix64: a tiny, well-mixed sequence of random numbers, fully set by its seed.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix(u64);

impl SplitMix {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let policy = Retry::<()>::attempts(10)
            .backoff(Duration::from_millis(100), Duration::from_millis(500));
        let delays: Vec<_> = (1..=5).map(|retry| policy.delay(retry, 0)).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500].map(Duration::from_millis));
    }

    #[test]
    fn jitter_stays_in_its_range_and_is_set_by_the_seed() {
        let full = Retry::<()>::attempts(3)
            .fixed(Duration::from_millis(100))
            .jitter(Jitter::Full);
        let equal = full.clone().jitter(Jitter::Equal);
        let (mut a, mut b) = (SplitMix::new(7), SplitMix::new(7));
        for _ in 0..1000 {
            let (x, y) = (a.next(), b.next());
            assert_eq!(x, y);
            assert!(full.delay(1, x) <= Duration::from_millis(100));
            let delay = equal.delay(1, x);
            assert!(delay >= Duration::from_millis(50) && delay <= Duration::from_millis(100));
        }
        assert_eq!(uniform(u64::MAX, 10), 10);
        assert_eq!(uniform(0, 10), 0);
    }

    #[test]
    fn the_classifier_decides_what_is_retried() {
        let policy = Retry::<i32>::default().retry_if(|code| *code >= 500);
        assert!(policy.is_retryable(&503));
        assert!(!policy.is_retryable(&404));
        assert!(Retry::<i32>::default().is_retryable(&404));
        assert_eq!(Retry::<i32>::attempts(0).max_attempts(), 1);
    }
}
