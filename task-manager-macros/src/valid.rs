//! The rules the macro can check without type information. Each error sits on the user's
//! token at fault and says the rule and the fix. Types (does a step's output fit the next
//! step's input?) are left to rustc, on the user's spans; see `expand`.

use std::collections::HashMap;

use proc_macro2::Span;
use syn::{
    FnArg, GenericArgument, GenericParam, ImplItem, ImplItemFn, PathArguments, Receiver,
    ReturnType, Signature, Type, TypeParamBound,
};

use crate::ast::{Flow, Step};
use crate::attr::{FlowArgs, StepsEnum};
use crate::borrows::{self, Borrow};
use crate::ctxt::{self, Errors};
use crate::steps_enum;
use crate::types;

/// The signature a cleanup must have, for messages.
const CLEANUP_SIGNATURE: &str =
    "async fn(&self, task: &mut Task<Payload, Info>, reason: CancelReason)";

pub(crate) fn check(flow: &Flow, args: &FlowArgs, errors: &mut Errors) {
    if args.name.is_none() && !args.name_written {
        errors.at_span(
            Span::call_site(),
            "`#[flow]` needs a name: `#[flow(name = query)]` generates the method `execute_query`",
        );
    }
    check_limit_keys(args, errors);
    if let Some((_, trait_path, _)) = &flow.item.trait_ {
        errors.at(
            trait_path,
            "`#[flow]` goes on an inherent impl block (`impl MyManager { .. }`), not on a trait impl: the flow adds a method `execute_<name>` to the type itself",
        );
    }
    if flow.steps.is_empty() {
        errors.at(
            &flow.item.self_ty,
            "this flow has no steps: mark its async methods with `#[step]` (or `#[step(cancel = cleanup_method)]`), in the order they run",
        );
    }
    let methods: HashMap<String, &ImplItemFn> = flow
        .item
        .items
        .iter()
        .filter_map(|item| match item {
            ImplItem::Fn(method) => Some((method.sig.ident.to_string(), method)),
            _ => None,
        })
        .collect();
    check_step_enum(flow, args, errors);
    if args
        .on_owner_lost
        .as_ref()
        .is_some_and(|word| word == "resume")
    {
        for cfg in flow.steps.iter().filter_map(|step| step.cfgs.first()) {
            errors.at(
                cfg,
                "a flow with `on_owner_lost = resume` runs a lost task again from its step by index: its steps cannot be `#[cfg]`-ed; remove the `#[cfg]`, or use `on_owner_lost = cancel`",
            );
        }
    }
    for (position, step) in flow.steps.iter().enumerate() {
        check_step(
            step,
            position == 0,
            position + 1 == flow.steps.len(),
            errors,
        );
        check_policy(step, &methods, errors);
        if let Some(compensate) = &step.args.compensate {
            match methods.get(&compensate.to_string()) {
                None => errors.at(
                    compensate,
                    format_args!(
                        "no method `{compensate}` in this impl block: a step's compensation is a method of the same block, \
                         `async fn {compensate}(&self, task: &mut Task<Payload, Info>, output: StepOutput)`"
                    ),
                ),
                Some(method) if method.sig.ident == *step.name() => errors.at(
                    compensate,
                    format_args!(
                        "step `{compensate}` cannot be its own compensation: name another method, \
                         `async fn undo(&self, task: &mut Task<Payload, Info>, output: StepOutput)`"
                    ),
                ),
                Some(method) => check_compensation(method, errors),
            }
        }
        if let Some(cancel) = &step.args.cancel {
            match methods.get(&cancel.to_string()) {
                None => errors.at(
                    cancel,
                    format_args!(
                        "no method `{cancel}` in this impl block: a step's cleanup is a method of the same block, \
                         `async fn {cancel}(&self, task: &mut Task<Payload, Info>, reason: CancelReason)`"
                    ),
                ),
                Some(method) if method.sig.ident == *step.name() && step.cfgs.is_empty() => {
                    errors.at(
                        cancel,
                        format_args!(
                            "step `{cancel}` cannot be its own cleanup: name another method, `{CLEANUP_SIGNATURE}`"
                        ),
                    );
                }
                Some(method) => check_cleanup(method, errors),
            }
        }
    }
}

