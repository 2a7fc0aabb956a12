//! The code of one step inside the generated task body: run it through the runner's
//! `Scope`, and on a stop run its cleanup.
//!
//! Each value handed to the user's method goes through one of the runtime's checks
//! (`__private::SameTask`, `NextInput`, `SameError`, ...), spanned on the user's token that
//! a mismatch would be about, so that rustc reports it there and in words. Every token of
//! a check, down to the path of `__private` (the `__flow_private` alias) and the generated
//! local it takes, carries that span: a check expression that mixed spans would be
//! reported on the `#[flow]` attribute instead.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Ident, ImplItem, ImplItemFn, Path, Type};

use crate::ast::{self, Flow, Step};
use crate::names::{local, private, private_at_call_site, stopped_label, Locals};
use crate::types;

/// `let __flow_out = match __flow_scope.step(index, <call>).await { .. };` (`step_with_resource`
/// for a step that needs a resource).
pub(crate) fn code(flow: &Flow, position: usize, step: &Step, krate: &Path) -> TokenStream {
    let Locals { scope, out, .. } = Locals::new();
    let private = private(Span::call_site());
    let method = step.name();
    let cfgs = &step.cfgs;
    let index = index(flow, position);

    // The first step's task type is the flow's, by definition.
    let task_arg = task_arg(step.task_type().filter(|_| position > 0));
    let retries = step.args.retry.is_some();
    let (no_input, input_arg) = match step.input_type() {
        Some(input_ty) if retries => (None, Some(input_again_arg(input_ty))),
        Some(input_ty) => (None, Some(input_arg(input_ty))),
        None if position == 0 => (None, None),
        None => {
            // Where the input parameter would go.
            let span = step.method.sig.paren_token.span.join();
            let (private, out) = (self::private(span), Locals::at(span).out);
            let check = quote_spanned! {span=> #private::no_input(#out); };
            (Some(quote! { #(#cfgs)* #check }), None)
        }
    };
    // `step_is_send` on the task's span (the attribute), like the `.await`s around it: the
    // task's own `Send` check repeats a step's `Send` error, and with one span rustc
    // prints the two as one, whose label names the step ("future returned by `send` is
    // not `Send`"). The path too (see `private_at_call_site`).
    let call = {
        let (private, Locals { this, .. }) = (private_at_call_site(), Locals::new());
        let args = std::iter::once(task_arg).chain(input_arg);
        quote! { #private::step_is_send((*#this).#method(#(#args),*)) }
    };
    let error = flow_error(flow, position, step, krate);
    let keep = keep_output(flow, position, step, krate);
    // A step whose only policy is a time limit runs as a plain step does, with the task's
    // step timer: one attempt, no attempt state.
    let timed_only = step.args.retry.is_none() && step.args.resource.is_none();
    if step.args.has_policy() && !(timed_only && step.args.timeout.is_some()) {
        let run = policy_run(flow, step, krate, &index, &call, &error);
        return quote! {
            #no_input
            #(#cfgs)*
            let #out = #run;
            #keep
        };
    }
    let (failed, stopped_arm) = halt_arms(flow, &index, &error);
    // A step that needs a resource waits for it first (queue add-on); the others run as
    // they are, paying nothing for it.
    let run = match (&step.args.resource, &step.args.timeout) {
        (Some(_), _) => quote! { step_with_resource(#index, #call) },
        (None, Some(_)) => {
            let timer = timer_local();
            quote! { timed_step(#index, &mut #timer, #call) }
        }
        (None, None) => quote! { step(#index, #call) },
    };
    quote! {
        #no_input
        #(#cfgs)*
        let #out = match #scope.#run.await {
            #private::StepRun::Completed(value) => value,
            #private::StepRun::Failed(error) => #failed,
            // Out of the steps' block (see `expand::execute_method`) to run the cleanup.
            #private::StepRun::Stopped(stop) => #stopped_arm,
        };
        #keep
    }
}

/// What a step's `Err` and stop do: end the task, or leave the steps' block. In a flow with
/// compensations, both leave the block with a `Halt` (a failure claims the task's ending
/// first), so that the compensations run after.
fn halt_arms(flow: &Flow, index: &TokenStream, error: &TokenStream) -> (TokenStream, TokenStream) {
    let Locals { task, scope, .. } = Locals::new();
    let private = private(Span::call_site());
    let stopped = stopped_label();
    let stop = Ident::new("stop", Span::call_site());
    if flow.compensates() {
        (
            quote! {{
                if #scope.is_clustered() {
                    #scope.claim_failed().await;
                }
                break #stopped #scope.fail(#index, #error)
            }},
            quote! { break #stopped #private::Halt::Stopped(#stop) },
        )
    } else {
        (
            // Nothing runs between this seal and the ending: the seal carries it.
            quote! {{
                if #scope.is_clustered() {
                    #scope.claim_failed_at(#index).await;
                }
                return #scope.failed(#task, #index, #error)
            }},
            quote! { break #stopped #stop },
        )
    }
}

/// The local that keeps a clone of compensated step `position`'s output for its
/// compensation: `__flow_kept_<position>`.
pub(crate) fn kept_local(position: usize) -> Ident {
    local(&format!("__flow_kept_{position}"), Span::call_site())
}

/// After a compensated step completed: keep a clone of its output, through
/// `CompensatedOutput` on the step's output type (an output that is not `Clone` is told so
/// there).
fn keep_output(flow: &Flow, position: usize, step: &Step, krate: &Path) -> Option<TokenStream> {
    step.args.compensate.as_ref()?;
    let _ = flow;
    let kept = kept_local(position);
    let span = step
        .return_type()
        .map_or_else(Span::call_site, |return_ty| {
            types::result_generics(return_ty, krate).0.span()
        });
    let (private, out) = (private(span), Locals::at(span).out);
    let keep = quote_spanned! {span=> #private::CompensatedOutput::keep(&#out) };
    let cfgs = &step.cfgs;
    // A `let`, which takes the step's `#[cfg]` (an assignment statement cannot).
    Some(quote! { #(#cfgs)* let () = { #kept = ::core::option::Option::Some(#keep); }; })
}

/// After the cleanups, in a flow with compensations: step `position`'s compensation, if the
/// step completed (its kept output is there).
pub(crate) fn compensation_code(flow: &Flow, position: usize, step: &Step) -> Option<TokenStream> {
    let call = compensation_call(flow, step)?;
    let cfgs = &step.cfgs;
    let index = index(flow, position);
    let kept = kept_local(position);
    let Locals { scope, .. } = Locals::new();
    let private = private_at_call_site();
    let output = local("__flow_output", Span::call_site());
    Some(quote! {
        #(#cfgs)*
        if let ::core::option::Option::Some(#output) = #kept.take() {
            #scope
                .compensate(#index, #private::compensation_is_send(#call))
                .await;
        }
    })
}

/// The call of `step`'s compensation on the locals `__flow_this`, `__flow_task` and
/// `__flow_output` (the step's output), if the step declares one.
pub(crate) fn compensation_call(flow: &Flow, step: &Step) -> Option<TokenStream> {
    let compensate = step.args.compensate.as_ref()?;
    let method = cleanup_method(flow, compensate);
    let task_arg = task_arg(method.and_then(ast::task_type));
    let Locals { this, .. } = Locals::new();
    let output = local("__flow_output", Span::call_site());
    // Through `CompensationInput` on the compensation's parameter type: one that takes
    // another type than its step's output is told so there.
    let output_arg = match method.and_then(|method| ast::typed_parameter(method, 2)) {
        Some(param_ty) => {
            let span = param_ty.span();
            let (checks, output) = (self::private(span), local("__flow_output", span));
            quote_spanned! {span=> #checks::CompensationInput::<#param_ty>::into_output(#output) }
        }
        None => output.to_token_stream(),
    };
    Some(quote! { (*#this).#compensate(#task_arg, #output_arg) })
}

/// A compensated step's output type (the `T` of its `Result<T, E>`), and where it is
/// written, for the errors about it.
pub(crate) fn output_type(step: &Step, krate: &Path) -> (TokenStream, Span) {
    match step.return_type() {
        Some(return_ty) => {
            let output = types::result_generics(return_ty, krate).0;
            let span = output.span();
            (output, span)
        }
        None => (quote! { () }, Span::call_site()),
    }
}

/// The block of a step with a policy (`timeout`, `retry`), whose value is the step's output:
/// its attempts in a loop (see `task_manager_core`'s `run/attempt.rs`). A step with a
/// `timeout` and no `retry` makes one attempt: no loop, and its input is not cloned.
fn policy_run(
    flow: &Flow,
    step: &Step,
    krate: &Path,
    index: &TokenStream,
    call: &TokenStream,
    error: &TokenStream,
) -> TokenStream {
    let Locals { scope, .. } = Locals::new();
    let private = private(Span::call_site());
    let attempts = local("__flow_attempts", Span::call_site());
    // The task's one step timer (see `expand::execute_method`), in a flow with a `timeout`.
    let timer = if flow.steps.iter().any(|step| step.args.timeout.is_some()) {
        let timer = timer_local();
        quote! { ::core::option::Option::Some(&mut #timer) }
    } else {
        quote! { ::core::option::Option::None }
    };
    let (failed, stopped_arm) = halt_arms(flow, index, error);
    let arms = quote! {
        #private::AttemptRun::Failed(error) => #failed,
        #private::AttemptRun::Stopped(stop) => #stopped_arm,
    };
    // A step that needs a resource waits for it before each attempt.
    let resource = step.args.resource.as_ref().map(|_| {
        quote! {
            if let ::core::option::Option::Some(stop) = #scope.attempt_resource(&mut #attempts).await {
                #stopped_arm;
            }
        }
    });
    let Some(retry) = &step.args.retry else {
        return quote! {{
            let mut #attempts = #scope.attempt_once(#index);
            #resource
            match #scope.attempt(&mut #attempts, #timer, #call).await {
                #private::AttemptRun::Completed(value) => value,
                #arms
                // One attempt: no other follows.
                #private::AttemptRun::Retry(_) => ::core::unreachable!("a step without `retry` makes one attempt"),
            }
        }};
    };
    let policy = retry_policy(flow, step, retry, krate);
    // The cleanup of a timed-out attempt that is retried (none without `cancel = ..`).
    let retry_cleanup = match step.args.cancel.as_ref() {
        Some(cancel) => {
            let method = cleanup_method(flow, cancel);
            let call = cleanup_call(method, cancel);
            let reason = local("__flow_reason", Span::call_site());
            quote! { #scope.attempt_cleanup(&mut #attempts, retry, |#reason| #call).await; }
        }
        None => quote! { let _ = retry; },
    };
    quote! {{
        let mut #attempts = #scope.attempts(#index, #policy);
        loop {
            #resource
            match #scope.attempt(&mut #attempts, #timer, #call).await {
                #private::AttemptRun::Completed(value) => break value,
                #arms
                #private::AttemptRun::Retry(retry) => { #retry_cleanup }
            }
            if let ::core::option::Option::Some(stop) = #scope.backoff(&mut #attempts).await {
                #stopped_arm;
            }
        }
    }}
}

/// The local that holds the task's step timer, pinned in the task's body.
pub(crate) fn timer_local() -> Ident {
    local("__flow_timer", Span::call_site())
}

/// The body closure's parameter that holds the passport's per-call step limits.
pub(crate) fn limits_local() -> Ident {
    local("__flow_step_limits", Span::call_site())
}

/// `policy_fn()` through `RetryPolicy` on the step's error type (spanned on `retry = ..`'s
/// value): a function that returns another type is told to return `Retry<E>`. A name that
/// is a method of the block is called as `Self::name()`.
fn retry_policy(flow: &Flow, step: &Step, retry: &Path, krate: &Path) -> TokenStream {
    let span = retry.span();
    let private = private(span);
    let in_block = retry.get_ident().is_some_and(|name| {
        flow.item
            .items
            .iter()
            .any(|item| matches!(item, ImplItem::Fn(method) if method.sig.ident == *name))
    });
    let function = if in_block {
        quote_spanned! {span=> Self::#retry }
    } else {
        quote_spanned! {span=> #retry }
    };
    let error_ty = step.return_type().map_or_else(
        || quote! { _ },
        |return_ty| types::result_generics(return_ty, krate).1,
    );
    // A function the scope calls at the step's first failure (a step that never fails never
    // builds its policy).
    quote_spanned! {span=> || #private::RetryPolicy::<#error_ty>::into_policy(#function()) }
}

/// After the steps' block: if the stopped step was this one, run its cleanup (the scope
/// calls it only if the step had begun). `None` for a step without `cancel = ..`.
pub(crate) fn cleanup_code(flow: &Flow, position: usize, step: &Step) -> Option<TokenStream> {
    let cancel = step.args.cancel.as_ref()?;
    let cfgs = &step.cfgs;
    let index = index(flow, position);
    let stop = Locals::new().stop;
    let call = cleanup(cleanup_method(flow, cancel), cancel);
    Some(quote! {
        #(#cfgs)*
        if #stop.index() == #index {
            #call
        }
    })
}

/// `&mut task`, through `SameTask` on the parameter's type: a step or cleanup that takes
/// another task type than the flow's (the first step's) is told so there.
fn task_arg(task_ty: Option<&Type>) -> TokenStream {
    match task_ty {
        Some(task_ty) => {
            let span = task_ty.span();
            let (private, task) = (private(span), Locals::at(span).task);
            quote_spanned! {span=> #private::SameTask::<#task_ty>::as_step_task(&mut #task) }
        }
        None => {
            let task = Locals::new().task;
            quote! { &mut #task }
        }
    }
}

/// The previous step's output, through `NextInput` on the input parameter's type.
fn input_arg(input_ty: &Type) -> TokenStream {
    let span = input_ty.span();
    let (private, out) = (private(span), Locals::at(span).out);
    quote_spanned! {span=> #private::NextInput::<#input_ty>::into_input(#out) }
}

/// The previous step's output, cloned for this attempt (a step with `retry` is given its
/// input once per attempt), through `RetryInput` then `NextInput` on the input parameter's
/// type: an input that is not `Clone` is told so there.
fn input_again_arg(input_ty: &Type) -> TokenStream {
    let span = input_ty.span();
    let (private, out) = (private(span), Locals::at(span).out);
    quote_spanned! {span=>
        #private::NextInput::<#input_ty>::into_input(#private::RetryInput::input_again(&#out))
    }
}

/// The step's error as the flow's (the last step's), through `SameError` on the step's
/// error type; the last step's error is the flow's by definition.
fn flow_error(flow: &Flow, position: usize, step: &Step, krate: &Path) -> TokenStream {
    let last = &flow.steps[flow.steps.len() - 1];
    match (step.return_type(), last.return_type()) {
        (Some(return_ty), Some(last_return)) if position + 1 < flow.steps.len() => {
            let span = types::error_span(return_ty);
            let flow_error = types::result_generics(last_return, krate).1;
            let (private, error) = (private(span), Ident::new("error", span));
            quote_spanned! {span=> #private::SameError::<#flow_error>::into_flow_error(#error) }
        }
        _ => quote! { error },
    }
}

fn cleanup_method<'a>(flow: &'a Flow, cancel: &Ident) -> Option<&'a ImplItemFn> {
    flow.item.items.iter().find_map(|item| match item {
        ImplItem::Fn(method) if method.sig.ident == *cancel => Some(method),
        _ => None,
    })
}

/// Runs the cleanup (the scope calls it only if the stopped step had begun). The checks sit
/// on the cleanup's own signature: its task type, its reason type.
fn cleanup(method: Option<&ImplItemFn>, cancel: &Ident) -> TokenStream {
    let Locals { scope, .. } = Locals::new();
    let reason = local("__flow_reason", Span::call_site());
    let call = cleanup_call(method, cancel);
    // A closure, called by the scope only if the step had begun: the reason is handed
    // straight to the cleanup, and is not kept in the task's state machine meanwhile.
    let stop = Locals::new().stop;
    quote! {
        #scope.cleanup(&#stop, |#reason| #call).await;
    }
}

/// The call of a cleanup method, with its checks (its task type, its reason type).
fn cleanup_call(method: Option<&ImplItemFn>, cancel: &Ident) -> TokenStream {
    let task_arg = task_arg(method.and_then(ast::task_type));
    let reason_ty = method.and_then(|method| ast::typed_parameter(method, 2));
    let reason_arg = reason_arg(reason_ty);
    // `cleanup_is_send` on the task's span, as `step_is_send` (see `code`).
    let (private, Locals { this, .. }) = (private_at_call_site(), Locals::new());
    quote! {
        #private::cleanup_is_send((*#this).#cancel(#task_arg, #reason_arg))
    }
}

/// The reason, through `CleanupReason` on the reason parameter's type: a cleanup that takes
/// another type (`String`, `Arc<CancelReason>`) is told to take `CancelReason` by value,
/// there, rather than reading rustc's "expected `String`, found `CancelReason`" (the types
/// the other way round from the user's point of view).
fn reason_arg(reason_ty: Option<&Type>) -> TokenStream {
    match reason_ty {
        Some(reason_ty) => {
            let span = reason_ty.span();
            let (private, reason) = (private(span), local("__flow_reason", span));
            quote_spanned! {span=> #private::CleanupReason::<#reason_ty>::into_reason(#reason) }
        }
        None => local("__flow_reason", Span::call_site()).into_token_stream(),
    }
}

/// The step's index among the steps that exist in this build: a `#[cfg]`-ed out step
/// before it does not count, matching the names in `FLOW`.
pub(crate) fn index(flow: &Flow, position: usize) -> TokenStream {
    let earlier = &flow.steps[..position];
    let fixed = earlier.iter().filter(|step| step.cfgs.is_empty()).count();
    let conditional: Vec<TokenStream> = earlier
        .iter()
        .filter_map(cfg_predicate)
        .map(|predicate| quote! { + (::core::cfg!(#predicate) as usize) })
        .collect();
    if conditional.is_empty() {
        quote! { #fixed }
    } else {
        quote! { (#fixed #(#conditional)*) }
    }
}

/// The predicate of a step's `#[cfg(..)]` attributes, all of them together.
fn cfg_predicate(step: &Step) -> Option<TokenStream> {
    let predicates: Vec<TokenStream> = step
        .cfgs
        .iter()
        .filter_map(|attr| {
            attr.meta
                .require_list()
                .ok()
                .map(|list| list.tokens.clone())
        })
        .collect();
    match predicates.len() {
        0 => None,
        1 => Some(predicates[0].clone()),
        _ => Some(quote! { all(#(#predicates),*) }),
    }
}
