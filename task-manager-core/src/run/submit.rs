//! Starting a task: register it, enter its flow's queue if it has one, then spawn it.

use std::future::Future;
use std::sync::Arc;

use tokio::time::Instant;

use crate::cluster::{ClusterLink, LineEntry, NotAdmitted, Staged};
use crate::error::SubmitError;
use crate::family::{Family, Unlinked};
use crate::flow::FlowInfo;
use crate::handle::TaskHandle;
use crate::id::TaskId;
use crate::manager::TaskManager;
use crate::observe::TaskLive;
use crate::outcome::Outcome;
use crate::passport::Passport;
use crate::queue::{self, run_admitted, run_cluster_admitted, Full, WaitLimits};
use crate::run::scope::{arm_deadline, Scope};
use crate::run::step_limits::StepLimits;
use crate::shared::TaskShared;
use crate::task::Task;

/// Registers a task of `flow` under the passport's id and spawns `body` on the current tokio
/// runtime. The id is registered before this returns, so a `cancel` made right after
/// submission finds the task (and stops it before its first step).
///
/// If the flow is limited on this manager (queue add-on), the task takes its place in the
/// flow's queue here, synchronously, so that start order is submission order; a full queue
/// refuses it here. The spawned task then waits for admission before its body is first polled.
///
/// `body` gets the task context, the runner scope and the passport's per-call step time
/// limits (a flow without timed steps drops them: it has none); `#[flow]` writes it.
pub fn submit<P, R, T, E, Fut>(
    manager: &TaskManager,
    flow: &'static FlowInfo,
    passport: Passport<P>,
    body: impl FnOnce(Task<P, R>, Scope, StepLimits) -> Fut,
) -> Result<TaskHandle<T, E, R>, SubmitError>
where
    R: Default,
    Fut: Future<Output = Outcome<T, E, R>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    R: Send + 'static,
{
    submit_stating(manager, flow, passport, None, body)
}

/// A resumable flow's task's payload and runtime info, as its submission records them
/// with its flow (`Cluster::submitted_resumable`).
pub(crate) type SubmittedState = (Option<Vec<u8>>, Option<Vec<u8>>);

