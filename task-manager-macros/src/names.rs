//! The names the generated code uses, shared by every module that writes code: the path to
//! the runtime crate, the alias of its `__private` module, the generated locals, the label
//! of the steps' block, and `self`.
//!
//! Each name's hygiene and span decide what the user's code can see and where rustc reports
//! an error about it, so every writer takes them from here.

use proc_macro2::Span;
use syn::{Ident, Path};

/// The path to the runtime crate: `::task_manager_core` unless `crate = ".."` overrides it.
pub(crate) fn runtime_path(krate: Option<&Path>) -> Path {
    krate.cloned().unwrap_or_else(|| {
        let ident = Ident::new("task_manager_core", Span::call_site());
        syn::parse_quote!(::#ident)
    })
}

/// The alias of the runtime's `__private` module in the generated body, located at `span`
/// for a check on the user's token. Mixed-site, as the local the check takes: rustc
/// reports a check whose path and argument come from different contexts on the
/// `#[flow]` attribute instead.
pub(crate) fn private(span: Span) -> Ident {
    local("__flow_private", span)
}

/// The same alias for the checks on the task's span (`step_is_send`): call-site, as the
/// task's own `Send` check, so that rustc prints the two as one error (see `step::code`).
/// (A `use` alias is an item: items are not hidden by mixed-site hygiene, so both resolve.)
pub(crate) fn private_at_call_site() -> Ident {
    Ident::new("__flow_private", Span::call_site())
}

/// The generated locals: unreachable from user code (mixed-site hygiene) and prefixed so
/// that they read clearly in `cargo expand`.
pub(crate) struct Locals {
    pub(crate) this: Ident,
    pub(crate) task: Ident,
    pub(crate) scope: Ident,
    pub(crate) out: Ident,
    pub(crate) stop: Ident,
}

impl Locals {
    pub(crate) fn new() -> Self {
        Locals::at(Span::call_site())
    }

    /// The same locals, reported (if ever) at `location`.
    pub(crate) fn at(location: Span) -> Self {
        Locals {
            this: local("__flow_this", location),
            task: local("__flow_task", location),
            scope: local("__flow_scope", location),
            out: local("__flow_out", location),
            stop: local("__flow_stop", location),
        }
    }
}

/// A generated local, reported (if ever) at `location`.
pub(crate) fn local(name: &str, location: Span) -> Ident {
    Ident::new(name, Span::mixed_site().located_at(location))
}

/// The label of the block of the steps: a stopped step breaks out of it with its `Stop`, so
/// that the cleanup runs after the step's `match` has ended, and nothing of the step (its
/// `StepRun`) is kept in the task's state machine while the cleanup runs.
pub(crate) fn stopped_label() -> syn::Lifetime {
    syn::Lifetime::new("'__flow_stopped", Span::mixed_site())
}

/// The label of one step's block: the step's value leaves it, and its `Err` is handled
/// after the step's `match` has ended (see `step::code`).
pub(crate) fn step_label() -> syn::Lifetime {
    syn::Lifetime::new("'__flow_step", Span::mixed_site())
}

/// The label of the block around the steps' block and the cleanups, in a flow without
/// compensations: a step's `Err` leaves it with the step's index and the error, and the
/// failure is handled after it (see `expand::execute_method`).
pub(crate) fn failed_label() -> syn::Lifetime {
    syn::Lifetime::new("'__flow_failed", Span::mixed_site())
}

/// `self` with call-site hygiene, to interpolate into tokens spanned elsewhere: `self` is
/// hygienic, and one spanned on a user's token from another macro context would not name
/// the method's receiver.
pub(crate) fn self_token() -> syn::Token![self] {
    <syn::Token![self]>::default()
}
