//! The proc macros of task-manager: `#[flow]`, `#[step]` and `#[derive(HasTaskManager)]`.
//!
//! Use them through `task-manager-core`, which re-exports them and documents them with
//! examples. Each entry point here only forwards: `ast` reads the user's code into a small
//! model (keeping the user's tokens for error spans), `attr` parses the attribute arguments,
//! `valid` checks the rules that need no type information, `expand` writes the code.

mod ast;
mod attr;
mod ctxt;
mod derive;
mod duration;
mod expand;
mod step;
mod types;
mod valid;

use proc_macro::TokenStream;

/// Turns an `impl` block into a cancellable multi-step flow. See `task_manager_core::flow`.
#[proc_macro_attribute]
pub fn flow(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::flow(args.into(), item.into()).into()
}

/// Marks an async method of a `#[flow]` block as a step. See `task_manager_core::step`.
#[proc_macro_attribute]
pub fn step(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::stray_step(args.into(), item.into()).into()
}

/// Implements `HasTaskManager` for a struct with a `TaskManager` field.
#[proc_macro_derive(HasTaskManager, attributes(task_manager))]
pub fn derive_has_task_manager(input: TokenStream) -> TokenStream {
    derive::has_task_manager(input.into()).into()
}
