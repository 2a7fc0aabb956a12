//! The arguments of `#[flow(..)]`, `#[step(..)]` and the derive's `#[task_manager(..)]`.
//!
//! Every attribute is read by one loop ([`parse_keys`]) that looks each key up in the
//! attribute's table of keys. The loop refuses unknown keys (listing the known ones), keys
//! given twice and keys without a value, and it goes on after a bad key, so one build
//! reports every bad key at once.
//!
//! To add a key: a field in the `*Args` struct, a setter (`fn(&mut Args, Expr)`)
//! that turns the value into the field, and a row in the table (`FLOW_KEYS`, `STEP_KEYS`,
//! `DERIVE_KEYS`). The tables are the one place that lists the keys; the docs of
//! `task_manager_core::flow` / `step` describe them.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::{Expr, ExprLit, Ident, Lit, LitInt, LitStr, Path};

use crate::ctxt::Errors;
use crate::duration;

/// `#[flow(name = query, timeout = "30s", cleanup_timeout = "5s", limit = 4, queue = 1000,
/// max_wait = "5s", steps = QueryPhase, report = minimal, crate = "my_reexport::task_manager_core")]`
#[derive(Default)]
pub(crate) struct FlowArgs {
    /// Required: the flow's name; the generated method is `execute_<name>`.
    pub(crate) name: Option<Ident>,
    /// The flow's default deadline, and the literal it was written as (for spans).
    pub(crate) timeout: Option<(Duration, LitStr)>,
    /// How long a stopped step's cleanup may run before it is dropped.
    pub(crate) cleanup_timeout: Option<(Duration, LitStr)>,
    /// How many of the flow's tasks may run at once (queue add-on); positive.
    pub(crate) limit: Option<LitInt>,
    /// How many of its tasks may wait for the limit; positive. Needs `limit`.
    pub(crate) queue: Option<LitInt>,
    /// How long a task may wait for the limit, from its submission. Needs `limit`.
    pub(crate) max_wait: Option<(Duration, LitStr)>,
    /// The path of the runtime crate, for crates that re-export it.
    pub(crate) krate: Option<Path>,
    /// `report = minimal`: the report does not time the steps (the word, for its span).
    pub(crate) minimal_report: Option<Ident>,
    /// `steps = QueryPhase` or `steps = false`; by default the enum is `<Name>Step`.
    pub(crate) steps: Option<StepsEnum>,
    /// `on_owner_lost = cancel`: the payload and runtime info are persisted at each step
    /// boundary, and an instance that claims a task from a lost one runs the interrupted
    /// step's cleanup (the word, for its span); `on_owner_lost = resume`: besides, each
    /// step's input is persisted with its boundary, and the claimant runs the interrupted
    /// step again from it and goes on.
    pub(crate) on_owner_lost: Option<Ident>,
    /// Whether a `name` key was written at all (even with a bad value), so that a bad
    /// value is not also reported as a missing name.
    pub(crate) name_written: bool,
}

/// What `steps = ..` asks of the flow's generated step enum.
pub(crate) enum StepsEnum {
    /// Name it so (`steps = QueryPhase`).
    Named(Ident),
    /// Generate none (`steps = false`), or the default one (`steps = true`).
    Generate(bool),
}

/// `#[step(cancel = cleanup_method, resource = "db", timeout = "2s", retry = policy_fn)]`
#[derive(Default)]
pub(crate) struct StepArgs {
    /// The cleanup method run when the step is interrupted. Optional: no cleanup.
    pub(crate) cancel: Option<Ident>,
    /// The task manager's resource the step waits for before it begins (queue add-on).
    pub(crate) resource: Option<LitStr>,
    /// The time limit of each attempt, and the literal it was written as (for spans).
    pub(crate) timeout: Option<(Duration, LitStr)>,
    /// The function that gives the step's retry policy (`fn() -> Retry<E>`).
    pub(crate) retry: Option<Path>,
    /// The method that undoes the step once it completed, if the task then ends otherwise.
    pub(crate) compensate: Option<Ident>,
}

impl StepArgs {
    /// Whether the step has a policy (a time limit or retries): it then runs through the
    /// runner's attempts, not its plain race.
    pub(crate) fn has_policy(&self) -> bool {
        self.timeout.is_some() || self.retry.is_some()
    }
}

