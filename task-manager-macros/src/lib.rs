//! The proc macros of task-manager: `#[flow]`, `#[step]` and `#[derive(HasTaskManager)]`.
//!
//! Use them through `task-manager-core`, which re-exports them; its docs of
//! `task_manager_core::flow` show them at work, with examples that run, and what `#[flow]`
//! expands to.
//!
//! Each entry point here only forwards: `ast` reads the user's code into a small model
//! (keeping the user's tokens for error spans), `attr` parses the attribute arguments,
//! `valid` checks the rules that need no type information (`borrows` finds a borrow in a
//! step's output type for it), `expand` and `step` write the code (with checks spanned on
//! the user's tokens for the rules only rustc can judge), `derive` writes
//! `HasTaskManager`; `names` holds the names all the written code shares (the runtime's
//! path, the generated locals). Every error is collected (`ctxt`) and reported at once.

#![deny(missing_docs)]

mod ast;
mod attr;
mod borrows;
mod ctxt;
mod derive;
mod duration;
mod expand;
mod names;
mod step;
mod steps_enum;
mod types;
mod valid;

use proc_macro::TokenStream;

/// # Reference
///
/// ```text
/// #[flow(name = <ident>, timeout = "<duration>", cleanup_timeout = "<duration>",
///        limit = <n>, queue = <n>, max_wait = "<duration>", steps = <Ident> | false,
///        report = full | minimal, crate = "<path>")]
/// impl <Type> {
///     #[step]                       // or #[step(cancel = <cleanup method>, resource = "<name>")]
///     async fn <step>(&self, task: &mut Task<Payload, Info>[, input: <previous output>])
///         -> Result<Output, Error> { .. }
///     ..
///     async fn <cleanup>(&self, task: &mut Task<Payload, Info>, reason: CancelReason) { .. }
/// }
/// ```
///
/// On an inherent `impl` block of a type that implements `HasTaskManager` (derive it), the
/// methods marked `#[step]` are the flow's steps, run in the order they are written. The
/// block is emitted as written (minus `#[step]`), plus one method:
///
/// ```text
/// pub fn execute_<name>(self: &Arc<Self>, passport: Passport<Payload>)
///     -> Result<TaskHandle<Output, Error, Info>, SubmitError>
/// ```
///
/// where `Payload` and `Info` come from the first step's task type, `Output` is the last
/// step's `Ok` type, and `Error` the steps' `Err` type; and the flow's step enum, next to
/// the block:
///
/// ```text
/// pub enum <Name>Step { <Step1>, <Step2>, .. }   // one variant per step, in order, CamelCase
/// ```
///
/// with `FLOW`, `ALL`, `index()`, `name()`, `from_index()`, `Display` and the runtime's
/// `FlowStep` trait.
///
/// ## Keys
///
/// - `name` (required): an identifier; the method is `execute_<name>`, and the flow is
///   called `"<name>"` in statuses, reports and errors.
/// - `timeout` (optional): the flow's default deadline, a string of whole numbers with
///   units, `"30s"`, `"250ms"`, `"1m 30s"` (units `ns`, `us`, `ms`, `s`, `m`, `h`; not zero),
///   counted from submission. Without it a task has no deadline unless its passport sets
///   one (`Passport::with_timeout`, which also overrides this one).
/// - `cleanup_timeout` (optional): how long a stopped step's cleanup may run before it is
///   dropped (the task then ends with `Cleanup::TimedOut`), in the syntax of `timeout`; it
///   replaces the manager's default (`TaskManagerBuilder::cleanup_timeout`).
/// - `limit` (optional, the queue add-on): at most this many of the flow's tasks run at once
///   on each manager (a positive integer); the others wait in the flow's queue, in priority
///   then submission order. A manager's builder (`TaskManager::builder().limit_flow(..)`)
///   may replace it.
/// - `queue` (optional, needs `limit`): how many tasks may wait (a positive integer; default
///   `Limit::DEFAULT_QUEUE_CAPACITY`); one more is refused at submission with
///   `SubmitError::QueueFull`.
/// - `max_wait` (optional, needs `limit`): how long a task may wait in the queue, counted
///   from submission, in the syntax of `timeout`; past it the task ends, without running a
///   step, with `CancelReason::QueueWaitExceeded`.
/// - `steps` (optional): the name of the generated step enum, `steps = QueryPhase`; or
///   `steps = false` to generate none (if the default `<Name>Step` clashes with an item of
///   yours). Default: the flow's name in CamelCase followed by `Step` (`QueryStep`).
/// - `report` (optional): `full` (the default) or `minimal`. With `minimal` the runner reads
///   no clock per step: the report lists the steps that began and how each ended, without
///   their times (`Report::step_times()` is `false`), unless an add-on or a `tracing` span
///   listens to the task, whose events need them.
/// - `crate` (optional): the path of the runtime crate as a string, for a crate that
///   re-exports it, `crate = "my_facade::task_manager_core"`. Default `::task_manager_core`.
///
/// ## Rules
///
/// The macro checks, and reports on the token at fault (every mistake at once):
///
/// - each step is an `async fn` taking `&self` (not `self` nor `&mut self`: the tasks of
///   one manager run at once), then `task: &mut Task<Payload, Info>` (or `&mut` an alias
///   whose name ends in `Task`), then at most one input; it is not `unsafe` and has no
///   type parameters (nor `impl Trait` parameters);
/// - the first step takes no input (it reads `task.payload()`); a later step takes the
///   previous step's `Ok` value, or nothing if that value is `()`;
/// - each step returns `Result<Output, Error>` (or an alias whose name ends in `Result`,
///   such as `io::Result<T>`);
/// - a step's `Output` owns its data: no reference or lifetime in it but `'static` ones
///   (`&'static str` is fine, `&str` or `Cow<'a, str>` is not), as it is moved into the
///   next step, which is lent the task (the last step's becomes the task's result);
/// - `cancel = <method>` names an `async fn` of the same block taking `&self`, the task
///   and `reason: CancelReason` by value, returning nothing; a step cannot be its own
///   cleanup.
///
/// rustc checks the rest, and the generated code makes it report those errors on the
/// user's tokens too: the steps take the same task type (the first step's fixes `Payload`
/// and `Info`), each input parameter's type is the previous step's output, every step has
/// the same error type (the last step's), a cleanup's reason parameter is `CancelReason`
/// (or an alias of it), `Info: Default + Send`, the steps' and cleanups' futures are
/// `Send`, the type implements `HasTaskManager`.
///
/// `#[cfg(..)]` on a step is honoured: a step compiled out is not part of the flow, and
/// its neighbours' types must meet. Helper attributes are recognised by the last segment of
/// their path (`#[task_manager_core::step]` works as `#[step]`).
#[proc_macro_attribute]
pub fn flow(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::flow(args.into(), item.into()).into()
}

