//! Reading the flow's types out of the steps' signatures: the payload and runtime info of
//! the first step's `Task<P, R>`, the output and error of the last step's `Result<T, E>`.
//!
//! A type spelled plainly is used as written (it reads well in the generated signature and
//! in rustdoc); any other spelling (an alias such as `type MyTask = Task<Job, Info>` or
//! `io::Result<T>`) goes through the runtime's `TaskTypes` / `StepReturn` traits, which
//! rustc resolves, and whose `#[diagnostic::on_unimplemented]` explains a wrong type.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{GenericArgument, Path, PathArguments, Type};

/// (`P`, `R`) of a task type `Task<P, R>`; defaults as `Task`'s own (`()`).
pub(crate) fn task_generics(task_ty: &Type, krate: &Path) -> (TokenStream, TokenStream) {
    if let Some(args) = last_segment_args(task_ty, "Task") {
        if args.len() <= 2 {
            let unit = quote!(());
            let payload = args
                .first()
                .map_or_else(|| unit.clone(), ToTokens::to_token_stream);
            let info = args.get(1).map_or(unit, ToTokens::to_token_stream);
            return (payload, info);
        }
    }
    (
        quote_spanned! {task_ty.span()=> <#task_ty as #krate::__private::TaskTypes>::Payload },
        quote_spanned! {task_ty.span()=> <#task_ty as #krate::__private::TaskTypes>::Info },
    )
}

/// (`T`, `E`) of a return type `Result<T, E>`.
pub(crate) fn result_generics(return_ty: &Type, krate: &Path) -> (TokenStream, TokenStream) {
    if let Some(args) = last_segment_args(return_ty, "Result") {
        if let [output, error] = args.as_slice() {
            return (output.to_token_stream(), error.to_token_stream());
        }
    }
    (
        quote_spanned! {return_ty.span()=> <#return_ty as #krate::__private::StepReturn>::Output },
        quote_spanned! {return_ty.span()=> <#return_ty as #krate::__private::StepReturn>::Error },
    )
}

/// Where a step's error type is written: the `E` of `Result<T, E>`, else the whole type.
pub(crate) fn error_span(return_ty: &Type) -> Span {
    match last_segment_args(return_ty, "Result").as_deref() {
        Some([_, error]) => error.span(),
        _ => return_ty.span(),
    }
}

/// Where the `P` of `Task<P, R>` is written, else the whole type.
pub(crate) fn payload_span(task_ty: &Type) -> Span {
    match last_segment_args(task_ty, "Task").as_deref() {
        Some([payload, ..]) => payload.span(),
        _ => task_ty.span(),
    }
}

/// Where the `R` of `Task<P, R>` is written, else the whole type.
pub(crate) fn info_span(task_ty: &Type) -> Span {
    match last_segment_args(task_ty, "Task").as_deref() {
        Some([_, info]) => info.span(),
        _ => task_ty.span(),
    }
}

/// The type arguments of `ty` if its last path segment is `name`.
fn last_segment_args<'a>(ty: &'a Type, name: &str) -> Option<Vec<&'a Type>> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let segment = path.path.segments.last()?;
    if segment.ident != name {
        return None;
    }
    match &segment.arguments {
        PathArguments::None => Some(Vec::new()),
        PathArguments::AngleBracketed(args) => args
            .args
            .iter()
            .map(|arg| match arg {
                GenericArgument::Type(ty) => Some(ty),
                _ => None,
            })
            .collect(),
        PathArguments::Parenthesized(_) => None,
    }
}

/// The type inside any parentheses or invisible groups around it.
pub(crate) fn ungrouped(ty: &Type) -> &Type {
    match ty {
        Type::Paren(paren) => ungrouped(&paren.elem),
        Type::Group(group) => ungrouped(&group.elem),
        other => other,
    }
}