/// `#[task_manager(crate = "my_reexport::task_manager_core")]` on a derived struct.
#[derive(Default)]
pub(crate) struct DeriveArgs {
    pub(crate) krate: Option<Path>,
}

/// One key of an attribute: its name, the names users reach for instead (for a "did you
/// mean"), and the setter that reads its value.
pub(crate) struct Key<Args> {
    name: &'static str,
    similar: &'static [&'static str],
    set: fn(&mut Args, Expr) -> syn::Result<()>,
}

/// The keys of `#[flow(..)]`.
const FLOW_KEYS: &[Key<FlowArgs>] = &[
    Key {
        name: "name",
        similar: &["id", "flow"],
        set: set_flow_name,
    },
    Key {
        name: "timeout",
        similar: &["deadline", "timeout_ms", "time_limit"],
        set: set_flow_timeout,
    },
    Key {
        name: "cleanup_timeout",
        similar: &["cancel_timeout", "cleanup_deadline", "cleanup_ms"],
        set: set_flow_cleanup_timeout,
    },
    Key {
        name: "limit",
        similar: &[
            "concurrency",
            "max_concurrent",
            "permits",
            "max_tasks",
            "parallel",
        ],
        set: set_flow_limit,
    },
    Key {
        name: "queue",
        similar: &["queue_capacity", "capacity", "queue_size", "backlog"],
        set: set_flow_queue,
    },
    Key {
        name: "max_wait",
        similar: &["queue_timeout", "wait_timeout", "max_queue_wait", "wait"],
        set: set_flow_max_wait,
    },
    Key {
        name: "steps",
        similar: &["step_enum", "steps_enum", "enum", "step_type"],
        set: set_flow_steps,
    },
    Key {
        name: "report",
        similar: &["timings", "reporting", "report_level", "timing"],
        set: set_flow_report,
    },
    Key {
        name: "on_owner_lost",
        similar: &[
            "owner_lost",
            "on_crash",
            "recover",
            "durable",
            "on_instance_lost",
        ],
        set: set_flow_on_owner_lost,
    },
    Key {
        name: "crate",
        similar: &["krate", "path", "runtime"],
        set: set_flow_crate,
    },
];

/// The keys of `#[step(..)]`.
const STEP_KEYS: &[Key<StepArgs>] = &[
    Key {
        name: "cancel",
        similar: &["cleanup", "on_cancel", "abort", "cancel_with", "rollback"],
        set: set_step_cancel,
    },
    Key {
        name: "resource",
        similar: &["resources", "permit", "semaphore", "needs", "uses"],
        set: set_step_resource,
    },
    Key {
        name: "timeout",
        similar: &["deadline", "timeout_ms", "time_limit", "attempt_timeout"],
        set: set_step_timeout,
    },
    Key {
        name: "retry",
        similar: &[
            "retries",
            "retry_policy",
            "backoff",
            "policy",
            "max_attempts",
        ],
        set: set_step_retry,
    },
    Key {
        name: "compensate",
        similar: &[
            "compensation",
            "undo",
            "on_failure",
            "revert",
            "compensate_with",
        ],
        set: set_step_compensate,
    },
];

/// The keys of `#[task_manager(..)]` on a struct that derives `HasTaskManager`.
const DERIVE_KEYS: &[Key<DeriveArgs>] = &[Key {
    name: "crate",
    similar: &["krate", "path", "runtime"],
    set: set_derive_crate,
}];

fn set_flow_name(args: &mut FlowArgs, value: Expr) -> syn::Result<()> {
    args.name_written = true;
    args.name = Some(ident(
        value,
        "`name` takes an identifier: `#[flow(name = query)]` generates `execute_query`",
    )?);
    Ok(())
}

fn set_flow_timeout(args: &mut FlowArgs, value: Expr) -> syn::Result<()> {
    const FIX: &str = "write it like \"30s\", \"250ms\" or \"1m 30s\" (units: ns, us, ms, s, m, h)";
    let literal = string(value, &format!("`timeout` takes a string literal: {FIX}"))?;
    let timeout = duration::parse(&literal.value()).map_err(|problem| {
        syn::Error::new(literal.span(), format!("invalid timeout: {problem}; {FIX}"))
    })?;
    args.timeout = Some((timeout, literal));
    Ok(())
}