/// A compensation's signature: `async fn undo(&self, task: &mut Task<..>, output: Output)`.
fn check_compensation(method: &ImplItemFn, errors: &mut Errors) {
    let name = &method.sig.ident;
    let fix = format!(
        "async fn {name}(&self, task: &mut Task<Payload, Info>, output: StepOutput) -> Result<(), MyError>"
    );
    if method.sig.asyncness.is_none() {
        errors.at(
            method.sig.fn_token,
            format_args!("a compensation must be an `async fn`: `{fix}`"),
        );
    }
    if method.sig.receiver().is_none() || method.sig.inputs.len() != 3 {
        errors.at_span(
            method.sig.paren_token.span.join(),
            format_args!(
                "a compensation takes `&self`, the task and its step's output (a clone kept for it): `{fix}`"
            ),
        );
    }
}

/// A step's policy keys: a `retry` function that is a method of the block must take no
/// `self`.
fn check_policy(step: &Step, methods: &HashMap<String, &ImplItemFn>, errors: &mut Errors) {
    let Some(retry) = step.args.retry.as_ref().and_then(|path| path.get_ident()) else {
        return;
    };
    if let Some(method) = methods.get(&retry.to_string()) {
        if method.sig.receiver().is_some() || !method.sig.inputs.is_empty() {
            errors.at(
                &method.sig,
                format_args!(
                    "a retry policy function takes no parameter: `fn {retry}() -> Retry<MyError>`"
                ),
            );
        } else if method.sig.asyncness.is_some() {
            errors.at(
                method.sig.asyncness,
                format_args!(
                    "a retry policy function is a plain `fn`, not an `async fn`: `fn {retry}() -> Retry<MyError>`"
                ),
            );
        }
    }
}

/// Two steps whose names differ but give one variant of the step enum (`step_1`, `step1`).
/// Two methods of one name are rustc's to report.
fn check_step_enum(flow: &Flow, args: &FlowArgs, errors: &mut Errors) {
    if matches!(args.steps, Some(StepsEnum::Generate(false))) {
        return;
    }
    if let Some((earlier, step, variant)) = steps_enum::clashing_variant(flow) {
        if earlier.name() != step.name() {
            errors.at(
                step.name(),
                format_args!(
                    "steps `{}` and `{}` would both be the variant `{variant}` of the flow's step enum: \
                     rename one of them, or write `#[flow(.., steps = false)]` for no step enum",
                    earlier.name(),
                    step.name(),
                ),
            );
        }
    }
}

/// `queue` and `max_wait` describe the line of a limited flow: alone they mean nothing.
fn check_limit_keys(args: &FlowArgs, errors: &mut Errors) {
    if args.limit.is_some() {
        return;
    }
    if let Some(queue) = &args.queue {
        errors.at(queue, "`queue` sets the capacity of the line of a limited flow: add `limit = N` (how many tasks run at once)");
    }
    if let Some((_, literal)) = &args.max_wait {
        errors.at(literal, "`max_wait` bounds the wait in the line of a limited flow: add `limit = N` (how many tasks run at once)");
    }
}

fn check_step(step: &Step, is_first: bool, is_last: bool, errors: &mut Errors) {
    let sig = &step.method.sig;
    let name = &sig.ident;
    let what = format!("step `{name}`");
    // A `fn` that returns a future is an `async fn` written by hand: one error says so, and
    // its return type (the future) is not also reported as "not a `Result`".
    let returned_future = returned_future(sig);
    if sig.asyncness.is_none() {
        match &returned_future {
            Some(output) => errors.at(
                sig.fn_token,
                format_args!(
                    "{what} must be an `async fn`, not a `fn` that returns a future: write `async fn {name}(..) -> {}`",
                    output.map_or_else(|| "Result<Output, Error>".to_owned(), ctxt::pretty),
                ),
            ),
            None => errors.at(
                sig.fn_token,
                format_args!("{what} must be an `async fn`: write `async fn {name}(..)`"),
            ),
        }
    }
    check_not_unsafe(sig, &what, errors);
    check_not_generic(
        sig,
        &what,
        "a flow runs one concrete chain of types; put the type parameter on the impl block",
        errors,
    );
    let mut inputs = sig.inputs.iter();
    let fix = format!("async fn {name}(&self, task: &mut Task<Payload, Info>)");
    if !check_receiver(sig, inputs.next(), &what, &fix, errors) {
        return;
    }
    match inputs.next() {
        Some(task) => check_task_parameter(task, &what, errors),
        None => errors.at_span(
            sig.paren_token.span.join(),
            format_args!("{what} must take the task context after `&self`: `{fix}`"),
        ),
    }
    if let Some(input) = inputs.next() {
        if is_first {
            errors.at(
                input,
                format_args!(
                    "the first step `{name}` takes no input: it reads the passport's payload with `task.payload()`; \
                     remove this parameter"
                ),
            );
        }
    }
    for extra in inputs {
        errors.at(
            extra,
            format_args!("{what} takes at most one input, the previous step's output: return a tuple or a struct from that step instead"),
        );
    }
    match &sig.output {
        ReturnType::Default => errors.at_span(
            sig.paren_token.span.close(),
            format_args!("{what} must return `Result<Output, Error>`: add `-> Result<.., ..>` here (`std::convert::Infallible` is the error of a step that cannot fail)"),
        ),
        ReturnType::Type(..) if returned_future.is_some() => {}
        ReturnType::Type(_, ty) => {
            if let Some(problem) = not_a_result(ty) {
                errors.at(
                    ty,
                    format_args!("{what} must return `Result<Output, Error>`{problem}: its `Ok` value goes to the next step, its `Err` ends the task (`std::convert::Infallible` is the error of a step that cannot fail)"),
                );
            } else if let Some(borrow) = borrows::in_output(ty) {
                check_owned_output(&borrow, &what, is_last, errors);
            }
        }
    }
}

