//! Writes the step enum of a flow: `#[flow(name = query)]` with steps `prepare` and `send`
//! gives `pub enum QueryStep { Prepare, Send }`, with `FLOW`, `ALL`, `index`, `name` and
//! `from_index`, and the runtime's `FlowStep` trait.
//!
//! A step under `#[cfg]` gets its variant under the same `#[cfg]`. The variants' implicit
//! discriminants are then the steps' indices in this build (cfg-stripped variants take no
//! number), which is what `index` returns.
//!
//! # Why a module and a glob re-export
//! The enum and its impls sit in a private module of their own, named after the flow and a
//! hash of the block, and reach the user's module through `pub use that_module::*`. A glob
//! import yields to an item of the same name and clashes with another glob only where the
//! name is used, so the enum adds no error of its own when two flows share a name (the
//! duplicate `execute_<name>` is the one error), nor when the user has a type of that name.
//! Declared directly, the enum would repeat such a clash once for itself and once per impl.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::Ident;

use crate::ast::{Flow, Step};
use crate::attr::{FlowArgs, StepsEnum};
use crate::names;

pub(crate) fn expand(flow: &Flow, args: &FlowArgs, flow_name: &Ident) -> TokenStream {
    let Some(enum_name) = enum_name(args, flow_name) else {
        return TokenStream::new();
    };
    // `valid` (or rustc, for two methods of one name) reports the clash; an enum with a
    // variant twice would only repeat it.
    if clashing_variant(flow).is_some() {
        return TokenStream::new();
    }
    let module = module_name(flow, flow_name, &enum_name);
    let definition = definition(flow, args, flow_name, &enum_name);
    quote! {
        #[doc(hidden)]
        mod #module {
            // The crate path of `crate = ".."` may be relative to the flow's module.
            #[allow(unused_imports, clippy::wildcard_imports)]
            use super::*;

            #definition
        }
        #[allow(unused_imports, clippy::wildcard_imports)]
        pub use #module::*;
    }
}

/// The enum's name, or `None` for `steps = false`.
fn enum_name(args: &FlowArgs, flow_name: &Ident) -> Option<Ident> {
    match &args.steps {
        Some(StepsEnum::Generate(false)) => None,
        Some(StepsEnum::Named(name)) => Some(name.clone()),
        // On the flow's name: an error about the enum is reported there.
        _ => Some(format_ident!(
            "{}Step",
            camel_case(flow_name),
            span = flow_name.span()
        )),
    }
}

/// The first step (with the one before it) whose variant has the name of an earlier step's
/// variant. Steps under `#[cfg]` are left out: two of them may never be compiled together.
pub(crate) fn clashing_variant(flow: &Flow) -> Option<(&Step, &Step, String)> {
    let plain: Vec<(&Step, String)> = flow
        .steps
        .iter()
        .filter(|step| step.cfgs.is_empty())
        .map(|step| (step, camel_case(step.name())))
        .collect();
    plain
        .iter()
        .enumerate()
        .find_map(|(position, (step, variant))| {
            plain[..position]
                .iter()
                .find(|(_, earlier)| earlier == variant)
                .map(|(earlier, _)| (*earlier, *step, variant.clone()))
        })
}

/// `__flow_steps_<flow>_<hash>`: the hash of the block's type, the flow's name and its steps
/// tells two flows of one name apart.
fn module_name(flow: &Flow, flow_name: &Ident, enum_name: &Ident) -> Ident {
    let self_ty = &flow.item.self_ty;
    let mut key = format!("{} {flow_name} {enum_name}", quote!(#self_ty));
    for step in &flow.steps {
        key.push(' ');
        key.push_str(&step.name().to_string());
    }
    Ident::new(
        &format!("__flow_steps_{}_{:08x}", unraw(flow_name), fnv1a(&key)),
        Span::call_site(),
    )
}

/// FNV-1a, folded to 32 bits: stable from build to build (unlike std's hasher).
fn fnv1a(text: &str) -> u32 {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3)
    });
    (hash ^ (hash >> 32)) as u32
}

/// The enum and its impls.
fn definition(flow: &Flow, args: &FlowArgs, flow_name: &Ident, enum_name: &Ident) -> TokenStream {
    let krate = names::runtime_path(args.krate.as_ref());
    // The same strings as the flow's `FlowInfo` (see `expand`), which status and events
    // carry: `step_as` compares them.
    let flow_text = flow_name.to_string();
    let variants: Vec<Ident> = flow
        .steps
        .iter()
        .map(|step| {
            let method = step.name();
            Ident::new(
                &camel_case(method),
                Span::call_site().located_at(method.span()),
            )
        })
        .collect();
    let cfgs: Vec<_> = flow.steps.iter().map(|step| &step.cfgs).collect();
    let names: Vec<String> = flow
        .steps
        .iter()
        .map(|step| step.name().to_string())
        .collect();
    let variant_docs = names
        .iter()
        .map(|name| format!("The step `{name}` of flow `{flow_text}`."));
    let doc = format!(
        "The steps of flow `{flow_text}`, in the order they run (generated by `#[flow]`).\n\n\
         `TaskStatus::step_as` and `TaskEvent::step_as` give the step in progress as this type; \
         `from_index` turns a step index back into it."
    );

    quote! {
        #[doc = #doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[allow(dead_code)]
        pub enum #enum_name {
            #( #[doc = #variant_docs] #(#cfgs)* #variants, )*
        }

        #[allow(dead_code)]
        impl #enum_name {
            /// The flow's name.
            pub const FLOW: &'static str = #flow_text;

            /// Every step, in the order they run.
            pub const ALL: &'static [Self] = &[ #( #(#cfgs)* Self::#variants ),* ];

            /// The step's position in the flow (0-based).
            pub const fn index(self) -> usize {
                self as usize
            }

            /// The step's name (its method's name).
            pub const fn name(self) -> &'static str {
                match self {
                    #( #(#cfgs)* Self::#variants => #names, )*
                }
            }

            /// The step at `index`, if the flow has one there.
            pub const fn from_index(index: usize) -> ::core::option::Option<Self> {
                if index < Self::ALL.len() {
                    ::core::option::Option::Some(Self::ALL[index])
                } else {
                    ::core::option::Option::None
                }
            }
        }

        impl #krate::FlowStep for #enum_name {
            const FLOW: &'static str = Self::FLOW;
            const ALL: &'static [Self] = Self::ALL;

            fn index(self) -> usize {
                Self::index(self)
            }

            fn name(self) -> &'static str {
                Self::name(self)
            }
        }

        impl ::core::fmt::Display for #enum_name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(Self::name(*self))
            }
        }
    }
}

/// `fetch_rows` -> `FetchRows`, `r#type` -> `Type`, `step_1` -> `Step1`; a result that would
/// not be an identifier (`_2nd` -> `2nd`, `self_` -> `Self`) gets a `Step` prefix.
fn camel_case(ident: &Ident) -> String {
    let camel: String = unraw(ident)
        .split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        })
        .collect();
    let starts_well = camel.starts_with(|first: char| first.is_alphabetic());
    if starts_well && camel != "Self" {
        camel
    } else {
        format!("Step{camel}")
    }
}

fn unraw(ident: &Ident) -> String {
    let text = ident.to_string();
    text.strip_prefix("r#").map(str::to_owned).unwrap_or(text)
}
