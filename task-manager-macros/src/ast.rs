//! The user's `impl` block read into a small model of the flow. The model keeps the user's
//! own tokens (method names, types, the `#[step]` attribute) so errors can point at them.

use syn::{Attribute, FnArg, ImplItem, ImplItemFn, ItemImpl, ReturnType, Type};

use crate::attr::{self, StepArgs};
use crate::ctxt::Errors;

pub(crate) struct Flow {
    /// The user's block with every `#[step]` attribute removed: emitted as it is.
    pub(crate) item: ItemImpl,
    pub(crate) steps: Vec<Step>,
}

pub(crate) struct Step {
    pub(crate) method: ImplItemFn,
    pub(crate) args: StepArgs,
    /// `#[cfg]` attributes of the method: the step exists only where the method does.
    pub(crate) cfgs: Vec<Attribute>,
}

impl Step {
    pub(crate) fn name(&self) -> &syn::Ident {
        &self.method.sig.ident
    }

    /// The `T` of the task parameter `task: &mut T`, if the signature has one.
    pub(crate) fn task_type(&self) -> Option<&Type> {
        match self.method.sig.inputs.iter().nth(1)? {
            FnArg::Typed(typed) => match &*typed.ty {
                Type::Reference(reference) if reference.mutability.is_some() => {
                    Some(&reference.elem)
                }
                _ => None,
            },
            FnArg::Receiver(_) => None,
        }
    }

    /// The input parameter's type (the previous step's output), if there is one.
    pub(crate) fn input_type(&self) -> Option<&Type> {
        match self.method.sig.inputs.iter().nth(2)? {
            FnArg::Typed(typed) => Some(&typed.ty),
            FnArg::Receiver(_) => None,
        }
    }

    pub(crate) fn return_type(&self) -> Option<&Type> {
        match &self.method.sig.output {
            ReturnType::Type(_, ty) => Some(ty),
            ReturnType::Default => None,
        }
    }
}

/// Whether `attr` is `#[step]`, however it is spelled (`#[task_manager_core::step]` too).
pub(crate) fn is_step_attr(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "step")
}

pub(crate) fn read(mut item: ItemImpl, errors: &mut Errors) -> Flow {
    let mut steps = Vec::new();
    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let mut step_attrs = Vec::new();
        method.attrs.retain(|attr| {
            let is_step = is_step_attr(attr);
            if is_step {
                step_attrs.push(attr.clone());
            }
            !is_step
        });
        let mut step_attrs = step_attrs.into_iter();
        let Some(attr) = step_attrs.next() else {
            continue;
        };
        for extra in step_attrs {
            errors.at(&extra, "a method is one step: remove the second `#[step]` and merge its keys into the first");
        }
        let args = attr::parse_step_args(&attr, errors);
        let cfgs = method
            .attrs
            .iter()
            .filter(|attr| attr.path().is_ident("cfg"))
            .cloned()
            .collect();
        steps.push(Step {
            method: method.clone(),
            args,
            cfgs,
        });
    }
    Flow { item, steps }
}