/// A step's output owns its data: it is moved on while the task is lent to the next step.
fn check_owned_output(borrow: &Borrow, what: &str, is_last: bool, errors: &mut Errors) {
    let why = if is_last {
        "the last step's output becomes the task's result, so it must own its data"
    } else {
        "a step's output is moved into the next step, so it must own its data"
    };
    let fix = "return an owned value (`String` rather than `&str`, `Vec<T>` rather than `&[T]`), an `Arc<..>`, or a clone";
    match borrow {
        Borrow::Reference(reference) => errors.at(
            reference,
            format_args!(
                "the output of {what} is a borrow, `{}`: {why}; {fix}",
                ctxt::pretty(reference)
            ),
        ),
        Borrow::Lifetime(lifetime) => errors.at(
            lifetime,
            format_args!("the output of {what} borrows for `{lifetime}`: {why}; {fix}"),
        ),
        Borrow::HiddenLifetime(segment) => errors.at(
            segment,
            format_args!(
                "the output of {what} borrows (`{}` holds a borrow whose lifetime is left out): {why}; {fix}",
                ctxt::pretty(segment)
            ),
        ),
    }
}

fn check_cleanup(method: &ImplItemFn, errors: &mut Errors) {
    let sig = &method.sig;
    let name = &sig.ident;
    let what = format!("the cleanup `{name}`");
    let fix =
        format!("async fn {name}(&self, task: &mut Task<Payload, Info>, reason: CancelReason)");
    if sig.asyncness.is_none() {
        errors.at(
            sig.fn_token,
            format_args!("{what} must be an `async fn`: write `{fix}`"),
        );
    }
    check_not_unsafe(sig, &what, errors);
    check_not_generic(
        sig,
        &what,
        "it runs with the flow's concrete task type",
        errors,
    );
    let mut inputs = sig.inputs.iter();
    if !check_receiver(sig, inputs.next(), &what, &fix, errors) {
        return check_cleanup_return(sig, &what, errors);
    }
    let rest: Vec<&FnArg> = inputs.collect();
    if let [task, reason, ..] = rest.as_slice() {
        check_task_parameter(task, &what, errors);
        check_reason_parameter(reason, &what, errors);
    }
    match rest.as_slice() {
        [_, _] => {}
        [_, _, extra @ ..] => {
            for extra in extra {
                errors.at(
                    extra,
                    format_args!("{what} takes the task and the cancel reason only: `{fix}`; remove this parameter"),
                );
            }
        }
        _ => errors.at_span(
            sig.paren_token.span.join(),
            format_args!("{what} takes the task and the reason it was cancelled: `{fix}`"),
        ),
    }
    check_cleanup_return(sig, &what, errors);
}

fn check_cleanup_return(sig: &Signature, what: &str, errors: &mut Errors) {
    // A `fn` that returns a future is told to be an `async fn`; its return type (the
    // future) is not also reported as "returns something".
    if returned_future(sig).is_some() {
        return;
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        if !matches!(&**ty, Type::Tuple(tuple) if tuple.elems.is_empty()) {
            errors.at(
                ty,
                format_args!("{what} returns nothing (a cleanup cannot fail the task, which is already stopping): remove `-> ..` and handle the error inside the cleanup"),
            );
        }
    }
}