fn set_flow_cleanup_timeout(args: &mut FlowArgs, value: Expr) -> syn::Result<()> {
    const FIX: &str = "write it like \"5s\" or \"500ms\" (units: ns, us, ms, s, m, h)";
    let literal = string(
        value,
        &format!("`cleanup_timeout` takes a string literal: {FIX}"),
    )?;
    let deadline = duration::parse_cleanup(&literal.value()).map_err(|problem| {
        syn::Error::new(
            literal.span(),
            format!("invalid cleanup_timeout: {problem}; {FIX}"),
        )
    })?;
    args.cleanup_timeout = Some((deadline, literal));
    Ok(())
}

fn set_flow_limit(args: &mut FlowArgs, value: Expr) -> syn::Result<()> {
    args.limit = Some(positive_int(
        value,
        "`limit` takes the number of tasks that may run at once: `limit = 4`",
        "`limit = 0` would let no task run: give at least 1",
    )?);
    Ok(())
}

fn set_flow_queue(args: &mut FlowArgs, value: Expr) -> syn::Result<()> {
    args.queue = Some(positive_int(
        value,
        "`queue` takes how many tasks may wait for the limit: `queue = 1000`",
        "`queue = 0` would refuse every task that has to wait: give at least 1",
    )?);
    Ok(())
}

fn set_flow_max_wait(args: &mut FlowArgs, value: Expr) -> syn::Result<()> {
    const FIX: &str = "write it like \"5s\", \"250ms\" or \"1m 30s\" (units: ns, us, ms, s, m, h)";
    let literal = string(value, &format!("`max_wait` takes a string literal: {FIX}"))?;
    let max_wait = duration::parse_max_wait(&literal.value()).map_err(|problem| {
        syn::Error::new(
            literal.span(),
            format!("invalid max_wait: {problem}; {FIX}"),
        )
    })?;
    args.max_wait = Some((max_wait, literal));
    Ok(())
}

fn set_flow_steps(args: &mut FlowArgs, value: Expr) -> syn::Result<()> {
    const MESSAGE: &str = "`steps` takes the name of the generated step enum (`steps = QueryPhase`), or `false` for none";
    args.steps = Some(match value {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(generate),
            ..
        }) => StepsEnum::Generate(generate.value),
        other => StepsEnum::Named(ident(other, MESSAGE)?),
    });
    Ok(())
}

fn set_flow_report(args: &mut FlowArgs, value: Expr) -> syn::Result<()> {
    const MESSAGE: &str = "`report` takes `full` (the default: each step's start and duration) or `minimal` (no clock read per step): `#[flow(report = minimal)]`";
    let level = ident(value, MESSAGE)?;
    if level == "minimal" {
        args.minimal_report = Some(level);
    } else if level != "full" {
        return Err(syn::Error::new(level.span(), MESSAGE));
    }
    Ok(())
}

fn set_flow_on_owner_lost(args: &mut FlowArgs, value: Expr) -> syn::Result<()> {
    const MESSAGE: &str = "`on_owner_lost` takes `cancel` or `resume`: `#[flow(on_owner_lost = cancel)]` runs the interrupted step's cleanup on the instance that claims a task from a lost one; `#[flow(on_owner_lost = resume)]` then runs that step again there and goes on";
    let action = ident(value, MESSAGE)?;
    if action != "cancel" && action != "resume" {
        return Err(syn::Error::new(action.span(), MESSAGE));
    }
    args.on_owner_lost = Some(action);
    Ok(())
}

fn set_flow_crate(args: &mut FlowArgs, value: Expr) -> syn::Result<()> {
    args.krate = Some(crate_path(value, "flow")?);
    Ok(())
}

fn set_step_cancel(args: &mut StepArgs, value: Expr) -> syn::Result<()> {
    args.cancel = Some(ident(
        value,
        "`cancel` takes the name of a method of this impl block: `#[step(cancel = abort_send)]`",
    )?);
    Ok(())
}

