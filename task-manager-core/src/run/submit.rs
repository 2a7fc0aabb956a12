//! Starting a task: register it, enter its flow's queue if it has one, then spawn it.

use std::future::Future;
use std::sync::Arc;

use tokio::time::Instant;

use crate::cluster::{ClusterLink, NotAdmitted};
use crate::error::SubmitError;
use crate::flow::FlowInfo;
use crate::handle::TaskHandle;
use crate::id::TaskId;
use crate::manager::TaskManager;
use crate::observe::TaskLive;
use crate::outcome::Outcome;
use crate::passport::Passport;
use crate::queue::{self, run_admitted, Full, WaitLimits};
use crate::run::scope::{arm_deadline, Scope};
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
/// `body` gets the task context and the runner scope; `#[flow]` writes it.
pub fn submit<P, R, T, E, Fut>(
    manager: &TaskManager,
    flow: &'static FlowInfo,
    mut passport: Passport<P>,
    body: impl FnOnce(Task<P, R>, Scope) -> Fut,
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
    let submitted_at = Instant::now();
    let deadline = arm_deadline(submitted_at, timeout);
    let live = TaskLive::new(submitted_at, manager.addons.as_ref());
    let shared = Arc::new(TaskShared::new(flow, passport.priority(), live));
    match &manager.registry.cluster {
        None => manager
            .registry
            .insert(id, &shared)
            .map_err(|refused| refused.into_submit_error(id, flow))?,
        Some(link) => admit_reserved(manager, link, id, flow, &shared)?,
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
            if let Some(link) = &manager.registry.cluster {
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
    if let Some(link) = &manager.registry.cluster {
        let queued = admission
            .as_ref()
            .is_some_and(|(entry, _)| entry.is_queued());
        link.cluster.submitted(id, flow.name(), queued);
    }
    let may_wait = admission.is_some() || flow.has_resources();
    let join = match admission {
        None => runtime.spawn(body(task, scope)),
        Some((entry, max_wait)) => {
            let limits = WaitLimits::new(submitted_at, timeout, max_wait);
            // The explorer's hook, shared with the wait for admission (feature `testing`).
            let on_pending = scope.hooks.on_admission_pending();
            runtime.spawn(run_admitted(entry, limits, on_pending, body(task, scope)))
        }
    };
    // Only a task that may wait in a line needs to tell the lines when its handle cancels it.
    let lines = (may_wait).then(|| queues.abandonments().clone());
    Ok(TaskHandle::new(id, join, shared, lines))
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