/// The task context parameter: `task: &mut Task<P, R>`, or `&mut` an alias of `Task` named
/// like one (`MyTask`), which rustc checks.
fn check_task_parameter(arg: &FnArg, what: &str, errors: &mut Errors) {
    let FnArg::Typed(typed) = arg else { return };
    let Type::Reference(reference) = &*typed.ty else {
        return errors.at(
            arg,
            format_args!("the second parameter of {what} must be the task context, by `&mut`: `task: &mut Task<Payload, Info>`"),
        );
    };
    if reference.mutability.is_none() {
        return errors.at(
            arg,
            format_args!("the second parameter of {what} must be the task context, by `&mut`: `task: &mut Task<Payload, Info>`"),
        );
    }
    if !is_named_task(&reference.elem) {
        let written = ctxt::pretty(reference);
        errors.at(
            &reference.elem,
            format_args!(
                "the second parameter of {what} must be the task context `&mut Task<Payload, Info>`, not `{written}` \
                 (an alias of `Task` is recognised by a name that ends in `Task`, as `type QueryTask = Task<Sql, QueryInfo>`)"
            ),
        );
    }
}

/// The reason parameter: `reason: CancelReason`, by value. A type the macro can tell is
/// not one (a reference, a tuple, ..) is refused here; a path (`CancelReason`, an alias of
/// it, `String`) is rustc's to judge, through the `CleanupReason` check on its span (see
/// `step::cleanup`). An `impl Trait` is refused as generic already.
fn check_reason_parameter(arg: &FnArg, what: &str, errors: &mut Errors) {
    let FnArg::Typed(typed) = arg else { return };
    let ty = types::ungrouped(&typed.ty);
    if contains_impl_trait(ty) {
        return;
    }
    let written = ctxt::pretty(ty);
    let why = match ty {
        Type::Path(_) | Type::Macro(_) | Type::Infer(_) | Type::Verbatim(_) => return,
        Type::Reference(_) => "the flow hands the cleanup a `CancelReason` of its own; borrow it inside the cleanup if you need a reference",
        _ => "the flow hands the cleanup the `CancelReason` the task was stopped for, and nothing else",
    };
    errors.at(
        ty,
        format_args!(
            "{what} takes the reason it was cancelled by value: `reason: CancelReason`, not `{written}` ({why})"
        ),
    );
}

/// Whether a task type is `Task<..>` or named like an alias of it (`QueryTask`).
pub(crate) fn is_named_task(ty: &Type) -> bool {
    match ty {
        Type::Path(path) if path.qself.is_none() => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident.to_string().ends_with("Task")),
        _ => false,
    }
}

/// Checks the receiver; `false` if there is none (the other parameters are then not
/// where the rules expect them, and are not checked).
fn check_receiver(
    sig: &Signature,
    first: Option<&FnArg>,
    what: &str,
    fix: &str,
    errors: &mut Errors,
) -> bool {
    match first {
        Some(FnArg::Receiver(receiver)) if is_shared_self(receiver) => true,
        Some(FnArg::Receiver(receiver)) => {
            errors.at(
            receiver,
            format_args!(
                "{what} must take `&self`: the tasks of one manager run at once and share it; \
                 keep per-task state in the task's runtime info (`task.info_mut()`), shared state behind a lock"
                ),
            );
            true
        }
        _ => {
            errors.at_span(
                sig.paren_token.span.open(),
                format_args!("{what} must take `&self` first: `{fix}`"),
            );
            false
        }
    }
}

/// `&self`, `&'a self` or `self: &Self`.
fn is_shared_self(receiver: &Receiver) -> bool {
    match &*receiver.ty {
        Type::Reference(reference) => {
            reference.mutability.is_none()
                && matches!(&*reference.elem, Type::Path(path) if path.qself.is_none() && path.path.is_ident("Self"))
        }
        _ => false,
    }
}

fn check_not_unsafe(sig: &Signature, what: &str, errors: &mut Errors) {
    if let Some(unsafety) = &sig.unsafety {
        errors.at(
            unsafety,
            format_args!("{what} cannot be an `unsafe fn`: the flow calls it with no way to uphold its contract; use an `unsafe` block inside"),
        );
    }
}

/// Type and const parameters (lifetimes are fine: the call infers them), including the
/// anonymous ones that `impl Trait` parameters are.
fn check_not_generic(sig: &Signature, what: &str, why: &str, errors: &mut Errors) {
    for param in &sig.generics.params {
        if !matches!(param, GenericParam::Lifetime(_)) {
            errors.at(param, format_args!("{what} cannot be generic: {why}"));
        }
    }
    for input in &sig.inputs {
        if let FnArg::Typed(typed) = input {
            if contains_impl_trait(&typed.ty) {
                errors.at(
                    &typed.ty,
                    format_args!("{what} cannot be generic (`impl Trait` in a parameter is a type parameter): {why}"),
                );
            }
        }
    }
}

