//! `#[derive(HasTaskManager)]`: points the struct's flows at its `TaskManager` field.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Field, Fields, Index, Member, Path, Type};

use crate::attr;
use crate::ctxt::Errors;
use crate::names;

pub(crate) fn has_task_manager(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(error) => return error.into_compile_error(),
    };
    let mut errors = Errors::default();
    let args = attr::parse_derive_args(&input.attrs, &mut errors);
    let krate = names::runtime_path(args.krate.as_ref());
    let field = manager_field(&input, &mut errors);
    match (errors.into_result(), field) {
        (Ok(()), Some((member, ty))) => {
            // Spanned on the field's type: a marked field that is no `TaskManager` is
            // reported there.
            // The field goes through a local located on its type, so that the trait-bound
            // error underlines that type alone, while `self` keeps call-site hygiene.
            let field = names::local("__flow_field", ty.span());
            let call = quote_spanned! {ty.span()=> #krate::HasTaskManager::task_manager(#field) };
            let body = quote! { let #field = &self.#member; #call };
            implementation(&input, &krate, &body)
        }
        (result, _) => {
            // Still implement the trait, so that the struct's flows add no errors of their own.
            let body = quote! { ::core::unreachable!("`#[derive(HasTaskManager)]` reported a compile error") };
            let stub = implementation(&input, &krate, &body);
            let error = result.err().map(syn::Error::into_compile_error);
            quote! { #stub #error }
        }
    }
}

fn implementation(input: &DeriveInput, krate: &Path, body: &TokenStream) -> TokenStream {
    let name = &input.ident;
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        impl #impl_generics #krate::HasTaskManager for #name #type_generics #where_clause {
            fn task_manager(&self) -> &#krate::TaskManager {
                #body
            }
        }
    }
}

/// The field that holds the manager: the one marked `#[task_manager]`, else the one whose
/// type is named `TaskManager`.
fn manager_field<'a>(input: &'a DeriveInput, errors: &mut Errors) -> Option<(Member, &'a Type)> {
    let Data::Struct(data) = &input.data else {
        let ident = &input.ident;
        let head = match &input.data {
            Data::Enum(data) => {
                let keyword = &data.enum_token;
                quote! { #keyword #ident }
            }
            Data::Union(data) => {
                let keyword = &data.union_token;
                quote! { #keyword #ident }
            }
            Data::Struct(_) => quote! { #ident },
        };
        errors.at(
            head,
            "`HasTaskManager` is derived for a struct with a `TaskManager` field: `struct Queries { tasks: TaskManager, .. }`",
        );
        return None;
    };
    let fields: Vec<(Member, &Field)> = match &data.fields {
        Fields::Named(named) => named
            .named
            .iter()
            .filter_map(|field| Some((Member::Named(field.ident.clone()?), field)))
            .collect(),
        Fields::Unnamed(unnamed) => unnamed
            .unnamed
            .iter()
            .enumerate()
            .map(|(index, field)| (Member::Unnamed(Index::from(index)), field))
            .collect(),
        Fields::Unit => Vec::new(),
    };
    let mut marked = Vec::new();
    for (member, field) in &fields {
        for attr in field
            .attrs
            .iter()
            .filter(|attr| attr.path().is_ident("task_manager"))
        {
            if let syn::Meta::Path(_) = attr.meta {
                marked.push((member, field, attr));
            } else {
                errors.at(
                    attr,
                    "on a field, `#[task_manager]` takes no arguments: it marks the field that holds the flows' `TaskManager`",
                );
            }
        }
    }
    match marked.as_slice() {
        [(member, field, _)] => return Some((respan(member, &field.ty), &field.ty)),
        [_, rest @ ..] => {
            for (_, _, attr) in rest {
                errors.at(
                    attr,
                    "`#[task_manager]` marks the one field that holds the flows' `TaskManager`: keep it on one field only",
                );
            }
            return None;
        }
        [] => {}
    }
    let typed: Vec<&(Member, &Field)> = fields
        .iter()
        .filter(|(_, field)| is_task_manager(&field.ty))
        .collect();
    match typed.as_slice() {
        [(member, field)] => Some((respan(member, &field.ty), &field.ty)),
        [] => {
            errors.at(
                &input.ident,
                "no `TaskManager` field found: add one (`tasks: TaskManager`), or mark the field that holds it `#[task_manager]`",
            );
            None
        }
        [_, rest @ ..] => {
            for (_, field) in rest {
                errors.at(
                    &field.ty,
                    "several `TaskManager` fields: mark the one the flows register their tasks in with `#[task_manager]`",
                );
            }
            None
        }
    }
}

fn is_task_manager(ty: &Type) -> bool {
    matches!(ty, Type::Path(path) if path.path.segments.last().is_some_and(|segment| segment.ident == "TaskManager"))
}

/// The field's name, reported (if ever) on its type.
fn respan(member: &Member, ty: &Type) -> Member {
    let mut member = member.clone();
    match &mut member {
        Member::Named(ident) => ident.set_span(ty.span()),
        Member::Unnamed(index) => index.span = ty.span(),
    }
    member
}
