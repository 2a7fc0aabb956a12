//! Compile-time checks that `#[flow]` threads through the code it writes, so that a misuse
//! only rustc can judge (a type, `Send`) is reported on the user's own token, in words.
//!
//! Each check is an identity at run time: a trait implemented for exactly the types that
//! are right (`impl<T> NextInput<T> for T`), so that any other type finds no impl at all
//! and rustc prints the trait's `#[diagnostic::on_unimplemented]` message. The macro spans
//! each call on the user's token (the input parameter's type, the error type, ...), which
//! is where the error lands. A check that passes the value through (rather than a separate
//! assertion) is what keeps a misuse to one error: the code after it sees the right type.

use std::future::Future;
use std::marker::PhantomData;

use crate::__private::{submit, Scope, StepLimits};
use crate::error::SubmitError;
use crate::flow::FlowInfo;
use crate::handle::TaskHandle;
use crate::manager::TaskManager;
use crate::outcome::Outcome;
use crate::passport::Passport;
use crate::retry::Retry;
use crate::task::Task;

/// A step's input parameter against the previous step's output.
#[diagnostic::on_unimplemented(
    message = "this step takes `{Input}`, but the step before it returns `{Self}`",
    label = "expected `{Self}`, the previous step's output",
    note = "a step's input parameter receives the `Ok` value of the step before it: make this parameter `{Self}`, or make the step before return `Result<{Input}, _>`"
)]
pub trait NextInput<Input> {
    /// The previous step's output, as this step's input.
    fn into_input(self) -> Input;
}

impl<T> NextInput<T> for T {
    fn into_input(self) -> T {
        self
    }
}

/// A step without an input parameter against the previous step's output, which it would drop.
#[diagnostic::on_unimplemented(
    message = "this step takes no input, but the step before it returns `{Self}`",
    label = "add a parameter `input: {Self}` after the task",
    note = "a step receives the `Ok` value of the step before it; only a step that follows one returning `Result<(), _>` takes no input"
)]
pub trait NoInput {}

impl NoInput for () {}

/// Checks that the previous step's output is `()` (see [`NoInput`]).
pub fn no_input<T: NoInput>(_previous_output: T) {}

/// A step's error type against the flow's (the last step's).
#[diagnostic::on_unimplemented(
    message = "every step of a flow returns the same error type: this one returns `{Self}`, the flow's is `{FlowError}`",
    label = "expected `{FlowError}`, the last step's error type",
    note = "the task's error is the last step's error type; return `{FlowError}` here (convert with `.map_err(..)` inside the step), or give the whole flow one error enum"
)]
pub trait SameError<FlowError> {
    /// The step's error, as the flow's.
    fn into_flow_error(self) -> FlowError;
}

impl<E> SameError<E> for E {
    fn into_flow_error(self) -> E {
        self
    }
}

/// The task parameter of a later step or a cleanup against the flow's (the first step's).
#[diagnostic::on_unimplemented(
    message = "every step and cleanup of a flow takes the same task context: this one takes `&mut {StepTask}`, the flow's is `&mut {Self}`",
    label = "expected `&mut {Self}`, as the first step takes",
    note = "the first step's `task: &mut Task<Payload, Info>` fixes the payload and runtime info types of the whole flow"
)]
pub trait SameTask<StepTask> {
    /// The flow's task context, as this step's parameter.
    fn as_step_task(&mut self) -> &mut StepTask;
}

impl<T> SameTask<T> for T {
    fn as_step_task(&mut self) -> &mut T {
        self
    }
}

/// A cleanup's reason parameter against the `CancelReason` the flow hands it, by value.
#[diagnostic::on_unimplemented(
    message = "a cleanup takes the reason it was cancelled by value, `reason: CancelReason`, not `{Reason}`",
    label = "expected `CancelReason`",
    note = "the flow hands each cleanup the `CancelReason` the task was stopped for, which the cleanup owns: write `reason: CancelReason` (and borrow it inside the cleanup if you need to)"
)]
pub trait CleanupReason<Reason> {
    /// The reason, as the cleanup's parameter.
    fn into_reason(self) -> Reason;
}

impl<T> CleanupReason<T> for T {
    fn into_reason(self) -> T {
        self
    }
}

/// What a step's `retry = ..` function returns, against the step's error type.
#[diagnostic::on_unimplemented(
    message = "a `retry` function returns the step's policy, `Retry<{StepError}>`, not `{Self}`",
    label = "expected `fn() -> Retry<{StepError}>`",
    note = "write `fn policy() -> task_manager_core::Retry<{StepError}> {{ Retry::attempts(3) }}` (the error type is this step's) and name it in `#[step(retry = policy)]`"
)]
pub trait RetryPolicy<StepError> {
    /// The policy, with how its step's errors are described.
    fn into_policy(self) -> CheckedPolicy<StepError>
    where
        StepError: RetryError;
}

impl<E> RetryPolicy<E> for Retry<E> {
    fn into_policy(self) -> CheckedPolicy<E>
    where
        E: RetryError,
    {
        CheckedPolicy {
            policy: self,
            describe: <E as RetryError>::describe,
        }
    }
}

/// A step's retry policy, once checked: the error type's `Display` is known to exist (the
/// check that says so is the only place a missing one is reported).
pub struct CheckedPolicy<E> {
    pub(crate) policy: Retry<E>,
    pub(crate) describe: fn(&E) -> String,
}

