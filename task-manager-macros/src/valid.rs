//! The rules the macro can check without type information. Each error sits on the user's
//! token at fault and says the rule and the fix. Types (does a step's output fit the next
//! step's input?) are left to rustc, on the user's spans; see `expand`.

use std::collections::HashMap;

use syn::{FnArg, ImplItem, Type};

use crate::ast::{Flow, Step};
use crate::ctxt::Errors;

pub(crate) fn check(flow: &Flow, errors: &mut Errors) {
    if flow.steps.is_empty() {
        errors.at(
            &flow.item.self_ty,
            "this flow has no steps: mark its async methods with `#[step]` (or `#[step(cancel = cleanup_method)]`), in the order they run",
        );
    }
    if let Some(trait_) = &flow.item.trait_ {
        errors.at(&trait_.1, "`#[flow]` goes on an inherent impl block (`impl MyManager { .. }`), not on a trait impl");
    }
    let methods: HashMap<String, &syn::ImplItemFn> = flow
        .item
        .items
        .iter()
        .filter_map(|item| match item {
            ImplItem::Fn(method) => Some((method.sig.ident.to_string(), method)),
            _ => None,
        })
        .collect();
    for (index, step) in flow.steps.iter().enumerate() {
        check_signature(step, index == 0, errors);
        if let Some(cancel) = &step.args.cancel {
            match methods.get(&cancel.to_string()) {
                None => errors.at(
                    cancel,
                    format_args!(
                        "no method `{cancel}` in this impl block: the cleanup must be a method of the same block, \
                         `async fn {cancel}(&self, task: &mut Task<..>, reason: CancelReason)`"
                    ),
                ),
                Some(method) if method.sig.asyncness.is_none() => errors.at(
                    method.sig.fn_token,
                    format_args!("the cleanup `{cancel}` must be an `async fn`: write `async fn {cancel}(&self, task: &mut Task<..>, reason: CancelReason)`"),
                ),
                Some(method) if step.cfgs.is_empty() && method.sig.ident == *step.name() => errors.at(
                    cancel,
                    "a step cannot be its own cleanup: name a separate `async fn(&self, task: &mut Task<..>, reason: CancelReason)`",
                ),
                Some(_) => {}
            }
        }
    }
}

fn check_signature(step: &Step, is_first: bool, errors: &mut Errors) {
    let sig = &step.method.sig;
    let name = &sig.ident;
    if sig.asyncness.is_none() {
        errors.at(
            sig.fn_token,
            format_args!("step `{name}` must be an `async fn`: write `async fn {name}(..)`"),
        );
    }
    if !sig.generics.params.is_empty() {
        errors.at(
            &sig.generics,
            format_args!("step `{name}` cannot be generic: a flow runs one concrete chain of types; move the type parameter to the impl block"),
        );
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(receiver)) if receiver.reference.is_some() && receiver.mutability.is_none() => {}
        Some(FnArg::Receiver(receiver)) => errors.at(
            receiver,
            format_args!(
                "step `{name}` must take `&self`: tasks of one manager run at once and share it; \
                 keep per-task state in the task's runtime info (`task.info_mut()`)"
            ),
        ),
        _ => errors.at_span(
            sig.paren_token.span.join(),
            format_args!("step `{name}` must take `&self` first: `async fn {name}(&self, task: &mut Task<..>)`"),
        ),
    }
    match inputs.next() {
        Some(FnArg::Typed(typed)) if matches!(&*typed.ty, Type::Reference(r) if r.mutability.is_some()) => {}
        Some(other) => errors.at(
            other,
            format_args!("the second parameter of step `{name}` must be the task context: `task: &mut Task<Payload, Info>`"),
        ),
        None => errors.at_span(
            sig.paren_token.span.join(),
            format_args!("step `{name}` must take the task context after `&self`: `async fn {name}(&self, task: &mut Task<Payload, Info>)`"),
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
            format_args!("step `{name}` takes at most one input, the previous step's output: return a tuple or a struct from that step instead"),
        );
    }
    if step.return_type().is_none() {
        errors.at_span(
            sig.paren_token.span.join(),
            format_args!("step `{name}` must return `Result<Output, Error>`; use `std::convert::Infallible` as the error of a step that cannot fail"),
        );
    }
}
