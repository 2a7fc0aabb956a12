//! The arguments of `#[flow(...)]` and `#[step(...)]`, parsed once with `parse_nested_meta`.
//! Every key goes through one setter that refuses a second value, and an unknown key gets
//! an error that lists the keys there are.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::{Ident, LitInt, LitStr, Path};

use crate::ctxt::Errors;
use crate::duration;

const FLOW_KEYS: &str = "`name`, `timeout`, `limit`, `queue`, `max_wait`, `crate`";
const STEP_KEYS: &str = "`cancel`, `resource`";

/// `#[flow(name = query, timeout = "30s", limit = 4, queue = 1000, max_wait = "5s", crate = "my_reexport::task_manager_core")]`
pub(crate) struct FlowArgs {
    pub(crate) name: Option<Ident>,
    pub(crate) timeout: Option<(Duration, LitStr)>,
    pub(crate) limit: Option<Limit>,
    pub(crate) krate: Option<Path>,
}

/// `limit = 4, queue = 1000, max_wait = "5s"`: the flow's own limit (queue add-on).
pub(crate) struct Limit {
    pub(crate) permits: LitInt,
    pub(crate) queue: Option<LitInt>,
    pub(crate) max_wait: Option<(Duration, LitStr)>,
}

/// `#[step(cancel = cleanup_method, resource = "db")]`
#[derive(Default)]
pub(crate) struct StepArgs {
    pub(crate) cancel: Option<Ident>,
    pub(crate) resource: Option<LitStr>,
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
    let mut limit = Setting::new("limit");
    let mut queue = Setting::new("queue");
    let mut max_wait = Setting::new("max_wait");
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
        } else if meta.path.is_ident("limit") {
            let value = positive_int(
                &meta,
                "`limit` takes the number of tasks that may run at once: `limit = 4`",
                "`limit = 0` would let no task run: give at least 1",
            )?;
            limit.set(&meta, value)
        } else if meta.path.is_ident("queue") {
            let value = positive_int(
                &meta,
                "`queue` takes how many tasks may wait for the limit: `queue = 1000`",
                "`queue = 0` would refuse every task that has to wait: give at least 1",
            )?;
            queue.set(&meta, value)
        } else if meta.path.is_ident("max_wait") {
            let literal: LitStr = meta.value()?.parse().map_err(|error| {
                syn::Error::new(error.span(), "`max_wait` takes a string such as `max_wait = \"5s\"` (units: ns, us, ms, s, m, h)")
            })?;
            let parsed = parse_max_wait(&literal)?;
            max_wait.set(&meta, (parsed, literal))
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
    let limit = match limit.value {
        Some(permits) => Some(Limit {
            permits,
            queue: queue.value,
            max_wait: max_wait.value,
        }),
        None => {
            // `queue` and `max_wait` describe the limit's line: alone they mean nothing.
            if let Some(queue) = &queue.value {
                errors.at(queue, "`queue` sets the capacity of the line of a limited flow: add `limit = N` (how many tasks run at once)");
            }
            if let Some((_, literal)) = &max_wait.value {
                errors.at(literal, "`max_wait` bounds the wait in the line of a limited flow: add `limit = N` (how many tasks run at once)");
            }
            None
        }
    };
    FlowArgs {
        name: name.value,
        timeout: timeout.value,
        limit,
        krate: krate.value,
    }
}

/// A positive integer literal (`limit = 4`, `queue = 1000`).
fn positive_int(meta: &ParseNestedMeta<'_>, usage: &str, zero: &str) -> syn::Result<LitInt> {
    let literal: LitInt = meta
        .value()?
        .parse()
        .map_err(|error| syn::Error::new(error.span(), usage))?;
    match literal.base10_parse::<usize>() {
        Ok(0) => Err(syn::Error::new(literal.span(), zero)),
        Ok(_) => Ok(literal),
        Err(_) => Err(syn::Error::new(literal.span(), usage)),
    }
}

/// A `max_wait` literal: the syntax of `timeout`, with its own words for zero.
fn parse_max_wait(literal: &LitStr) -> syn::Result<Duration> {
    let text = literal.value();
    duration::parse(&text).map_err(|problem| {
        // `duration::parse` words its refusal of zero for a timeout. A zero that is otherwise
        // well written parses once a nanosecond is added: say what zero means here instead.
        let message = if duration::parse(&format!("{text} 1ns")).is_ok() {
            "`max_wait` of zero would refuse every task that has to wait: give a positive duration, or no `max_wait`".to_string()
        } else {
            format!("invalid max_wait: {problem}; write it like \"5s\", \"250ms\" or \"1m 30s\" (units: ns, us, ms, s, m, h)")
        };
        syn::Error::new(literal.span(), message)
    })
}

pub(crate) fn parse_step_args(attr: &syn::Attribute, errors: &mut Errors) -> StepArgs {
    let mut cancel = Setting::new("cancel");
    let mut resource = Setting::new("resource");
    if matches!(attr.meta, syn::Meta::Path(_)) {
        return StepArgs::default();
    }
    let result = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("cancel") {
            let value: Ident = meta.value()?.parse().map_err(|error| {
                syn::Error::new(error.span(), "`cancel` takes the name of a method of this impl block: `#[step(cancel = abort_send)]`")
            })?;
            cancel.set(&meta, value)
        } else if meta.path.is_ident("resource") {
            let literal: LitStr = meta.value()?.parse().map_err(|error| {
                syn::Error::new(error.span(), "`resource` takes the name of a resource of the task manager as a string: `#[step(resource = \"db\")]`")
            })?;
            if literal.value().is_empty() {
                return Err(syn::Error::new(literal.span(), "a resource name cannot be empty: name the resource given to `TaskManager::builder().resource(\"db\", permits)`"));
            }
            resource.set(&meta, literal)
        } else {
            Err(meta.error(format_args!("unknown key in `#[step]`; the keys are {STEP_KEYS}")))
        }
    });
    if let Err(error) = result {
        errors.push(error);
    }
    StepArgs {
        cancel: cancel.value,
        resource: resource.value,
    }
}

/// The path to the runtime crate: `::task_manager_core` unless overridden.
pub(crate) fn runtime_path(krate: Option<&Path>) -> Path {
    krate.cloned().unwrap_or_else(|| {
        let ident = Ident::new("task_manager_core", Span::call_site());
        syn::parse_quote!(::#ident)
    })
}