/// The error type of a step with `retry`: each failed attempt is reported by its `Display`.
#[diagnostic::on_unimplemented(
    message = "a step with `retry` reports each failed attempt's error by its `Display`: `{Self}` must implement `std::fmt::Display`",
    label = "`{Self}` does not implement `Display`",
    note = "implement `std::fmt::Display` for `{Self}` (`thiserror` derives it), or remove `retry = ..` from this step"
)]
pub trait RetryError {
    /// What the report and the events say of a failed attempt.
    fn describe(&self) -> String;
}

impl<E: std::fmt::Display> RetryError for E {
    fn describe(&self) -> String {
        self.to_string()
    }
}

/// The input of a step with `retry`: given to each attempt, so taken again from the
/// previous step's output each time.
#[diagnostic::on_unimplemented(
    message = "a step with `retry` is given its input once per attempt: `{Self}` must be `Clone`",
    label = "`{Self}` is not `Clone`",
    note = "derive or implement `Clone` for `{Self}` (or pass an `Arc` of it), or remove `retry = ..` from this step"
)]
pub trait RetryInput: Sized {
    /// The input, for one more attempt.
    fn input_again(&self) -> Self;
}

impl<T: Clone> RetryInput for T {
    fn input_again(&self) -> T {
        self.clone()
    }
}

/// The output of a step with `compensate`: a clone is kept for its compensation.
#[diagnostic::on_unimplemented(
    message = "a step with `compensate` keeps a copy of its output for its compensation: `{Self}` must be `Clone`",
    label = "`{Self}` is not `Clone`",
    note = "derive or implement `Clone` for `{Self}` (or return an `Arc` of it), or remove `compensate = ..` from this step"
)]
pub trait CompensatedOutput: Sized {
    /// The copy kept for the compensation.
    fn keep(&self) -> Self;
}

impl<T: Clone> CompensatedOutput for T {
    fn keep(&self) -> T {
        self.clone()
    }
}

/// A compensation's output parameter against its step's output.
#[diagnostic::on_unimplemented(
    message = "this compensation takes `{Output}`, but its step returns `{Self}`",
    label = "expected `{Self}`, the step's output",
    note = "a compensation is given (a clone of) the `Ok` value of the step it undoes: make this parameter `{Self}`"
)]
pub trait CompensationInput<Output> {
    /// The step's kept output, as the compensation's parameter.
    fn into_output(self) -> Output;
}

impl<T> CompensationInput<T> for T {
    fn into_output(self) -> T {
        self
    }
}

/// Checks that a compensation's future is `Send`, as [`step_is_send`] does for a step.
pub fn compensation_is_send<F>(compensation: F) -> impl Future<Output = F::Output> + Send
where
    F: Future + Send, // a task moves between the runtime's threads, its compensations too
{
    compensation
}

/// Checks that a step's future is `Send`: a task moves between the runtime's threads.
///
/// rustc names the step in the error ("future returned by `send` is not `Send`") and
/// points at the `.await` that holds the culprit. The task's own `Send` check proves the
/// same bound again; the macro gives this call the task's span, so rustc prints one error.
pub fn step_is_send<F>(step: F) -> impl Future<Output = F::Output> + Send
where
    F: Future + Send, // a task moves between the runtime's threads, and its steps with it
{
    step
}

/// [`submit`](crate::__private::submit), with the runtime info type as an argument of its
/// own: the macro spans that argument on the user's info type, so that info which is not
/// `Default` (or not `Send`) is reported there, as rustc blames the one argument whose
/// type holds the unsatisfied parameter.
pub fn submit_flow<P, R, T, E, Fut>(
    manager: &TaskManager,
    flow: &'static FlowInfo,
    passport: Passport<P>,
    _info: PhantomData<R>,
    body: impl FnOnce(Task<P, R>, Scope, StepLimits) -> Fut,
) -> Result<TaskHandle<T, E, R>, SubmitError>
where
    R: Default, // a task's runtime info starts as `Default::default()`
    Fut: Future<Output = Outcome<T, E, R>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    R: Send + 'static, // the runtime info moves with the task between threads
{
    submit(manager, flow, passport, body)
}

/// [`submit_flow`] for a flow with `#[flow(on_owner_lost = resume)]`: `state` is the task's
/// payload and runtime info as the store keeps them (`None` on a manager without a
/// cluster), recorded with the task's flow at its submission, so that a task lost before
/// its first step is resumed from it.
pub fn submit_resumable_flow<P, R, T, E, Fut>(
    manager: &TaskManager,
    flow: &'static FlowInfo,
    passport: Passport<P>,
    _info: PhantomData<R>,
    state: Option<crate::run::SubmittedState>,
    body: impl FnOnce(Task<P, R>, Scope, StepLimits) -> Fut,
) -> Result<TaskHandle<T, E, R>, SubmitError>
where
    R: Default, // a task's runtime info starts as `Default::default()`
    Fut: Future<Output = Outcome<T, E, R>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    R: Send + 'static, // the runtime info moves with the task between threads
{
    crate::run::submit_stating(manager, flow, passport, state, body)
}

/// Checks that a cleanup's future is `Send`, as [`step_is_send`] does for a step.
pub fn cleanup_is_send<F>(cleanup: F) -> impl Future<Output = ()> + Send
where
    F: Future<Output = ()> + Send, // a task moves between the runtime's threads, its cleanups too
{
    cleanup
}