/// [`submit`], and for a task of a flow with `on_owner_lost = resume` on a clustered
/// manager (`state` given), the submission write that records its payload and info with
/// its flow, staged for `submit_in_cluster` to await.
pub(crate) fn submit_stating<P, R, T, E, Fut>(
    manager: &TaskManager,
    flow: &'static FlowInfo,
    mut passport: Passport<P>,
    state: Option<SubmittedState>,
    body: impl FnOnce(Task<P, R>, Scope, StepLimits) -> Fut,
) -> Result<TaskHandle<T, E, R>, SubmitError>
where
    R: Default,
    Fut: Future<Output = Outcome<T, E, R>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    R: Send + 'static,
{
    let id = passport.id();
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return Err(SubmitError::NoRuntime {
            id,
            flow: flow.name(),
        });
    };
    let timeout = passport.timeout().or(flow.timeout());
    // Zero has no useful meaning: the task would be cancelled before its first step. A
    // deadline too far for the clock is accepted and never comes.
    if timeout.is_some_and(|timeout| timeout.is_zero()) {
        return Err(SubmitError::ZeroTimeout {
            id,
            flow: flow.name(),
        });
    }
    let step_limits = StepLimits::of(id, flow, &mut passport)?;
    let queues = &manager.registry.queues;
    if flow.has_resources() {
        if let Some((step, resource)) = queues.unknown_resource(flow) {
            return Err(SubmitError::UnknownResource {
                id,
                flow: flow.name(),
                step,
                resource,
            });
        }
    }
    // A child (`Task::child` made the passport): linked to its parent below.
    let parent = passport
        .take_parent()
        .and_then(|link| link.0.downcast::<TaskShared>().ok())
        .filter(|parent| parent.has_family());
    let submitted_at = Instant::now();
    let live = TaskLive::new(submitted_at, manager.addons.as_ref());
    let (deadline, shared, link) = match &parent {
        None => (
            arm_deadline(submitted_at, timeout),
            Arc::new(TaskShared::new(flow, passport.priority(), live)),
            None,
        ),
        Some(parent) => {
            let priority = passport.priority();
            child_parts(
                manager,
                id,
                flow,
                parent,
                timeout,
                submitted_at,
                priority,
                live,
            )?
        }
    };
    // A child runs on its parent's instance and is known to the store only through its
    // parent: the store holds the instance's top-level tasks (reserved by
    // `submit_in_cluster`), and a child is neither reserved nor recorded.
    let cluster = manager
        .registry
        .cluster
        .as_ref()
        .filter(|_| parent.is_none());
    match cluster {
        None => manager
            .registry
            .insert(id, &shared)
            .map_err(|refused| refused.into_submit_error(id, flow))?,
        Some(cluster) => admit_reserved(manager, cluster, id, flow, &shared)?,
    }
    if let (Some(parent), Some(link)) = (&parent, &link) {
        adopt(manager, id, flow, parent, &shared, link)?;
    }
    // A store that shares limits keeps the flow's line (one test of `cluster` here for a
    // manager without one): the entry is staged, for `submit_in_cluster` to make.
    if let Some(link) = cluster.filter(|link| link.shares_limits) {
        if let Some(line) = queues.cluster_line(flow) {
            let parts = SharedLineParts {
                id,
                flow,
                shared,
                line,
                submitted_at,
                timeout,
                deadline,
                state,
            };
            return Ok(submit_in_shared_line(
                manager,
                &runtime,
                link,
                parts,
                passport,
                step_limits,
                body,
            ));
        }
    }
    let line = queues.with_line(flow, |line| {
        line.queue
            .enter(&shared, passport.priority())
            .map(|entry| (entry, line.max_wait))
    });
    let admission = match line {
        None => None,
        Some(Ok(admission)) => Some(admission),
        Some(Err(Full { capacity })) => {
            manager.registry.remove(id);
            shared.cell().end();
            if let Some(family) = shared.family() {
                leave_parent(id, &shared, &family);
            }
            if let Some(link) = cluster {
                link.cluster.release(id);
            }
            return Err(SubmitError::QueueFull {
                id,
                flow: flow.name(),
                capacity,
            });
        }
    };
    let mut scope = Scope::new(
        id,
        Arc::clone(&shared),
        Arc::clone(&manager.registry),
        deadline,
        &mut passport,
        cluster.is_some(),
    );
    let task = Task::new(passport, R::default(), Arc::clone(&shared));
    // Told before the spawn, so that they come before anything the task tells.
    scope.hooks.submitted(id, &shared);
    if admission
        .as_ref()
        .is_some_and(|(entry, _)| entry.is_queued())
    {
        scope.hooks.queued(id, &shared);
    }
    if let Some(link) = cluster {
        let queued = admission
            .as_ref()
            .is_some_and(|(entry, _)| entry.is_queued());
        tell_submitted(link, id, flow, queued, state);
    }
    let may_wait = admission.is_some() || flow.has_resources();
    let join = match admission {
        None => runtime.spawn(body(task, scope, step_limits)),
        Some((entry, max_wait)) => {
            let limits = WaitLimits::new(submitted_at, timeout, max_wait);
            // The explorer's hook, shared with the wait for admission (feature `testing`).
            let on_pending = scope.hooks.on_admission_pending();
            runtime.spawn(run_admitted(
                entry,
                limits,
                on_pending,
                body(task, scope, step_limits),
            ))
        }
    };
    // Only a task that may wait in a line needs to tell the lines when its handle cancels it.
    let lines = (may_wait).then(|| queues.abandonments().clone());
    Ok(TaskHandle::new(id, join, shared, lines))
}

