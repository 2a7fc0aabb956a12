//! Finding a borrow in a step's output type, by its spelling alone.
//!
//! A step's `Ok` value is moved into the next step (the last step's becomes the task's
//! result), while the task is lent to that next step by `&mut`: an output that borrows from
//! the task cannot be handed on, and rustc says so late and inside the expansion ("lifetime
//! may not live long enough", then, after its suggested fix, E0499). The rule the macro
//! states instead is simple: an output owns its data (a borrow of `&self`, which rustc
//! would let through between two steps, is refused too: one rule, said before rustc's
//! errors). What it sees of a borrow is a reference or a lifetime other than `'static`
//! written in the `Ok` type (and the hidden one of `Cow<T>`); a lifetime hidden in another
//! type (`Foo<'a>` written `Foo`) is rustc's to find.

use syn::{
    GenericArgument, Lifetime, PathArguments, PathSegment, Type, TypeParamBound, TypeReference,
};

use crate::types;

/// What in an output type borrows, to put the error on.
pub(crate) enum Borrow<'a> {
    /// `&T` or `&'a T` (not `&'static T`).
    Reference(&'a TypeReference),
    /// `'a` or `'_` in a type's arguments or bounds (`Cow<'a, str>`, `Box<dyn Trait + 'a>`).
    Lifetime(&'a Lifetime),
    /// `Cow<T>`, whose lifetime is left out.
    HiddenLifetime(&'a PathSegment),
}

/// The first borrow written in the `Ok` type of a step's return type `Result<T, E>` (or an
/// alias named like one, `io::Result<T>`, whose lifetime arguments count too).
pub(crate) fn in_output(return_ty: &Type) -> Option<Borrow<'_>> {
    let Type::Path(path) = types::ungrouped(return_ty) else {
        return None;
    };
    let last = path.path.segments.last()?;
    if !last.ident.to_string().ends_with("Result") {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let mut lifetimes = args.args.iter().filter_map(|arg| match arg {
        GenericArgument::Lifetime(lifetime) => Some(lifetime),
        _ => None,
    });
    if let Some(lifetime) = lifetimes.find(|lifetime| borrows(lifetime, &[])) {
        return Some(Borrow::Lifetime(lifetime));
    }
    let ok = args.args.iter().find_map(|arg| match arg {
        GenericArgument::Type(ok) => Some(ok),
        _ => None,
    })?;
    in_type(ok, &[])
}

/// The first borrow in `ty`; `bound` are the lifetimes of the `for<'a>` around it.
fn in_type<'a>(ty: &'a Type, bound: &[&Lifetime]) -> Option<Borrow<'a>> {
    match ty {
        Type::Reference(reference) => match &reference.lifetime {
            Some(lifetime) if !borrows(lifetime, bound) => in_type(&reference.elem, bound),
            _ => Some(Borrow::Reference(reference)),
        },
        Type::Path(path) => {
            let qself = path.qself.as_ref();
            qself
                .and_then(|qself| in_type(&qself.ty, bound))
                .or_else(|| {
                    path.path
                        .segments
                        .iter()
                        .find_map(|segment| in_segment(segment, bound))
                })
        }
        Type::TraitObject(object) => in_bounds(object.bounds.iter(), bound),
        Type::ImplTrait(impl_trait) => in_bounds(impl_trait.bounds.iter(), bound),
        Type::Tuple(tuple) => tuple.elems.iter().find_map(|elem| in_type(elem, bound)),
        Type::Array(array) => in_type(&array.elem, bound),
        Type::Slice(slice) => in_type(&slice.elem, bound),
        Type::Paren(paren) => in_type(&paren.elem, bound),
        Type::Group(group) => in_type(&group.elem, bound),
        Type::Ptr(pointer) => in_type(&pointer.elem, bound),
        // A function pointer's lifetimes are its own (`fn(&str) -> &str` borrows nothing);
        // a macro's type is unknown here.
        _ => None,
    }
}

/// The first borrow in a path segment's arguments (`Vec<&str>`), or `Cow`'s hidden one.
fn in_segment<'a>(segment: &'a PathSegment, bound: &[&Lifetime]) -> Option<Borrow<'a>> {
    match &segment.arguments {
        PathArguments::AngleBracketed(args) => {
            let written = args.args.iter().find_map(|arg| match arg {
                GenericArgument::Lifetime(lifetime) if borrows(lifetime, bound) => {
                    Some(Borrow::Lifetime(lifetime))
                }
                GenericArgument::Type(ty) => in_type(ty, bound),
                GenericArgument::AssocType(assoc) => in_type(&assoc.ty, bound),
                GenericArgument::Constraint(constraint) => {
                    in_bounds(constraint.bounds.iter(), bound)
                }
                _ => None,
            });
            let has_lifetime = args
                .args
                .iter()
                .any(|arg| matches!(arg, GenericArgument::Lifetime(_)));
            written.or_else(|| {
                (segment.ident == "Cow" && !has_lifetime).then_some(Borrow::HiddenLifetime(segment))
            })
        }
        // `Fn(&str) -> &str`: the lifetimes are the closure's own, as a function pointer's.
        PathArguments::Parenthesized(_) => None,
        PathArguments::None => None,
    }
}

