//! The user's `impl` block read into a small model of the flow. The model keeps the user's
//! own tokens (method names, types, the `#[step]` attribute) so errors can point at them.

use syn::{Attribute, FnArg, ImplItem, ImplItemFn, ItemImpl, ReturnType, Type};

use crate::attr::{self, StepArgs};
use crate::ctxt::Errors;

pub(crate) struct Flow {
    /// The user's block with every `#[step]` attribute removed: emitted as it is.
    pub(crate) item: ItemImpl,
    /// The steps, in the order they are written (the order they run).
    pub(crate) steps: Vec<Step>,
}

impl Flow {
    /// Whether a step declares a compensation: the steps' block then ends with a `Halt`.
    pub(crate) fn compensates(&self) -> bool {
        self.steps.iter().any(|step| step.args.compensate.is_some())
    }
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
        task_type(&self.method)
    }

    /// The input parameter's type (the previous step's output), if there is one.
    pub(crate) fn input_type(&self) -> Option<&Type> {
        typed_parameter(&self.method, 2)
    }

    pub(crate) fn return_type(&self) -> Option<&Type> {
        match &self.method.sig.output {
            ReturnType::Type(_, ty) => Some(ty),
            ReturnType::Default => None,
        }
    }
}

/// The `T` of a method's second parameter `task: &mut T`, if it has that shape.
pub(crate) fn task_type(method: &ImplItemFn) -> Option<&Type> {
    match typed_parameter(method, 1)? {
        Type::Reference(reference) if reference.mutability.is_some() => Some(&reference.elem),
        _ => None,
    }
}

/// The type of a method's parameter `index` (`self` counts as 0), if it is a typed one.
pub(crate) fn typed_parameter(method: &ImplItemFn, index: usize) -> Option<&Type> {
    match method.sig.inputs.iter().nth(index)? {
        FnArg::Typed(typed) => Some(&typed.ty),
        FnArg::Receiver(_) => None,
    }
}

/// Whether `attr` is `#[step]`, however it is spelled (`#[task_manager_core::step]` too).
pub(crate) fn is_step_attr(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "step")
}

/// Whether `attr` is a `#[cfg(..)]`.
fn is_cfg_attr(attr: &Attribute) -> bool {
    attr.path().is_ident("cfg")
}

/// Reads the block, taking the `#[step]` attributes off its methods (they are this macro's
/// helpers: left in place, they would expand to the "`#[step]` outside a flow" error).
pub(crate) fn read(mut item: ItemImpl, errors: &mut Errors) -> Flow {
    let mut steps = Vec::new();
    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else {
            let stray = item_attrs(impl_item)
                .map(take_step_attrs)
                .unwrap_or_default();
            for attr in stray {
                errors.at(
                    &attr,
                    "`#[step]` goes on an `async fn` of the block: `#[step] async fn prepare(&self, task: &mut Task<..>) -> Result<.., ..>`",
                );
            }
            continue;
        };
        let mut step_attrs = take_step_attrs(&mut method.attrs).into_iter();
        let Some(attr) = step_attrs.next() else {
            continue;
        };
        for extra in step_attrs {
            errors.at(
                &extra,
                "a method is one step: remove this second `#[step]` and merge its keys into the first",
            );
        }
        let args = attr::parse_step_args(&attr, errors);
        let cfgs = method
            .attrs
            .iter()
            .filter(|attr| is_cfg_attr(attr))
            .cloned()
            .collect();
        steps.push(Step {
            method: method.clone(),
            args,
            cfgs,
        });
    }
    allow_unused_async(&mut item, &steps);
    Flow { item, steps }
}

/// Steps, cleanups and compensations must be `async fn`s, even those that await nothing:
/// clippy's `unused_async` would flag what the flow requires.
fn allow_unused_async(item: &mut ItemImpl, steps: &[Step]) {
    let required: Vec<&syn::Ident> = steps
        .iter()
        .flat_map(|step| {
            std::iter::once(step.name())
                .chain(step.args.cancel.as_ref())
                .chain(step.args.compensate.as_ref())
        })
        .collect();
    for impl_item in &mut item.items {
        if let ImplItem::Fn(method) = impl_item {
            if method.sig.asyncness.is_some() && required.contains(&&method.sig.ident) {
                method
                    .attrs
                    .push(syn::parse_quote!(#[allow(clippy::unused_async)]));
            }
        }
    }
}

fn take_step_attrs(attrs: &mut Vec<Attribute>) -> Vec<Attribute> {
    let mut taken = Vec::new();
    attrs.retain(|attr| {
        let is_step = is_step_attr(attr);
        if is_step {
            taken.push(attr.clone());
        }
        !is_step
    });
    taken
}

/// The attributes of a non-method item of the block (`Verbatim` items have none syn sees).
fn item_attrs(item: &mut ImplItem) -> Option<&mut Vec<Attribute>> {
    match item {
        ImplItem::Const(item) => Some(&mut item.attrs),
        ImplItem::Type(item) => Some(&mut item.attrs),
        ImplItem::Macro(item) => Some(&mut item.attrs),
        ImplItem::Fn(item) => Some(&mut item.attrs),
        _ => None,
    }
}
