//! The arguments of `#[flow(...)]` and `#[step(...)]`, parsed once with `parse_nested_meta`.
//! Every key goes through one setter that refuses a second value, and an unknown key gets
//! an error that lists the keys there are.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::{Ident, LitBool, LitStr, Path};

use crate::ctxt::Errors;
use crate::duration;

const FLOW_KEYS: &str = "`name`, `timeout`, `steps`, `crate`";
const STEP_KEYS: &str = "`cancel`";

/// `#[flow(name = query, timeout = "30s", crate = "my_reexport::task_manager_core")]`
pub(crate) struct FlowArgs {
    pub(crate) name: Option<Ident>,
    pub(crate) timeout: Option<(Duration, LitStr)>,
    pub(crate) krate: Option<Path>,
    /// `steps = QueryPhase` or `steps = false`; by default the enum is `<Name>Step`.
    pub(crate) steps: Option<StepsEnum>,
}

/// What `steps = ..` asks of the generated step enum.
pub(crate) enum StepsEnum {
    /// Name it so (`steps = QueryPhase`).
    Named(Ident),
    /// Generate none (`steps = false`), or the default one (`steps = true`).
    Generate(LitBool),
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
    let mut krate = Setting::new("crate");
    let mut steps = Setting::new("steps");
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
        } else if meta.path.is_ident("crate") {
            let literal: LitStr = meta.value()?.parse()?;
            let path: Path = literal.parse().map_err(|_| {
                syn::Error::new(literal.span(), "`crate` takes the path of the runtime crate as a string: `crate = \"my_crate::task_manager_core\"`")
            })?;
            krate.set(&meta, path)
        } else if meta.path.is_ident("steps") {
            let value = meta.value()?;
            let setting = if value.peek(LitBool) {
                StepsEnum::Generate(value.parse()?)
            } else {
                StepsEnum::Named(value.parse().map_err(|error| {
                    syn::Error::new(error.span(), "`steps` takes the name of the generated step enum (`steps = QueryPhase`), or `false` for none")
                })?)
            };
            steps.set(&meta, setting)
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
        krate: krate.value,
        steps: steps.value,
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