/// The first borrow in the bounds of `dyn ..`, `impl ..` or an associated type.
fn in_bounds<'a>(
    mut bounds: impl Iterator<Item = &'a TypeParamBound>,
    bound: &[&Lifetime],
) -> Option<Borrow<'a>> {
    bounds.find_map(|param_bound| match param_bound {
        TypeParamBound::Lifetime(lifetime) if borrows(lifetime, bound) => {
            Some(Borrow::Lifetime(lifetime))
        }
        TypeParamBound::Trait(trait_bound) => {
            // `for<'b> Trait<'b>`: `'b` is the trait's own.
            let mut inner: Vec<&Lifetime> = bound.to_vec();
            if let Some(for_lifetimes) = &trait_bound.lifetimes {
                inner.extend(
                    for_lifetimes
                        .lifetimes
                        .iter()
                        .filter_map(|param| match param {
                            syn::GenericParam::Lifetime(param) => Some(&param.lifetime),
                            _ => None,
                        }),
                );
            }
            trait_bound
                .path
                .segments
                .iter()
                .find_map(|segment| in_segment(segment, &inner))
        }
        _ => None,
    })
}

/// Whether a lifetime makes a borrow: any but `'static` and those of a `for<..>` around it.
fn borrows(lifetime: &Lifetime, bound: &[&Lifetime]) -> bool {
    lifetime.ident != "static" && !bound.iter().any(|own| own.ident == lifetime.ident)
}

#[cfg(test)]
mod tests {
    use quote::ToTokens;

    use super::{in_output, Borrow};

    /// The tokens of the borrow found in the output of `return_ty`, if any.
    fn borrow(return_ty: &str) -> Option<String> {
        let return_ty: syn::Type = syn::parse_str(return_ty).expect("a type");
        in_output(&return_ty).map(|borrow| match borrow {
            Borrow::Reference(reference) => reference.to_token_stream().to_string(),
            Borrow::Lifetime(lifetime) => lifetime.to_token_stream().to_string(),
            Borrow::HiddenLifetime(segment) => segment.to_token_stream().to_string(),
        })
    }

    #[test]
    fn finds_references_and_lifetimes_in_the_ok_type() {
        for (return_ty, found) in [
            ("Result<&str, E>", "& str"),
            ("Result<&'a str, E>", "& 'a str"),
            ("Result<&'_ [u8], E>", "& '_ [u8]"),
            ("Result<Cow<'a, str>, E>", "'a"),
            ("Result<Cow<'_, str>, E>", "'_"),
            ("Result<Cow<str>, E>", "Cow < str >"),
            ("Result<Vec<&'a str>, E>", "& 'a str"),
            ("Result<(u32, &'static str, &str), E>", "& str"),
            ("Result<&'static &'a str, E>", "& 'a str"),
            ("Result<Box<dyn Debug + 'a>, E>", "'a"),
            ("Result<Option<<Self as Tr<'a>>::Out>, E>", "'a"),
            ("io::Result<Vec<&str>>", "& str"),
            ("QueryResult<'a, u32>", "'a"),
            ("(Result<[&str; 2], E>)", "& str"),
        ] {
            assert_eq!(borrow(return_ty).as_deref(), Some(found), "{return_ty}");
        }
    }

    #[test]
    fn owned_and_static_outputs_borrow_nothing() {
        for return_ty in [
            "Result<String, E>",
            "Result<(), Infallible>",
            "Result<&'static str, E>",
            "Result<Cow<'static, str>, E>",
            "Result<Vec<&'static [u8]>, E>",
            "Result<Box<dyn Debug + Send + 'static>, E>",
            "Result<fn(&str) -> &str, E>",
            "Result<Box<dyn Fn(&str) -> &str + Send>, E>",
            "Result<Box<dyn for<'b> Parse<'b> + Send>, E>",
            "Result<Arc<str>, &'a str>",
            "io::Result<u32>",
            "QueryResult",
            "Option<&str>",
        ] {
            assert_eq!(borrow(return_ty), None, "{return_ty}");
        }
    }
}