/// The nearest ancestor of a child of `parent` that runs in `flow`, if any.
fn same_flow_ancestor(
    parent: &Arc<TaskShared>,
    flow: &'static FlowInfo,
) -> Option<crate::id::TaskId> {
    let mut ancestor = Some(Arc::clone(parent));
    while let Some(task) = ancestor {
        let family = task.family()?;
        if std::ptr::eq(task.flow(), flow) {
            return Some(family.id());
        }
        ancestor = family.parent();
    }
    None
}

/// A child whose runner is gone leaves its parent's family (see `family.rs`).
#[cold]
#[inline(never)]
pub(crate) fn leave_parent(id: crate::id::TaskId, shared: &TaskShared, family: &Family) {
    let (Some(parent), Some(parent_family)) = (family.parent(), family.parent_family()) else {
        return;
    };
    parent_family.leave(&parent, id, shared, family);
}

/// A child's deadline timer and shared state, linked to its parent's family; refused if an
/// ancestor runs in the same limited flow (see [`SubmitError::ParentHoldsPermit`]). The
/// child's own timer is armed only if its own deadline comes first: at the parent's, the
/// parent's cancel stops it, with the parent's reason.
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn child_parts(
    manager: &TaskManager,
    id: crate::id::TaskId,
    flow: &'static FlowInfo,
    parent: &Arc<TaskShared>,
    timeout: Option<std::time::Duration>,
    submitted_at: Instant,
    priority: i32,
    live: TaskLive,
) -> Result<ChildParts, SubmitError> {
    if manager.registry.queues.with_line(flow, |_| ()).is_some() {
        if let Some(ancestor) = same_flow_ancestor(parent, flow) {
            return Err(SubmitError::ParentHoldsPermit {
                id,
                flow: flow.name(),
                ancestor,
            });
        }
    }
    let Some(parent_family) = parent.family() else {
        let shared = TaskShared::new(flow, priority, live);
        return Ok((arm_deadline(submitted_at, timeout), Arc::new(shared), None));
    };
    let own = timeout.and_then(|timeout| submitted_at.checked_add(timeout));
    let deadline = match (own, parent_family.deadline()) {
        (Some(own), Some(theirs)) if own >= theirs => None,
        _ => arm_deadline(submitted_at, timeout),
    };
    let family = Arc::new(Family::child(id, parent, &parent_family, own));
    let shared = Arc::new(TaskShared::child(flow, priority, live, Arc::clone(&family)));
    Ok((deadline, shared, Some((parent_family, family))))
}

/// A child's timer, shared state, and its parent's family with its own.
type ChildParts = (
    Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    Arc<TaskShared>,
    Option<(Arc<Family>, Arc<Family>)>,
);

/// Links a registered child to its parent; refused (and unregistered) if the parent ended.
#[cold]
#[inline(never)]
fn adopt(
    manager: &TaskManager,
    id: crate::id::TaskId,
    flow: &'static FlowInfo,
    parent: &Arc<TaskShared>,
    shared: &Arc<TaskShared>,
    (parent_family, family): &(Arc<Family>, Arc<Family>),
) -> Result<(), SubmitError> {
    match parent_family.adopt(parent, id, shared, family) {
        Ok(()) => Ok(()),
        Err(Unlinked::ParentEnded) => {
            manager.registry.remove(id);
            shared.cell().end();
            Err(SubmitError::ParentEnded {
                id,
                flow: flow.name(),
                parent: parent_family.id(),
            })
        }
    }
}

