//! `#[derive(HasTaskManager)]`: points the struct's flows at its `TaskManager` field.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields, Index, Member, Path, Type};

use crate::attr;

pub(crate) fn has_task_manager(input: TokenStream) -> TokenStream {
    match expand(input) {
        Ok(tokens) => tokens,
        Err(error) => error.into_compile_error(),
    }
}

fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let input: DeriveInput = syn::parse2(input)?;
    let krate = crate_override(&input)?;
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "`HasTaskManager` can be derived for a struct with a `TaskManager` field only",
        ));
    };
    let fields: Vec<(Member, &syn::Field)> = match &data.fields {
        Fields::Named(named) => named
            .named
            .iter()
            .filter_map(|field| {
                field
                    .ident
                    .clone()
                    .map(|ident| (Member::Named(ident), field))
            })
            .collect(),
        Fields::Unnamed(unnamed) => unnamed
            .unnamed
            .iter()
            .enumerate()
            .map(|(index, field)| (Member::Unnamed(Index::from(index)), field))
            .collect(),
        Fields::Unit => Vec::new(),
    };
    let marked: Vec<&(Member, &syn::Field)> = fields
        .iter()
        .filter(|(_, field)| {
            field
                .attrs
                .iter()
                .any(|attr| attr.path().is_ident("task_manager"))
        })
        .collect();
    let chosen = match marked.as_slice() {
        [one] => &one.0,
        [] => {
            let typed: Vec<&(Member, &syn::Field)> = fields
                .iter()
                .filter(|(_, field)| is_task_manager(&field.ty))
                .collect();
            match typed.as_slice() {
                [one] => &one.0,
                [] => {
                    return Err(syn::Error::new_spanned(
                        &input.ident,
                        "no `TaskManager` field found: add one (`tasks: TaskManager`), or mark the field that holds it `#[task_manager]`",
                    ))
                }
                [_, second, ..] => {
                    return Err(syn::Error::new_spanned(
                        &second.1.ty,
                        "several `TaskManager` fields: mark the one the flows use with `#[task_manager]`",
                    ))
                }
            }
        }
        [_, second, ..] => {
            return Err(syn::Error::new_spanned(
                second.1,
                "`#[task_manager]` marks one field: remove it from all but one",
            ))
        }
    };
    let name = &input.ident;
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics #krate::HasTaskManager for #name #type_generics #where_clause {
            fn task_manager(&self) -> &#krate::TaskManager {
                #krate::HasTaskManager::task_manager(&self.#chosen)
            }
        }
    })
}

fn is_task_manager(ty: &Type) -> bool {
    matches!(ty, Type::Path(path) if path.path.segments.last().is_some_and(|segment| segment.ident == "TaskManager"))
}

/// `#[task_manager(crate = "path")]` on the struct.
fn crate_override(input: &DeriveInput) -> syn::Result<Path> {
    let mut krate = None;
    for attr_ in input
        .attrs
        .iter()
        .filter(|attr_| attr_.path().is_ident("task_manager"))
    {
        attr_.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                let literal: syn::LitStr = meta.value()?.parse()?;
                krate = Some(literal.parse::<Path>()?);
                Ok(())
            } else {
                Err(meta.error("unknown key in `#[task_manager]`; the key is `crate`"))
            }
        })?;
    }
    Ok(attr::runtime_path(krate.as_ref()))
}