fn contains_impl_trait(ty: &Type) -> bool {
    match ty {
        Type::ImplTrait(_) => true,
        Type::Reference(reference) => contains_impl_trait(&reference.elem),
        Type::Paren(paren) => contains_impl_trait(&paren.elem),
        Type::Group(group) => contains_impl_trait(&group.elem),
        Type::Slice(slice) => contains_impl_trait(&slice.elem),
        Type::Array(array) => contains_impl_trait(&array.elem),
        Type::Tuple(tuple) => tuple.elems.iter().any(contains_impl_trait),
        _ => false,
    }
}

/// For a `fn` (not `async`) that returns a future, what the future yields, if it is
/// written (`impl Future<Output = T>`, `Pin<Box<dyn Future<Output = T> + Send>>`,
/// `BoxFuture<'_, T>`): `Some(None)` for a future whose output is not written
/// (`impl TryFuture<..>`, `Pin<P>`), `None` for anything else. An `async fn` returns what
/// its body yields, whatever that is.
fn returned_future(sig: &Signature) -> Option<Option<&Type>> {
    match &sig.output {
        ReturnType::Type(_, ty) if sig.asyncness.is_none() => future_type(ty),
        _ => None,
    }
}

/// See `returned_future`.
fn future_type(ty: &Type) -> Option<Option<&Type>> {
    let bounds = match types::ungrouped(ty) {
        Type::ImplTrait(impl_trait) => &impl_trait.bounds,
        Type::TraitObject(object) => &object.bounds,
        Type::Path(path) if path.qself.is_none() => {
            let last = path.path.segments.last()?;
            let name = last.ident.to_string();
            let mut type_args = match &last.arguments {
                PathArguments::AngleBracketed(args) => args
                    .args
                    .iter()
                    .filter_map(|arg| match arg {
                        GenericArgument::Type(ty) => Some(ty),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            return match name.as_str() {
                // `Pin<Box<dyn Future<Output = T>>>`; any `Pin<P>` is a future.
                "Pin" => Some(type_args.pop().and_then(future_type).flatten()),
                "Box" => type_args.pop().and_then(future_type),
                // `BoxFuture<'a, T>`
                _ if name.ends_with("Future") => Some(type_args.pop()),
                _ => None,
            };
        }
        _ => return None,
    };
    let mut futures = bounds
        .iter()
        .filter_map(|bound| match bound {
            TypeParamBound::Trait(bound) => Some(&bound.path),
            _ => None,
        })
        .filter(|path| {
            path.segments
                .last()
                .is_some_and(|last| last.ident.to_string().ends_with("Future"))
        })
        .peekable();
    futures.peek()?;
    Some(futures.find_map(future_output))
}

/// The `T` of a bound `Future<Output = T>`.
fn future_output(path: &syn::Path) -> Option<&Type> {
    let last = path.segments.last()?;
    if last.ident != "Future" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    args.args.iter().find_map(|arg| match arg {
        GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(&assoc.ty),
        _ => None,
    })
}

/// Why a return type is not a `Result`; `None` if it is one: `Result<T, E>` by any path,
/// or an alias named like one (`io::Result<T>`, `QueryResult<T>`), which rustc checks.
pub(crate) fn not_a_result(ty: &Type) -> Option<String> {
    match ty {
        Type::Paren(paren) => not_a_result(&paren.elem),
        Type::Group(group) => not_a_result(&group.elem),
        Type::Path(path) if path.qself.is_none() => {
            let last = path.path.segments.last()?;
            let name = last.ident.to_string();
            if name.ends_with("Result") {
                None
            } else if name == "Option" {
                Some(", not an `Option` (turn `None` into an error with `.ok_or(..)`)".into())
            } else {
                Some(format!(
                    ", not `{}` (an alias of `Result` is recognised by a name that ends in `Result`, as `io::Result<T>`)",
                    ctxt::pretty(ty)
                ))
            }
        }
        Type::Tuple(tuple) if tuple.elems.is_empty() => Some(", not `()`".into()),
        Type::Tuple(_) => {
            Some(", not a tuple (a tuple can be the `Ok` value: `Result<(A, B), E>`)".into())
        }
        Type::Reference(_) => Some(", not a reference".into()),
        Type::ImplTrait(_) => Some(", not an `impl Trait`".into()),
        Type::Never(_) => Some(", not `!`".into()),
        Type::Array(_) | Type::Slice(_) => Some(", not an array or a slice".into()),
        _ => Some(", not this type".into()),
    }
}