fn set_step_resource(args: &mut StepArgs, value: Expr) -> syn::Result<()> {
    let literal = string(
        value,
        "`resource` takes the name of a resource of the task manager as a string: `#[step(resource = \"db\")]`",
    )?;
    if literal.value().is_empty() {
        return Err(syn::Error::new(
            literal.span(),
            "a resource name cannot be empty: name the resource given to `TaskManager::builder().resource(\"db\", permits)`",
        ));
    }
    args.resource = Some(literal);
    Ok(())
}

fn set_step_timeout(args: &mut StepArgs, value: Expr) -> syn::Result<()> {
    const FIX: &str = "write it like \"2s\", \"250ms\" or \"1m 30s\" (units: ns, us, ms, s, m, h)";
    let literal = string(
        value,
        &format!("`timeout` takes the time limit of each attempt as a string literal: {FIX}"),
    )?;
    let limit = duration::parse_step_timeout(&literal.value()).map_err(|problem| {
        syn::Error::new(
            literal.span(),
            format!("invalid step timeout: {problem}; {FIX}"),
        )
    })?;
    args.timeout = Some((limit, literal));
    Ok(())
}

fn set_step_retry(args: &mut StepArgs, value: Expr) -> syn::Result<()> {
    const MESSAGE: &str = "`retry` takes the name of a function that returns the step's policy: `#[step(retry = payment_retries)]` with `fn payment_retries() -> Retry<MyError>`";
    match value {
        Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => {
            args.retry = Some(path.path);
            Ok(())
        }
        other => Err(syn::Error::new_spanned(other, MESSAGE)),
    }
}

fn set_step_compensate(args: &mut StepArgs, value: Expr) -> syn::Result<()> {
    args.compensate = Some(ident(
        value,
        "`compensate` takes the name of a method of this impl block: `#[step(compensate = refund)]` with `async fn refund(&self, task: &mut Task<Payload, Info>, output: StepOutput)`",
    )?);
    Ok(())
}

fn set_derive_crate(args: &mut DeriveArgs, value: Expr) -> syn::Result<()> {
    args.krate = Some(crate_path(value, "task_manager")?);
    Ok(())
}

/// Reads the arguments of `#[flow(..)]` (the macro's own `args` tokens).
pub(crate) fn parse_flow_args(args: TokenStream, errors: &mut Errors) -> FlowArgs {
    let mut flow_args = FlowArgs::default();
    let parser = parse_keys("flow", FLOW_KEYS, &mut flow_args, errors);
    if let Err(error) = syn::parse::Parser::parse2(syn::meta::parser(parser), args) {
        errors.push(error);
    }
    flow_args
}

/// Reads the arguments of one `#[step]` / `#[step(..)]` attribute.
pub(crate) fn parse_step_args(attr: &syn::Attribute, errors: &mut Errors) -> StepArgs {
    let mut step_args = StepArgs::default();
    parse_attr("step", attr, STEP_KEYS, &mut step_args, errors);
    step_args
}

/// Reads the `#[task_manager(..)]` attributes of a derived struct.
pub(crate) fn parse_derive_args(attrs: &[syn::Attribute], errors: &mut Errors) -> DeriveArgs {
    let mut derive_args = DeriveArgs::default();
    for attr in attrs
        .iter()
        .filter(|attr| attr.path().is_ident("task_manager"))
    {
        parse_attr("task_manager", attr, DERIVE_KEYS, &mut derive_args, errors);
    }
    derive_args
}

fn parse_attr<Args>(
    what: &'static str,
    attr: &syn::Attribute,
    keys: &'static [Key<Args>],
    args: &mut Args,
    errors: &mut Errors,
) {
    match &attr.meta {
        // `#[step]`: every key keeps its default.
        syn::Meta::Path(_) => {}
        syn::Meta::List(_) => {
            let parser = parse_keys(what, keys, args, errors);
            if let Err(error) = attr.parse_nested_meta(parser) {
                errors.push(error);
            }
        }
        syn::Meta::NameValue(name_value) => errors.at(
            name_value,
            format_args!(
                "`#[{what}]` takes its keys in parentheses: `#[{what}({} = ..)]`",
                keys[0].name
            ),
        ),
    }
}