/// Registers a task of a clustered manager: its id must have been reserved in the cluster
/// (`TaskManager::submit_in_cluster`). A cancel the store decided since the reservation is
/// applied now, so the task stops before its first step.
fn admit_reserved(
    manager: &TaskManager,
    link: &ClusterLink,
    id: TaskId,
    flow: &'static FlowInfo,
    shared: &Arc<TaskShared>,
) -> Result<(), SubmitError> {
    let held = link
        .admit(id, || manager.registry.insert(id, shared))
        .map_err(|refused| match refused {
            NotAdmitted::NotReserved => SubmitError::NotReserved {
                id,
                flow: flow.name(),
            },
            NotAdmitted::Refused(refused) => refused.into_submit_error(id, flow),
        })?;
    if let Some((reason, source)) = held {
        let lines = Some(manager.registry.queues.abandonments());
        queue::cancel(shared, reason, source, lines);
    }
    Ok(())
}

/// Tells the store that reserved task `id` was submitted to `flow`: with its payload and
/// info for a resumable flow (`state`), a write staged for `submit_in_cluster` to await.
fn tell_submitted(
    link: &ClusterLink,
    id: TaskId,
    flow: &'static FlowInfo,
    queued: bool,
    state: Option<SubmittedState>,
) {
    match state {
        None => link.cluster.submitted(id, flow.name(), queued),
        Some((payload, info)) => {
            let written = link
                .cluster
                .submitted_resumable(id, flow.name(), queued, payload, info);
            link.stage_submission(id, written);
        }
    }
}

/// What `submit` hands [`submit_in_shared_line`].
struct SharedLineParts {
    id: TaskId,
    flow: &'static FlowInfo,
    shared: Arc<TaskShared>,
    /// The cluster-wide line's name and limit.
    line: (String, crate::limit::Limit),
    submitted_at: Instant,
    timeout: Option<std::time::Duration>,
    deadline: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    /// A resumable flow's task's payload and info, for its submission's write.
    state: Option<SubmittedState>,
}

/// The rest of `submit` for a task whose flow's line is its cluster's (the store shares
/// limits): the entry is staged for `submit_in_cluster` to make (see `cluster/line.rs`), and
/// the body is spawned behind `queue::run_cluster_admitted`, which waits for the store's
/// answer and permit. The task is told `Queued` at once: it waits at least for the answer.
#[cold]
#[inline(never)]
fn submit_in_shared_line<P, R, T, E, Fut>(
    manager: &TaskManager,
    runtime: &tokio::runtime::Handle,
    link: &ClusterLink,
    parts: SharedLineParts,
    mut passport: Passport<P>,
    step_limits: StepLimits,
    body: impl FnOnce(Task<P, R>, Scope, StepLimits) -> Fut,
) -> TaskHandle<T, E, R>
where
    R: Default,
    Fut: Future<Output = Outcome<T, E, R>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    R: Send + 'static,
{
    let SharedLineParts {
        id,
        flow,
        shared,
        line: (name, limit),
        submitted_at,
        timeout,
        deadline,
        state,
    } = parts;
    let priority = passport.priority();
    let mut scope = Scope::new(
        id,
        Arc::clone(&shared),
        Arc::clone(&manager.registry),
        deadline,
        &mut passport,
        true,
    );
    let task = Task::new(passport, R::default(), Arc::clone(&shared));
    scope.hooks.submitted(id, &shared);
    scope.hooks.queued(id, &shared);
    tell_submitted(link, id, flow, true, state);
    let (gate, answer) = tokio::sync::oneshot::channel();
    let entry = LineEntry::new(name, id, priority, limit.permits(), limit.queue_capacity());
    link.stage(
        id,
        Staged {
            entry,
            flow: flow.name(),
            gate,
        },
    );
    let limits = WaitLimits::new(submitted_at, timeout, limit.max_wait());
    let on_pending = scope.hooks.on_admission_pending();
    let join = runtime.spawn(run_cluster_admitted(
        Arc::clone(&shared),
        answer,
        limits,
        on_pending,
        body(task, scope, step_limits),
    ));
    let lines = Some(manager.registry.queues.abandonments().clone());
    TaskHandle::new(id, join, shared, lines)
}
