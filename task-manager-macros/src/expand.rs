//! Writes the code of a flow: the user's block as it was (minus `#[step]`), an
//! `execute_<name>` method whose body is one `async` block calling each step in turn through
//! the runtime's `Scope` (rustc compiles that block into the task's state machine), and the
//! flow's step enum (`steps_enum.rs`).
//!
//! The calls go through the runtime's checks (`__private::NextInput`, `SameError`, ...),
//! each spanned on the user's token that a misuse would be about, so that rustc's error
//! lands there and reads as a sentence; see `task_manager_core`'s `checks.rs`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Ident, Item, ItemImpl, Path, Type};

use crate::ast::{self, Flow};
use crate::attr::{self, FlowArgs};
use crate::borrows;
use crate::ctxt::Errors;
use crate::names::{self, Locals};
use crate::step;
use crate::steps_enum;
use crate::types;
use crate::valid;

pub(crate) fn flow(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let flow_args = attr::parse_flow_args(args, &mut errors);
    let item = match syn::parse2::<ItemImpl>(item.clone()) {
        Ok(item) => item,
        Err(_) => return not_an_impl_block(item, errors),
    };
    let flow = ast::read(item, &mut errors);
    valid::check(&flow, &flow_args, &mut errors);
    let name = flow_args.name.as_ref().filter(|_| !flow.steps.is_empty());
    let header = name.map(|name| Header::new(&flow, &flow_args, name));
    // The step enum needs only the steps' names, so it is written even when the flow has
    // an error: code that names `QueryStep` adds no error of its own.
    let steps_enum = name.map(|name| steps_enum::expand(&flow, &flow_args, name));
    let user_block = &flow.item;
    match errors.into_result() {
        Ok(()) => {
            let generated = header.as_ref().map(|header| execute_method(&flow, header));
            let register = header
                .as_ref()
                .filter(|header| header.on_owner_lost.is_some())
                .map(|header| register_method(&flow, header));
            let resume = header
                .as_ref()
                .filter(|header| header.resumes())
                .map(|header| resume_methods(&flow, header));
            let outcome = header
                .as_ref()
                .filter(|header| header.resumes())
                .map(|header| outcome_methods(&flow, header));
            quote! { #user_block #generated #register #resume #outcome #steps_enum }
        }
        // The user's block, as written, and a stub of the method: the mistake is reported
        // once, and code that calls `execute_<name>` does not add errors of its own.
        Err(error) => {
            let stub = header.map(|header| stub_method(&flow, &header));
            let error = error.into_compile_error();
            quote! { #user_block #stub #steps_enum #error }
        }
    }
}

/// `#[flow]` on anything but an impl block: say so on the item, and keep it.
fn not_an_impl_block(item: TokenStream, mut errors: Errors) -> TokenStream {
    let message = "`#[flow]` goes on an impl block whose async methods are the steps: `#[flow(name = query)] impl MyManager { #[step] async fn prepare(..) .. }`";
    match syn::parse2::<Item>(item.clone()) {
        Ok(parsed) => errors.at(item_head(&parsed), message),
        Err(_) => errors.at_span(Span::call_site(), message),
    }
    let error = errors
        .into_result()
        .err()
        .map(syn::Error::into_compile_error);
    quote! { #item #error }
}

/// The tokens that name an item (`struct Queries`), for an error on the item as a whole
/// that does not underline its whole body.
fn item_head(item: &Item) -> TokenStream {
    match item {
        Item::Struct(item) => {
            let (keyword, ident) = (&item.struct_token, &item.ident);
            quote! { #keyword #ident }
        }
        Item::Enum(item) => {
            let (keyword, ident) = (&item.enum_token, &item.ident);
            quote! { #keyword #ident }
        }
        Item::Union(item) => {
            let (keyword, ident) = (&item.union_token, &item.ident);
            quote! { #keyword #ident }
        }
        Item::Trait(item) => {
            let (keyword, ident) = (&item.trait_token, &item.ident);
            quote! { #keyword #ident }
        }
        Item::Fn(item) => {
            let (keyword, ident) = (&item.sig.fn_token, &item.sig.ident);
            quote! { #keyword #ident }
        }
        Item::Mod(item) => {
            let (keyword, ident) = (&item.mod_token, &item.ident);
            quote! { #keyword #ident }
        }
        other => quote_spanned! {other.span()=> item },
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

/// The signature of `execute_<name>`, shared by the method and its stub.
struct Header {
    krate: Path,
    method: Ident,
    flow_name: String,
    payload_ty: TokenStream,
    info_ty: TokenStream,
    /// Where the runtime info type is written, for the error if it is not `Default`.
    info_span: Span,
    output_ty: TokenStream,
    error_ty: TokenStream,
    /// `.with_timeout(..)` if the flow has one.
    with_timeout: Option<TokenStream>,
    /// `.with_cleanup_timeout(..)` if the flow has one.
    with_cleanup_timeout: Option<TokenStream>,
    /// `.with_limit(..)` if the flow has a limit of its own (queue add-on).
    with_limit: Option<TokenStream>,
    /// `.with_minimal_report()` for `report = minimal`.
    with_report: Option<TokenStream>,
    /// `on_owner_lost = cancel` (the word, for its span).
    on_owner_lost: Option<Ident>,
    /// Where the payload type is written, for the error if it cannot be persisted.
    payload_span: Span,
    doc: String,
}

impl Header {
    fn new(flow: &Flow, args: &FlowArgs, name: &Ident) -> Self {
        let krate = names::runtime_path(args.krate.as_ref());
        let first = &flow.steps[0];
        let last = &flow.steps[flow.steps.len() - 1];
        // A task type the macro has refused already stands as `Task`, so that the stub adds
        // no error about it.
        let task_ty: Type = first
            .task_type()
            .filter(|ty| valid::is_named_task(ty))
            .cloned()
            .unwrap_or_else(|| syn::parse_quote!(#krate::Task));
        let (payload_ty, info_ty) = types::task_generics(&task_ty, &krate);
        // A return type the macro has refused already stands as `()`, so that the stub
        // adds no error about it (an undeclared `'a` of a borrowed output, for one).
        let last_return: Type = last
            .return_type()
            .filter(|ty| valid::not_a_result(ty).is_none() && borrows::in_output(ty).is_none())
            .cloned()
            .unwrap_or_else(|| syn::parse_quote!(::core::result::Result<(), ()>));
        let (output_ty, error_ty) = types::result_generics(&last_return, &krate);
        let with_limit = args
            .limit
            .as_ref()
            .map(|permits| limit_tokens(args, permits, &krate));
        let flow_name = name.to_string();
        let doc = format!(
            "Starts a task of the `{flow_name}` flow (steps: {}) and returns its handle.\n\n\
             The task is registered under the passport's id before this returns, so it can be \
             cancelled by id at once. Dropping the handle cancels the task; `detach` it to let it run on.\n\n\
             # Errors\nRefused if a task with the same id is running, if no tokio runtime is running here, \
             if the task manager is shutting down, if the task's timeout is zero, if the flow's queue is full, \
             or if a step needs a resource the task manager does not have.",
            flow.steps
                .iter()
                .map(|step| format!("`{}`", step.name()))
                .collect::<Vec<_>>()
                .join(", "),
        );
        Header {
            // The user's span: two flows of one name are reported on their `name = ..`.
            method: format_ident!("execute_{}", name, span = name.span()),
            krate,
            flow_name,
            payload_ty,
            info_ty,
            info_span: types::info_span(&task_ty),
            payload_span: types::payload_span(&task_ty),
            on_owner_lost: args.on_owner_lost.clone(),
            output_ty,
            error_ty,
            with_timeout: args.timeout.as_ref().map(|(timeout, literal)| {
                let duration = duration_tokens(*timeout);
                quote_spanned! {literal.span()=> .with_timeout(#duration) }
            }),
            with_cleanup_timeout: args.cleanup_timeout.as_ref().map(|(deadline, literal)| {
                let duration = duration_tokens(*deadline);
                quote_spanned! {literal.span()=> .with_cleanup_timeout(#duration) }
            }),
            with_limit,
            with_report: args.minimal_report.as_ref().map(|word| {
                quote_spanned! {word.span()=> .with_minimal_report() }
            }),
            doc,
        }
    }

    /// `on_owner_lost = resume`.
    fn resumes(&self) -> bool {
        self.on_owner_lost
            .as_ref()
            .is_some_and(|word| word == "resume")
    }

    /// `impl Queries { #[doc] pub fn execute_query(..) -> .. #body }`
    fn wrap(&self, flow: &Flow, body: &TokenStream) -> TokenStream {
        let Header {
            krate,
            method,
            payload_ty,
            info_ty,
            output_ty,
            error_ty,
            doc,
            ..
        } = self;
        let (impl_generics, _, where_clause) = flow.item.generics.split_for_impl();
        let self_ty = &flow.item.self_ty;
        // The method (but for what its body holds) on the flow's `name = ..`: two flows of
        // one name on a type are reported ("duplicate definitions") there. `self` and
        // `passport` keep call-site hygiene, so that they are the ones the body uses even
        // when the flow is written by a `macro_rules!` and the name comes from its caller.
        let (self_, passport) = (
            names::self_token(),
            Ident::new("passport", Span::call_site()),
        );
        let method = quote_spanned! {method.span()=>
            #[doc = #doc]
            #[allow(clippy::too_many_lines, clippy::type_complexity, clippy::used_underscore_binding)]
            pub fn #method(
                #self_: &::std::sync::Arc<Self>,
                #passport: #krate::Passport<#payload_ty>,
            ) -> ::core::result::Result<#krate::TaskHandle<#output_ty, #error_ty, #info_ty>, #krate::SubmitError> {
                #body
            }
        };
        quote! {
            impl #impl_generics #self_ty #where_clause {
                #method
            }
        }
    }
}

/// What `execute_<name>` stands for when the flow has an error: no body to add errors.
fn stub_method(flow: &Flow, header: &Header) -> TokenStream {
    let body = quote! {
        let _ = passport;
        ::core::unreachable!("`#[flow]` reported a compile error")
    };
    header.wrap(flow, &body)
}

/// `static FLOW: FlowInfo = ..;`: the flow's static description, as `execute_<name>` and
/// `__resume_<name>` declare it.
fn flow_static(flow: &Flow, header: &Header) -> TokenStream {
    let Header {
        krate,
        flow_name,
        with_timeout,
        with_cleanup_timeout,
        with_limit,
        with_report,
        ..
    } = header;
    let step_infos = flow.steps.iter().map(|step| {
        let cfgs = &step.cfgs;
        let step_name = step.name().to_string();
        let resource = step
            .args
            .resource
            .as_ref()
            .map(|name| quote! { .with_resource(#name) });
        let timeout = step.args.timeout.as_ref().map(|(limit, literal)| {
            let duration = duration_tokens(*limit);
            quote_spanned! {literal.span()=> .with_timeout(#duration) }
        });
        quote! { #(#cfgs)* #krate::__private::StepInfo::new(#step_name) #resource #timeout }
    });
    quote! {
        static FLOW: #krate::__private::FlowInfo = #krate::__private::FlowInfo::new(#flow_name, &[#(#step_infos),*]) #with_timeout #with_cleanup_timeout #with_limit #with_report;
    }
}

/// What a resumed task's body is given: its locals for the step it resumes at, that
/// step's persisted input, and the completed compensated steps' persisted outputs.
#[derive(Clone, Copy)]
struct Resumed<'a> {
    start: &'a Ident,
    input: &'a Ident,
    outputs: &'a Ident,
}

/// The task's `async` body (and the pattern of its step limits): its steps from the first,
/// or, for `__resume_<name>`, from the step it resumes at (`resumed`).
fn task_body(
    flow: &Flow,
    header: &Header,
    resumed: Option<Resumed<'_>>,
) -> (TokenStream, TokenStream) {
    let krate = &header.krate;
    let Locals {
        task,
        scope,
        out,
        stop,
        ..
    } = Locals::new();
    // A first step that may be `#[cfg]`-ed out leaves the next one without an input.
    let unit_out = flow.steps[0]
        .cfgs
        .first()
        .map(|_| quote! { let #out = (); });
    let steps: Vec<TokenStream> = flow
        .steps
        .iter()
        .enumerate()
        .map(|(position, step)| {
            let persist = header
                .on_owner_lost
                .as_ref()
                .map(|_| persist_code(flow, position, step, header));
            let code = step::code(flow, position, step, krate);
            quote! { #persist #code }
        })
        .collect();
    // A resumed task's steps: from the one it resumes at (see `resumed_steps`).
    let steps = match resumed {
        None => quote! { #(#steps)* },
        Some(resumed) => resumed_steps(flow, &steps, resumed),
    };
    let cleanups = flow
        .steps
        .iter()
        .enumerate()
        .filter_map(|(position, step)| step::cleanup_code(flow, position, step));
    let stopped = names::stopped_label();
    let private = names::private(Span::call_site());
    // One step timer per task, shared by the flow's timed steps (`run/step_timer.rs`).
    let timer = flow
        .steps
        .iter()
        .any(|step| step.args.timeout.is_some())
        .then(|| {
            let (timer, limits) = (step::timer_local(), step::limits_local());
            quote! { let mut #timer = #private::StepTimer::new(#limits); }
        });
    // The passport's per-call step limits: kept by the step timer, dropped by a flow without one.
    let limits = match &timer {
        Some(_) => step::limits_local().to_token_stream(),
        None => quote! { _ },
    };
    // The seal of a task whose steps all returned; a flow that keeps its output
    // (`on_owner_lost = resume`) hands it to the seal, converted on the last step's output
    // type, where an unpersistable one is reported.
    let claim_completed = if header.resumes() {
        let last = &flow.steps[flow.steps.len() - 1];
        let (output_ty, span) = step::output_type(last, krate);
        let (private, out) = (names::private(span), Locals::at(span).out);
        let output =
            quote_spanned! {span=> <#output_ty as #private::ClusterState>::to_state(&#out) };
        quote! { #scope.claim_completed_keeping(#output).await; }
    } else {
        quote! { #scope.claim_completed().await; }
    };
    let task_body = if flow.compensates() {
        // The steps' block ends with a `Halt`; the compensations of the completed steps run
        // after the stopped step's cleanup, in reverse order (see the runtime's
        // `run/compensate.rs`).
        let kept = flow
            .steps
            .iter()
            .enumerate()
            .filter(|(_, step)| step.args.compensate.is_some())
            .map(|(position, step)| {
                let cfgs = &step.cfgs;
                let kept = step::kept_local(position);
                match resumed {
                    None => quote! { #(#cfgs)* let mut #kept = ::core::option::Option::None; },
                    // A step completed before the task was lost: its output as persisted.
                    Some(resumed) => {
                        let read = kept_read(flow, position, step, header, resumed);
                        quote! { let mut #kept = #read; }
                    }
                }
            });
        let compensations = flow
            .steps
            .iter()
            .enumerate()
            .rev()
            .filter_map(|(position, step)| step::compensation_code(flow, position, step));
        let halt = names::local("__flow_halt", Span::call_site());
        quote! {
            #timer
            #(#kept)*
            let #halt = #stopped: {
                #unit_out
                #steps
                if #scope.is_clustered() {
                    #claim_completed
                }
                if let ::core::option::Option::Some(stop) = #scope.try_complete() {
                    break #stopped #private::Halt::Stopped(stop);
                }
                return #scope.completed_sealed(#task, #out);
            };
            if let #private::Halt::Stopped(#stop) = &#halt {
                #(#cleanups)*
            }
            #(#compensations)*
            #scope.halted(#task, #halt)
        }
    } else {
        let failed = names::failed_label();
        let (failed_at, error) = (
            names::local("__flow_failed_at", Span::call_site()),
            names::local("__flow_error", Span::call_site()),
        );
        quote! {
            #timer
            let (#failed_at, #error) = #failed: {
                let #stop = #stopped: {
                    #unit_out
                    #steps
                    if #scope.is_clustered() {
                        #claim_completed
                    }
                    return #scope.completed(#task, #out);
                };
                #(#cleanups)*
                return #scope.stopped(#task, #stop);
            };
            // Nothing runs between this seal and the ending: the seal carries it.
            if #scope.is_clustered() {
                #scope.claim_failed_at(#failed_at).await;
            }
            #scope.failed(#task, #failed_at, #error)
        }
    };
    (task_body, limits)
}

fn execute_method(flow: &Flow, header: &Header) -> TokenStream {
    let Header {
        krate,
        info_ty,
        info_span,
        ..
    } = header;
    let self_ty = &flow.item.self_ty;
    let Locals {
        this, task, scope, ..
    } = Locals::new();
    let private = names::private(Span::call_site());
    let (task_body, limits) = task_body(flow, header, None);
    let flow_static = flow_static(flow, header);
    // Spanned on the user's types: a `Self` without a `TaskManager`, or runtime info that
    // is not `Default` (nor `Send`), is reported on the type at fault.
    // The receiver goes through a local located on the user's type, so that the trait-bound
    // error underlines that type alone, while `self` itself keeps call-site hygiene.
    let receiver = names::local("__flow_receiver", self_ty.span());
    let manager =
        quote_spanned! {self_ty.span()=> #krate::HasTaskManager::task_manager(#receiver) };
    let info = quote_spanned! {*info_span=> ::core::marker::PhantomData::<#info_ty> };
    let submit = if header.resumes() {
        // A resumable flow's task records its payload and info with its submission, so
        // that a loss before its first step resumes it there (`run/submit.rs`). Each
        // conversion is spanned on its type, where an unpersistable one is reported.
        let state = submitted_state(header, &manager);
        let submitted = names::local("__flow_submitted_state", Span::call_site());
        quote! {
            let #submitted = #state;
            #private::submit_resumable_flow(
                #manager,
                &FLOW,
                passport,
                #info,
                #submitted,
                move |mut #task, mut #scope, #limits| async move { #task_body },
            )
        }
    } else {
        quote! {
            #private::submit_flow(
                #manager,
                &FLOW,
                passport,
                #info,
                move |mut #task, mut #scope, #limits| async move { #task_body },
            )
        }
    };
    let body = quote! {
        use #krate::__private as #private;
        #flow_static
        let #this = ::std::sync::Arc::clone(self);
        let #receiver: &Self = self;
        #submit
    };
    header.wrap(flow, &body)
}

/// For `execute_<name>` of a flow with `on_owner_lost = resume`: the task's payload and
/// runtime info (its `Default`) as the store keeps them, on a clustered manager only.
fn submitted_state(header: &Header, manager: &TokenStream) -> TokenStream {
    let (payload_ty, info_ty) = (&header.payload_ty, &header.info_ty);
    let passport = Ident::new("passport", Span::call_site());
    let payload = {
        let span = header.payload_span;
        let private = names::private(span);
        quote_spanned! {span=> <#payload_ty as #private::ClusterState>::to_state(#passport.payload()) }
    };
    let info = {
        let span = header.info_span;
        let private = names::private(span);
        quote_spanned! {span=>
            <#info_ty as #private::ClusterState>::to_state(&<#info_ty as ::core::default::Default>::default())
        }
    };
    quote! {
        if #manager.is_clustered() {
            ::core::option::Option::Some((#payload, #info))
        } else {
            ::core::option::Option::None
        }
    }
}

/// Before a step of a flow with `on_owner_lost`, on a clustered manager: the task's payload
/// and runtime info, written with the step's boundary and awaited (`run/recover.rs`). Each
/// conversion is spanned on its type, where an unpersistable one is reported.
fn persist_code(
    flow: &Flow,
    position: usize,
    step: &crate::ast::Step,
    header: &Header,
) -> TokenStream {
    let Locals { scope, .. } = Locals::new();
    let cfgs = &step.cfgs;
    let index = step::index(flow, position);
    let (payload_ty, info_ty) = (&header.payload_ty, &header.info_ty);
    let payload = {
        let span = header.payload_span;
        let (private, task) = (names::private(span), Locals::at(span).task);
        quote_spanned! {span=> <#payload_ty as #private::ClusterState>::to_state(#task.payload()) }
    };
    let info = {
        let span = header.info_span;
        let (private, task) = (names::private(span), Locals::at(span).task);
        quote_spanned! {span=> <#info_ty as #private::ClusterState>::to_state(#task.info()) }
    };
    // The outputs of the completed compensated steps before this one, kept for their
    // compensations, each converted on its step's output type.
    let outputs = names::local("__flow_outputs", Span::call_site());
    let kept_outputs = flow.steps[..position]
        .iter()
        .enumerate()
        .filter(|(_, earlier)| earlier.args.compensate.is_some())
        .map(|(earlier_position, earlier)| {
            let cfgs = &earlier.cfgs;
            let kept = step::kept_local(earlier_position);
            let earlier_index = step::index(flow, earlier_position);
            let (output_ty, span) = step::output_type(earlier, &header.krate);
            let private = names::private(span);
            let bytes = names::local("__flow_bytes", span);
            let kept_at = names::local(&format!("__flow_kept_{earlier_position}"), span);
            let convert = quote_spanned! {span=>
                <#output_ty as #private::ClusterState>::to_state(#kept_at)
            };
            quote! {
                #(#cfgs)*
                let () = if let ::core::option::Option::Some(#kept) = &#kept {
                    if let ::core::option::Option::Some(#bytes) = #convert {
                        #outputs.push((#earlier_index, #bytes));
                    }
                };
            }
        });
    let persist = if header.resumes() {
        // The input of the step that begins (the previous step's output), converted on the
        // step's input type, where an unpersistable one is reported.
        let input = match step.input_type().filter(|_| position > 0) {
            Some(input_ty) => {
                let span = input_ty.span();
                let (private, out) = (names::private(span), Locals::at(span).out);
                quote_spanned! {span=> <#input_ty as #private::ClusterState>::to_state(&#out) }
            }
            None => quote! { ::core::option::Option::None },
        };
        quote! { #scope.persist_resumable(#index, #payload, #info, #input, #outputs) }
    } else {
        quote! { #scope.persist(#index, #payload, #info, #outputs) }
    };
    quote! {
        #(#cfgs)*
        if #scope.is_clustered() {
            #[allow(unused_mut)]
            let mut #outputs = ::std::vec::Vec::new();
            #(#kept_outputs)*
            let _ = #persist.await;
        }
    }
}

/// A resumed task's steps (`on_owner_lost = resume`, whose steps carry no `#[cfg]`): each
/// step's input is the previous step's output, or, for the step the task resumes at, its
/// persisted input. Nested so that each `__flow_out` keeps its type:
/// `let out = if start >= k { <input of step k, read back> } else { <steps before k>; out };`
/// then step k. The input was checked to read back (`__can_resume_<name>`) before the task
/// was submitted.
fn resumed_steps(flow: &Flow, steps: &[TokenStream], resumed: Resumed<'_>) -> TokenStream {
    let Resumed { start, input, .. } = resumed;
    let out = Locals::new().out;
    let mut inputs = TokenStream::new();
    for (position, step) in flow.steps.iter().enumerate().skip(1) {
        let read = match step.input_type() {
            Some(input_ty) => {
                let span = input_ty.span();
                let private = names::private(span);
                // The whole call on the input type: an unpersistable one is reported there.
                let bytes = names::local("__flow_bytes", Span::call_site());
                let read = quote_spanned! {span=>
                    <#input_ty as #private::ClusterState>::from_state(#bytes)
                };
                quote! {
                    match #input.as_deref().and_then(|#bytes| #read) {
                        ::core::option::Option::Some(input) => input,
                        ::core::option::Option::None => ::core::unreachable!(
                            "a resumed step's input is read back before the task is submitted"
                        ),
                    }
                }
            }
            None => quote! { () },
        };
        let before = &steps[position - 1];
        inputs = quote! {
            let #out = if #start >= #position {
                #read
            } else {
                #inputs
                #before
                #out
            };
        };
    }
    let last = &steps[steps.len() - 1];
    quote! { #inputs #last }
}

/// A resumed task's kept output of compensated step `position`: read back from the
/// persisted outputs if the step completed before the task resumed, else `None` (it is
/// kept when it completes here).
fn kept_read(
    flow: &Flow,
    position: usize,
    step: &crate::ast::Step,
    header: &Header,
    resumed: Resumed<'_>,
) -> TokenStream {
    let _ = flow;
    let Resumed { start, outputs, .. } = resumed;
    let (output_ty, span) = step::output_type(step, &header.krate);
    let private = names::private(span);
    let kept = names::local("__flow_kept_output", Span::call_site());
    let read =
        quote_spanned! {span=> <#output_ty as #private::ClusterState>::from_state(&#kept.1) };
    quote! {
        if #start > #position {
            #outputs
                .iter()
                .find(|#kept| #kept.0 == #position)
                .and_then(|#kept| #read)
        } else {
            ::core::option::Option::None
        }
    }
}

/// For a flow with `on_owner_lost = resume`: `__can_resume_<name>`, whether a lost task's
/// persisted input of step `start` and outputs of the completed compensated steps read back
/// as their types, and `__resume_<name>`, which submits the task again from step `start`
/// (`run/recover.rs`'s `register_resumption` calls both). Hidden: the generated
/// `register_<name>` is their one caller.
fn resume_methods(flow: &Flow, header: &Header) -> TokenStream {
    let Header {
        krate,
        flow_name,
        payload_ty,
        info_ty,
        info_span,
        ..
    } = header;
    let (impl_generics, _, where_clause) = flow.item.generics.split_for_impl();
    let self_ty = &flow.item.self_ty;
    let can_resume = format_ident!("__can_resume_{}", flow_name);
    let resume = format_ident!("__resume_{}", flow_name);
    let start = names::local("__flow_start", Span::call_site());
    let input = names::local("__flow_input", Span::call_site());
    let outputs = names::local("__flow_resumed_outputs", Span::call_site());
    let bytes = names::local("__flow_bytes", Span::call_site());
    let private = names::private(Span::call_site());
    let checks = flow.steps.iter().enumerate().map(|(position, step)| {
        let input_ok = match step.input_type().filter(|_| position > 0) {
            Some(input_ty) => {
                let span = input_ty.span();
                let private = names::private(span);
                let read = quote_spanned! {span=> <#input_ty as #private::ClusterState>::from_state(#bytes) };
                quote! { #input.is_some_and(|#bytes| #read.is_some()) }
            }
            None => quote! { true },
        };
        let outputs_ok = flow.steps[..position]
            .iter()
            .enumerate()
            .filter(|(_, earlier)| earlier.args.compensate.is_some())
            .map(|(earlier_position, earlier)| {
                let (output_ty, span) = step::output_type(earlier, krate);
                let private = names::private(span);
                let read = quote_spanned! {span=> <#output_ty as #private::ClusterState>::from_state(&#bytes.1) };
                quote! {
                    && #outputs.iter().any(|#bytes| #bytes.0 == #earlier_position && #read.is_some())
                }
            });
        quote! {
            if #start == #position {
                return #input_ok #(#outputs_ok)*;
            }
        }
    });
    let Locals {
        this, task, scope, ..
    } = Locals::new();
    let (task_body, limits) = task_body(
        flow,
        header,
        Some(Resumed {
            start: &start,
            input: &input,
            outputs: &outputs,
        }),
    );
    let flow_static = flow_static(flow, header);
    let receiver = names::local("__flow_receiver", self_ty.span());
    let manager =
        quote_spanned! {self_ty.span()=> #krate::HasTaskManager::task_manager(#receiver) };
    let info_marker = quote_spanned! {*info_span=> ::core::marker::PhantomData::<#info_ty> };
    let info = names::local("__flow_info", Span::call_site());
    let (self_, passport) = (
        names::self_token(),
        Ident::new("passport", Span::call_site()),
    );
    quote! {
        impl #impl_generics #self_ty #where_clause {
            #[doc(hidden)]
            #[allow(clippy::type_complexity)]
            pub fn #can_resume(
                #start: usize,
                #input: ::core::option::Option<&[u8]>,
                #outputs: &[(usize, ::std::vec::Vec<u8>)],
            ) -> bool {
                use #krate::__private as #private;
                let _ = (&#input, &#outputs);
                #(#checks)*
                false
            }

            #[doc(hidden)]
            #[allow(clippy::too_many_lines, clippy::type_complexity, clippy::used_underscore_binding)]
            pub fn #resume(
                #self_: &::std::sync::Arc<Self>,
                #passport: #krate::Passport<#payload_ty>,
                #info: #info_ty,
                #start: usize,
                #input: ::core::option::Option<::std::vec::Vec<u8>>,
                #outputs: ::std::vec::Vec<(usize, ::std::vec::Vec<u8>)>,
            ) -> bool {
                use #krate::__private as #private;
                #flow_static
                let #this = ::std::sync::Arc::clone(#self_);
                let #receiver: &Self = #self_;
                let submitted = #private::submit_flow(
                    #manager,
                    &FLOW,
                    #passport,
                    #info_marker,
                    move |mut #task, mut #scope, #limits| async move {
                        *#task.info_mut() = #info;
                        #scope.resumed_at(#start);
                        let _ = (&#input, &#outputs);
                        #task_body
                    },
                );
                match submitted {
                    ::core::result::Result::Ok(handle) => {
                        handle.detach();
                        true
                    }
                    ::core::result::Result::Err(_) => false,
                }
            }
        }
    }
}

/// For a flow that keeps its output (`on_owner_lost = resume`): `<name>_outcome(id)`, which
/// awaits a task's recorded ending from any instance and reads its output back as the flow's
/// output type, and `try_<name>_outcome(id)`, which does not wait (`clustered_outcome.rs`).
fn outcome_methods(flow: &Flow, header: &Header) -> TokenStream {
    let Header {
        krate,
        flow_name,
        output_ty,
        ..
    } = header;
    let (impl_generics, _, where_clause) = flow.item.generics.split_for_impl();
    let self_ty = &flow.item.self_ty;
    let outcome = format_ident!("{}_outcome", flow_name);
    let try_outcome = format_ident!("try_{}_outcome", flow_name);
    let id = names::local("__flow_id", Span::call_site());
    let self_ = names::self_token();
    // The output read back, converted on the last step's output type: an unpersistable
    // one is reported there, as the seal's conversion reports it (the same error, once).
    let last = &flow.steps[flow.steps.len() - 1];
    let (last_output_ty, span) = step::output_type(last, krate);
    let private = names::private(span);
    let read = quote_spanned! {span=> <#last_output_ty as #private::ClusterState>::from_state };
    let doc = format!(
        "The outcome of task `id` of the `{flow_name}` flow, from any instance, once its ending \
         is recorded in the cluster's store: how it ended and, if it completed, its output \
         (kept with the task's seal, also when the task was resumed on another instance after \
         its own was lost). Waits while the task runs. See \
         `TaskManager::outcome_in_cluster`.\n\n\
         # Errors\nNo record of `id` (`OutcomeErrorKind::NotFound`), a task of another flow \
         (`OtherFlow`), a completed task whose record keeps no output (`NotKept`: sealed \
         before the store kept outputs), an output that does not read back (`WrongType`), the \
         store failing or no cluster (`Cluster`)."
    );
    let try_doc = format!(
        "`{flow_name}_outcome` without waiting: `None` while task `id`'s ending is not \
         recorded yet (one read of the store).\n\n# Errors\nAs `{flow_name}_outcome`."
    );
    quote! {
        impl #impl_generics #self_ty #where_clause {
            #[doc = #doc]
            pub async fn #outcome(
                &#self_,
                #id: #krate::TaskId,
            ) -> ::core::result::Result<#krate::ClusterOutcome<#output_ty>, #krate::OutcomeError> {
                use #krate::__private as #private;
                #krate::__private::flow_outcome::<#output_ty>(
                    #krate::HasTaskManager::task_manager(#self_),
                    #id,
                    #flow_name,
                    #read,
                )
                .await
            }

            #[doc = #try_doc]
            pub async fn #try_outcome(
                &#self_,
                #id: #krate::TaskId,
            ) -> ::core::result::Result<
                ::core::option::Option<#krate::ClusterOutcome<#output_ty>>,
                #krate::OutcomeError,
            > {
                use #krate::__private as #private;
                #krate::__private::try_flow_outcome::<#output_ty>(
                    #krate::HasTaskManager::task_manager(#self_),
                    #id,
                    #flow_name,
                    #read,
                )
                .await
            }
        }
    }
}

/// `register_<name>`, for a flow with `on_owner_lost`: registers the service on its clustered
/// manager as the one that runs the cleanup of a task of this flow claimed from a lost
/// instance (`run/recover.rs`). The cleanup of step `i` is the step's own `cancel = ..`; the
/// compensation of a completed step `i` its `compensate = ..`, given its output read back.
fn register_method(flow: &Flow, header: &Header) -> TokenStream {
    let Header {
        krate,
        flow_name,
        payload_ty,
        info_ty,
        payload_span,
        info_span,
        ..
    } = header;
    let (impl_generics, _, where_clause) = flow.item.generics.split_for_impl();
    let self_ty = &flow.item.self_ty;
    let method = format_ident!("register_{}", flow_name, span = header.method.span());
    let (this, task, reason, index) = (
        names::local("__flow_this", Span::call_site()),
        names::local("__flow_task", Span::call_site()),
        names::local("__flow_reason", Span::call_site()),
        names::local("__flow_index", Span::call_site()),
    );
    let arms = flow
        .steps
        .iter()
        .enumerate()
        .filter_map(|(position, step)| {
            let cancel = step.args.cancel.as_ref()?;
            let cfgs = &step.cfgs;
            let step_index = step::index(flow, position);
            Some(quote! {
                #(#cfgs)*
                if #index == #step_index {
                    return ::core::option::Option::Some(::std::boxed::Box::pin(async move {
                        let _ = #this.#cancel(&mut #task, #reason).await;
                    }));
                }
            })
        });
    let (output, bytes) = (
        names::local("__flow_output", Span::call_site()),
        names::local("__flow_bytes", Span::call_site()),
    );
    let compensation_arms = flow.steps.iter().enumerate().filter_map(|(position, step)| {
        let call = step::compensation_call(flow, step)?;
        let cfgs = &step.cfgs;
        let step_index = step::index(flow, position);
        let step_name = step.name().to_string();
        let (output_ty, span) = step::output_type(step, krate);
        let private = names::private(span);
        let read = quote_spanned! {span=> <#output_ty as #private::ClusterState>::from_state };
        let private = names::private(Span::call_site());
        Some(quote! {
            #(#cfgs)*
            if #index == #step_index {
                let #output = #read(#bytes);
                return ::core::option::Option::Some((#step_name, ::std::boxed::Box::pin(async move {
                    let ::core::option::Option::Some(#output) = #output else {
                        return ::core::option::Option::Some(::std::string::String::from(
                            "its step's persisted output could not be read back",
                        ));
                    };
                    #private::CompensationResult::into_error(#call.await)
                })));
            }
        })
    });
    let from_payload = {
        let private = names::private(*payload_span);
        quote_spanned! {*payload_span=> <#payload_ty as #private::ClusterState>::from_state }
    };
    let from_info = {
        let private = names::private(*info_span);
        quote_spanned! {*info_span=> <#info_ty as #private::ClusterState>::from_state }
    };
    let private = names::private(Span::call_site());
    // A resumable flow registers its resumption too (`run/recover.rs`).
    let (register, resume_args) = if header.resumes() {
        let can_resume = format_ident!("__can_resume_{}", flow_name);
        let resume = format_ident!("__resume_{}", flow_name);
        (
            format_ident!("register_resumption"),
            quote! { Self::#can_resume, Self::#resume, },
        )
    } else {
        (format_ident!("register_recovery"), TokenStream::new())
    };
    let then = if header.resumes() {
        "then runs that step again from its persisted input and goes on with the task (a task \
         that a cancel had won before the loss is compensated instead)"
    } else {
        "then the compensations of the completed steps, in reverse order"
    };
    let doc = format!(
        "Registers this service on its manager's cluster as the one that cleans up the tasks of          the `{flow_name}` flow claimed from a lost instance: the instance that claims such a          task runs the interrupted step's cleanup, with `CancelReason::OwnerLost`, {then}. Call it once          on every instance, after building the service. Does nothing on a manager without a cluster."
    );
    quote! {
        impl #impl_generics #self_ty #where_clause {
            #[doc = #doc]
            #[allow(clippy::type_complexity)]
            pub fn #method(self: &::std::sync::Arc<Self>) {
                use #krate::__private as #private;
                static FLOW: #private::FlowInfo = #private::FlowInfo::new(#flow_name, &[]);
                #private::#register::<Self, #payload_ty, #info_ty>(
                    #krate::HasTaskManager::task_manager(&**self),
                    &FLOW,
                    self,
                    #from_payload,
                    #from_info,
                    |#this: ::std::sync::Arc<Self>,
                     #index: usize,
                     mut #task: #krate::Task<#payload_ty, #info_ty>,
                     #reason: #krate::CancelReason|
                     -> ::core::option::Option<::core::pin::Pin<::std::boxed::Box<
                        dyn ::core::future::Future<Output = ()> + ::core::marker::Send>>> {
                        #(#arms)*
                        let _ = (#this, #task, #reason);
                        ::core::option::Option::None
                    },
                    |#this: ::std::sync::Arc<Self>,
                     #index: usize,
                     mut #task: #krate::Task<#payload_ty, #info_ty>,
                     #bytes: &[u8]|
                     -> ::core::option::Option<(&'static str, ::core::pin::Pin<::std::boxed::Box<
                        dyn ::core::future::Future<Output = ::core::option::Option<::std::string::String>> + ::core::marker::Send>>)> {
                        #(#compensation_arms)*
                        let _ = (#this, &mut #task, #bytes);
                        ::core::option::Option::None
                    },
                    #resume_args
                );
            }
        }
    }
}

/// `.with_limit(Limit::new(4).with_queue_capacity(1000).with_max_wait(..))`: the flow's own
/// limit (queue add-on). Zero values were refused when parsing.
fn limit_tokens(args: &FlowArgs, permits: &syn::LitInt, krate: &Path) -> TokenStream {
    // Unsuffixed, so that `limit = 4u8` still means a `usize`.
    let unsuffixed = |literal: &syn::LitInt| {
        let value = literal.base10_parse::<usize>().unwrap_or(1);
        let mut unsuffixed = proc_macro2::Literal::usize_unsuffixed(value);
        unsuffixed.set_span(literal.span());
        unsuffixed
    };
    let permits = unsuffixed(permits);
    let queue = args.queue.as_ref().map(|capacity| {
        let capacity = unsuffixed(capacity);
        quote_spanned! {capacity.span()=> .with_queue_capacity(#capacity) }
    });
    let max_wait = args.max_wait.as_ref().map(|(max_wait, literal)| {
        let duration = duration_tokens(*max_wait);
        quote_spanned! {literal.span()=> .with_max_wait(#duration) }
    });
    quote_spanned! {permits.span()=> .with_limit(#krate::Limit::new(#permits) #queue #max_wait) }
}

/// `Duration::from_secs(30)`, in the largest unit that is exact (it reads as written).
fn duration_tokens(duration: std::time::Duration) -> TokenStream {
    let nanos = duration.as_nanos();
    let (constructor, count) = if nanos % 1_000_000_000 == 0 {
        ("from_secs", nanos / 1_000_000_000)
    } else if nanos % 1_000_000 == 0 {
        ("from_millis", nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        ("from_micros", nanos / 1_000)
    } else {
        ("from_nanos", nanos)
    };
    let constructor = Ident::new(constructor, Span::call_site());
    // `duration::parse` refuses anything over `u64::MAX` nanoseconds.
    let count = u64::try_from(count).unwrap_or(u64::MAX);
    let count = proc_macro2::Literal::u64_unsuffixed(count);
    quote! { ::core::time::Duration::#constructor(#count) }
}