/// The loop over one attribute's keys; see the module docs. A syntax error in a value
/// stops the attribute (its tokens cannot be trusted after it); any other mistake is
/// recorded and the loop goes on to the next key.
fn parse_keys<'a, Args>(
    what: &'static str,
    keys: &'static [Key<Args>],
    args: &'a mut Args,
    errors: &'a mut Errors,
) -> impl FnMut(ParseNestedMeta<'_>) -> syn::Result<()> + 'a {
    let mut seen: Vec<&'static str> = Vec::new();
    move |meta| {
        let key = keys.iter().find(|key| meta.path.is_ident(key.name));
        let key_text = meta.path.to_token_stream().to_string().replace(' ', "");
        if !meta.input.peek(syn::Token![=]) {
            let error = match key {
                Some(key) => format!("`{}` takes a value: `{} = ..`", key.name, key.name),
                None => unknown_key(what, &key_text, keys),
            };
            // Skip a parenthesised group, if any, so that the next key is read.
            if meta.input.peek(syn::token::Paren) {
                meta.input.parse::<proc_macro2::TokenTree>()?;
            }
            errors.push(meta.error(error));
            return Ok(());
        }
        let value: Expr = meta.value()?.parse()?;
        let Some(key) = key else {
            errors.at(&meta.path, unknown_key(what, &key_text, keys));
            return Ok(());
        };
        if seen.contains(&key.name) {
            let path = &meta.path;
            errors.push(syn::Error::new_spanned(
                quote::quote!(#path = #value),
                format_args!("`{}` is given twice: keep one", key.name),
            ));
            return Ok(());
        }
        seen.push(key.name);
        if let Err(error) = (key.set)(args, value) {
            errors.push(error);
        }
        Ok(())
    }
}

fn unknown_key<Args>(what: &str, written: &str, keys: &[Key<Args>]) -> String {
    let list = keys
        .iter()
        .map(|key| format!("`{}`", key.name))
        .collect::<Vec<_>>()
        .join(", ");
    let guess = keys
        .iter()
        .find(|key| key.similar.contains(&written) || key.name.eq_ignore_ascii_case(written));
    match guess {
        Some(key) => format!(
            "unknown key `{written}` in `#[{what}]`: did you mean `{}`? The keys are {list}",
            key.name
        ),
        None => format!("unknown key `{written}` in `#[{what}]`; the keys are {list}"),
    }
}

/// A value that must be a plain identifier.
fn ident(value: Expr, message: &str) -> syn::Result<Ident> {
    match &value {
        Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => path
            .path
            .get_ident()
            .cloned()
            .ok_or_else(|| syn::Error::new_spanned(&value, message)),
        _ => Err(syn::Error::new_spanned(&value, message)),
    }
}

/// A value that must be a positive integer literal (`limit = 4`, `queue = 1000`); `usage` says
/// what else to write, `zero` why zero cannot work.
fn positive_int(value: Expr, usage: &str, zero: &str) -> syn::Result<LitInt> {
    let literal = match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(literal),
            ..
        }) => literal,
        other => return Err(syn::Error::new_spanned(other, usage)),
    };
    match literal.base10_parse::<usize>() {
        Ok(0) => Err(syn::Error::new(literal.span(), zero)),
        Ok(_) => Ok(literal),
        Err(_) => Err(syn::Error::new(literal.span(), usage)),
    }
}

/// A value that must be a string literal.
fn string(value: Expr, message: &str) -> syn::Result<LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(literal),
            ..
        }) => Ok(literal),
        other => Err(syn::Error::new_spanned(other, message)),
    }
}

/// `crate = "path::to::task_manager_core"`.
fn crate_path(value: Expr, what: &str) -> syn::Result<Path> {
    let message = format!(
        "`crate` takes the path of the runtime crate as a string literal: `#[{what}(crate = \"my_crate::task_manager_core\")]`"
    );
    let literal = string(value, &message)?;
    literal
        .parse::<Path>()
        .map_err(|_| syn::Error::new(literal.span(), message))
        // The path is resolved where the user wrote it, so an error in it points there.
        .map(|path| respan_path(path, literal.span()))
}

fn respan_path(mut path: Path, span: Span) -> Path {
    for segment in &mut path.segments {
        segment.ident.set_span(span);
    }
    if let Some(colon) = &mut path.leading_colon {
        colon.spans = [span, span];
    }
    path
}
