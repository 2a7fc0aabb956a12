//! Writes the code of a flow: the user's block as it was (minus `#[step]`), and an
//! `execute_<name>` method whose body is one `async` block calling each step in turn through
//! the runtime's `Scope`. rustc compiles that block into the task's state machine.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{GenericArgument, Ident, ItemImpl, Path, PathArguments, Type};

use crate::ast::{self, Flow, Step};
use crate::attr::{self, FlowArgs};
use crate::ctxt::Errors;
use crate::valid;

pub(crate) fn flow(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let flow_args = attr::parse_flow_args(args, &mut errors);
    let item: ItemImpl = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(_) => {
            let error = syn::Error::new(
                Span::call_site(),
                "`#[flow]` goes on an impl block whose async methods are the steps: `#[flow(name = query)] impl MyManager { .. }`",
            );
            // Keep the user's item so that the one mistake is the only error.
            let mut output = item;
            output.extend(error.into_compile_error());
            return output;
        }
    };
    let flow = ast::read(item, &mut errors);
    let name = match &flow_args.name {
        Some(name) => Some(name.clone()),
        None => {
            errors.at_span(
                Span::call_site(),
                "`#[flow]` needs a name: `#[flow(name = query)]` generates `execute_query`",
            );
            None
        }
    };
    valid::check(&flow, &mut errors);
    let user_block = &flow.item;
    match (errors.into_result(), name) {
        (Ok(()), Some(name)) => {
            let generated = execute_method(&flow, &flow_args, &name);
            quote! { #user_block #generated }
        }
        (result, _) => {
            let error = result.err().map(syn::Error::into_compile_error);
            quote! { #user_block #error }
        }
    }
}

/// `#[step]` outside a `#[flow]` block: say so, and keep the method.
pub(crate) fn stray_step(_args: TokenStream, item: TokenStream) -> TokenStream {
    let error = syn::Error::new(
        Span::call_site(),
        "`#[step]` only has meaning on a method of an impl block marked `#[flow(name = ..)]`: add `#[flow(name = ..)]` to the impl block, or remove `#[step]`",
    )
    .into_compile_error();
    quote! { #item #error }
}

fn execute_method(flow: &Flow, args: &FlowArgs, name: &Ident) -> TokenStream {
    let krate = attr::runtime_path(args.krate.as_ref());
    let (impl_generics, _, where_clause) = flow.item.generics.split_for_impl();
    let self_ty = &flow.item.self_ty;
    let first = &flow.steps[0];
    let last = &flow.steps[flow.steps.len() - 1];
    let task_ty = first
        .task_type()
        .cloned()
        .unwrap_or_else(|| syn::parse_quote!(#krate::Task));
    let (payload_ty, info_ty) = task_generics(&task_ty, &krate);
    let last_return = last
        .return_type()
        .cloned()
        .unwrap_or_else(|| syn::parse_quote!(()));
    let (output_ty, error_ty) = result_generics(&last_return, &krate);

    let method = format_ident!("execute_{}", name);
    let flow_name = name.to_string();
    let step_names = flow.steps.iter().map(|step| {
        let cfgs = &step.cfgs;
        let step_name = step.name().to_string();
        quote! { #(#cfgs)* #step_name }
    });
    let with_timeout = args.timeout.as_ref().map(|(duration, literal)| {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        quote_spanned! {literal.span()=> .with_timeout(::core::time::Duration::from_nanos(#nanos)) }
    });
    let with_limit = args.limit.as_ref().map(|limit| limit_code(limit, &krate));
    let with_resources = flow
        .steps
        .iter()
        .any(|step| step.args.resource.is_some())
        .then(|| {
            let entries = flow.steps.iter().map(|step| {
                let cfgs = &step.cfgs;
                match &step.args.resource {
                    Some(name) => quote! { #(#cfgs)* ::core::option::Option::Some(#name) },
                    None => quote! { #(#cfgs)* ::core::option::Option::None },
                }
            });
            quote! { .with_resources(&[#(#entries),*]) }
        });
    let locals = Locals::new();
    let Locals {
        this,
        task,
        scope,
        out,
    } = &locals;
    let steps = flow
        .steps
        .iter()
        .enumerate()
        .map(|(position, step)| step_code(flow, position, step, &locals, &krate));
    let doc = format!(
        "Starts a task of the `{flow_name}` flow (steps: {}) and returns its handle.\n\n\
         The task is registered under the passport's id before this returns, so it can be \
         cancelled by id at once. Dropping the handle cancels the task; `detach` it to let it run on.\n\n\
         # Errors\nRefused if a task with the same id is running, if no tokio runtime is running here, \
         if the flow's queue is full, or if a step needs a resource the task manager does not have.",
        flow.steps.iter().map(|step| format!("`{}`", step.name())).collect::<Vec<_>>().join(", "),
    );

    quote! {
        impl #impl_generics #self_ty #where_clause {
            #[doc = #doc]
            #[allow(clippy::too_many_lines, clippy::missing_errors_doc, clippy::used_underscore_binding)]
            pub fn #method(
                self: &::std::sync::Arc<Self>,
                passport: #krate::Passport<#payload_ty>,
            ) -> ::core::result::Result<#krate::TaskHandle<#output_ty, #error_ty, #info_ty>, #krate::SubmitError> {
                static FLOW: #krate::FlowInfo = #krate::FlowInfo::new(#flow_name, &[#(#step_names),*]) #with_timeout #with_limit #with_resources;
                let #this = ::std::sync::Arc::clone(self);
                #krate::__private::submit(
                    #krate::HasTaskManager::task_manager(&**self),
                    &FLOW,
                    passport,
                    move |mut #task: #task_ty, mut #scope: #krate::__private::Scope| async move {
                        let #this: &Self = &#this;
                        let #out = ();
                        #(#steps)*
                        #scope.completed(#task, #out)
                    },
                )
            }
        }
    }
}

/// The generated locals: unreachable from user code (mixed-site hygiene) and prefixed so
/// that they read clearly in `cargo expand`.
struct Locals {
    this: Ident,
    task: Ident,
    scope: Ident,
    out: Ident,
}

impl Locals {
    fn new() -> Self {
        let local = |name: &str| Ident::new(name, Span::mixed_site());
        Locals {
            this: local("__flow_this"),
            task: local("__flow_task"),
            scope: local("__flow_scope"),
            out: local("__flow_out"),
        }
    }
}

fn step_code(
    flow: &Flow,
    position: usize,
    step: &Step,
    locals: &Locals,
    krate: &Path,
) -> TokenStream {
    let Locals {
        this,
        task,
        scope,
        out,
    } = locals;
    let method = step.name();
    let cfgs = &step.cfgs;
    // The step's index among the steps that exist in this build (a `#[cfg]`-ed out step
    // before it does not count), matching the names in `FLOW`.
    let earlier = flow.steps[..position]
        .iter()
        .map(|earlier| match cfg_predicate(earlier) {
            Some(predicate) => quote! { + (::core::cfg!(#predicate) as usize) },
            None => quote! { + 1 },
        });
    let index = quote! { (0usize #(#earlier)*) };
    // The previous output is passed with the span of the user's input type, so that a
    // mismatch between one step's output and the next step's input is reported there.
    let call = match step.input_type() {
        Some(input_ty) => {
            let out_here = Ident::new("__flow_out", Span::mixed_site().located_at(input_ty.span()));
            quote! { #this.#method(&mut #task, #out_here) }
        }
        None if position == 0 => quote! { #this.#method(&mut #task) },
        None => {
            let unit_check = quote_spanned! {method.span()=> let () = #out; };
            quote! { { #unit_check #this.#method(&mut #task) } }
        }
    };
    let cleanup = step.args.cancel.as_ref().map(|cancel| {
        quote! {
            if let ::core::option::Option::Some(reason) = stop.cleanup_reason() {
                let cleanup = #this.#cancel(&mut #task, reason);
                #scope.cleanup(&stop, cleanup).await;
            }
        }
    });
    let return_span = step
        .return_type()
        .map_or_else(|| method.span(), Spanned::span);
    let failed = quote_spanned! {return_span=> return #scope.failed(#task, #index, error) };
    // A step that needs a resource waits for it first (queue add-on); the others are run as
    // they are, paying nothing for it.
    let run = if step.args.resource.is_some() {
        quote!(step_with_resource)
    } else {
        quote!(step)
    };
    let _ = flow;
    quote! {
        #(#cfgs)*
        let #out = match #scope.#run(#index, #call).await {
            #krate::__private::StepRun::Completed(value) => value,
            #krate::__private::StepRun::Failed(error) => #failed,
            #krate::__private::StepRun::Stopped(stop) => {
                #cleanup
                return #scope.stopped(#task, stop);
            }
        };
    }
}

/// `.with_limit(Limit::new(4).with_queue_capacity(1000).with_max_wait(..))`: the flow's own
/// limit. Zero values were refused when parsing.
fn limit_code(limit: &attr::Limit, krate: &Path) -> TokenStream {
    // Unsuffixed, so that `limit = 4u8` still means a `usize`.
    let unsuffixed = |literal: &syn::LitInt| {
        let value = literal.base10_parse::<usize>().unwrap_or(1);
        let mut unsuffixed = proc_macro2::Literal::usize_unsuffixed(value);
        unsuffixed.set_span(literal.span());
        unsuffixed
    };
    let permits = unsuffixed(&limit.permits);
    let queue = limit.queue.as_ref().map(|capacity| {
        let capacity = unsuffixed(capacity);
        quote_spanned! {capacity.span()=> .with_queue_capacity(#capacity) }
    });
    let max_wait = limit.max_wait.as_ref().map(|(duration, literal)| {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        quote_spanned! {literal.span()=> .with_max_wait(::core::time::Duration::from_nanos(#nanos)) }
    });
    quote_spanned! {permits.span()=> .with_limit(#krate::Limit::new(#permits) #queue #max_wait) }
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

/// `Task<P, R>` read as (`P`, `R`); any other spelling (an alias) through `TaskTypes`.
fn task_generics(task_ty: &Type, krate: &Path) -> (TokenStream, TokenStream) {
    if let Some(args) = last_segment_args(task_ty, "Task") {
        let unit = quote!(());
        let payload = args
            .first()
            .map_or_else(|| unit.clone(), ToTokens::to_token_stream);
        let info = args.get(1).map_or(unit, ToTokens::to_token_stream);
        if args.len() <= 2 {
            return (payload, info);
        }
    }
    (
        quote! { <#task_ty as #krate::__private::TaskTypes>::Payload },
        quote! { <#task_ty as #krate::__private::TaskTypes>::Info },
    )
}

/// `Result<T, E>` read as (`T`, `E`); any other spelling through `StepReturn`.
fn result_generics(return_ty: &Type, krate: &Path) -> (TokenStream, TokenStream) {
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