/// # Reference
///
/// ```text
/// #[step]
/// #[step(cancel = <cleanup method>)]
/// #[step(cancel = <cleanup method>, resource = "<name>")]
/// ```
///
/// Marks an `async fn` of a `#[flow]` block as a step; the `#[flow]` on the block reads it
/// (see `flow` for the rules a step follows). Outside a `#[flow]` block it is an error.
///
/// ## Keys
///
/// - `cancel` (optional): the method of the same block that cleans up after this step when
///   the step is interrupted (a cancel, the deadline, a panic) after it began. Without it
///   the step has no cleanup, and the outcome's report says `Cleanup::NotDeclared`. The
///   cleanup does not run when the step returns `Err`, nor for a step that never began.
/// - `resource` (optional, the queue add-on): the name of a resource of the task manager
///   (`TaskManager::builder().resource("db", permits)`) that the step needs: it waits for one
///   of its permits before it begins, and holds it until it ends (through its cleanup if it
///   is stopped). A cancel while it waits stops the task before the step began: no cleanup.
///   A manager without that resource refuses the flow's tasks (`SubmitError::UnknownResource`).
#[proc_macro_attribute]
pub fn step(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::stray_step(args.into(), item.into()).into()
}

/// # Reference
///
/// ```text
/// #[derive(HasTaskManager)]
/// #[task_manager(crate = "<path>")]        // optional, as `crate` in `#[flow]`
/// struct <Type> {
///     #[task_manager]                      // needed only if there are several `TaskManager`s
///     <field>: TaskManager,
///     ..
/// }
/// ```
///
/// Implements `HasTaskManager` for a struct: its flows register their tasks in the field
/// whose type is named `TaskManager`, or in the field marked `#[task_manager]` (which
/// may also be of another type that implements `HasTaskManager`). Tuple structs work too.
#[proc_macro_derive(HasTaskManager, attributes(task_manager))]
pub fn derive_has_task_manager(input: TokenStream) -> TokenStream {
    derive::has_task_manager(input.into()).into()
}

#[cfg(test)]
mod expansion_page;
