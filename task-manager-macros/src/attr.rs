//! The arguments of `#[flow(...)]` and `#[step(...)]`, parsed once with `parse_nested_meta`.
//! Every key goes through one setter that refuses a second value, and an unknown key gets
//! an error that lists the keys there are.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::{Ident, LitStr, Path};

use crate::ctxt::Errors;
use crate::duration;

const FLOW_KEYS: &str = "`name`, `timeout`, `cleanup_timeout`, `crate`";
const STEP_KEYS: &str = "`cancel`";

/// `#[flow(name = query, timeout = "30s", crate = "my_reexport::task_manager_core")]`
pub(crate) struct FlowArgs {
    pub(crate) name: Option<Ident>,
    pub(crate) timeout: Option<(Duration, LitStr)>,
    pub(crate) cleanup_timeout: Option<(Duration, LitStr)>,
    pub(crate) krate: Option<Path>,
}

/// `#[step(cancel = cleanup_method)]`
#[derive(Default)]
pub(crate) struct StepArgs {
    pub(crate) cancel: Option<Ident>,
}

/// A key's value, refusing a second one.
struct Setting<T> {
    key: &'static str,
    value: Option<T>,
}

impl<T> Setting<T> {
    fn new(key: &'static str) -> Self {
        Setting { key, value: None }
    }

    fn set(&mut self, meta: &ParseNestedMeta<'_>, value: T) -> syn::Result<()> {
        if self.value.is_some() {
            return Err(meta.error(format_args!("`{}` is given twice: keep one", self.key)));
        }
        self.value = Some(value);
        Ok(())
    }
}

pub(crate) fn parse_flow_args(args: TokenStream, errors: &mut Errors) -> FlowArgs {
    let mut name = Setting::new("name");
    let mut timeout = Setting::new("timeout");
    let mut cleanup_timeout = Setting::new("cleanup_timeout");
    let mut krate = Setting::new("crate");
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            let value: Ident = meta.value()?.parse().map_err(|error| {
                syn::Error::new(
                    error.span(),
                    "`name` takes an identifier: `#[flow(name = query)]` generates `execute_query`",
                )
            })?;
            name.set(&meta, value)
        } else if meta.path.is_ident("timeout") {
            let literal: LitStr = meta.value()?.parse().map_err(|error| {
                syn::Error::new(error.span(), "`timeout` takes a string such as `timeout = \"30s\"` (units: ns, us, ms, s, m, h)")
            })?;
            let parsed = duration::parse(&literal.value()).map_err(|problem| {
                syn::Error::new(
                    literal.span(),
                    format!("invalid timeout: {problem}; write it like \"30s\", \"250ms\" or \"1m 30s\" (units: ns, us, ms, s, m, h)"),
                )
            })?;
            timeout.set(&meta, (parsed, literal))
        } else if meta.path.is_ident("cleanup_timeout") {
            let literal: LitStr = meta.value()?.parse().map_err(|error| {
                syn::Error::new(error.span(), "`cleanup_timeout` takes a string such as `cleanup_timeout = \"5s\"` (units: ns, us, ms, s, m, h)")
            })?;
            let parsed = duration::parse_cleanup(&literal.value()).map_err(|problem| {
                syn::Error::new(
                    literal.span(),
                    format!("invalid cleanup_timeout: {problem}; write it like \"5s\" or \"500ms\" (units: ns, us, ms, s, m, h)"),
                )
            })?;
            cleanup_timeout.set(&meta, (parsed, literal))
        } else if meta.path.is_ident("crate") {
            let literal: LitStr = meta.value()?.parse()?;
            let path: Path = literal.parse().map_err(|_| {
                syn::Error::new(literal.span(), "`crate` takes the path of the runtime crate as a string: `crate = \"my_crate::task_manager_core\"`")
            })?;
            krate.set(&meta, path)
        } else {
            Err(meta.error(format_args!(
                "unknown key in `#[flow]`; the keys are {FLOW_KEYS}"
            )))
        }
    });
    if let Err(error) = syn::parse::Parser::parse2(parser, args) {
        errors.push(error);
    }
    FlowArgs {
        name: name.value,
        timeout: timeout.value,
        cleanup_timeout: cleanup_timeout.value,
        krate: krate.value,
    }
}

pub(crate) fn parse_step_args(attr: &syn::Attribute, errors: &mut Errors) -> StepArgs {
    let mut cancel = Setting::new("cancel");
    if matches!(attr.meta, syn::Meta::Path(_)) {
        return StepArgs::default();
    }
    let result = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("cancel") {
            let value: Ident = meta.value()?.parse().map_err(|error| {
                syn::Error::new(error.span(), "`cancel` takes the name of a method of this impl block: `#[step(cancel = abort_send)]`")
            })?;
            cancel.set(&meta, value)
        } else {
            Err(meta.error(format_args!("unknown key in `#[step]`; the keys are {STEP_KEYS}")))
        }
    });
    if let Err(error) = result {
        errors.push(error);
    }
    StepArgs {
        cancel: cancel.value,
    }
}

/// The path to the runtime crate: `::task_manager_core` unless overridden.
pub(crate) fn runtime_path(krate: Option<&Path>) -> Path {
    krate.cloned().unwrap_or_else(|| {
        let ident = Ident::new("task_manager_core", Span::call_site());
        syn::parse_quote!(::#ident)
    })
}
