//! A flow with `#[flow(on_owner_lost = cancel)]`: what its tasks persist at each step
//! boundary ([`Scope::persist`]), and how the instance that claims one from a lost instance
//! runs the interrupted step's cleanup and then the compensations of the completed steps
//! ([`register_recovery`], called by the generated `register_<flow>`). A flow without the
//! key never comes here.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Weak};

use futures_util::FutureExt;
use tokio::time::Instant;

#[cfg(doc)]
use crate::cluster::ClusterState;
use crate::cluster::{ClusterFuture, LostTask, RecordedCleanup, Recovered, Recovery};
use crate::compensation::Compensation;
use crate::error::ClusterError;
use crate::flow::FlowInfo;
use crate::manager::TaskManager;
use crate::observe::TaskLive;
use crate::passport::Passport;
use crate::reason::CancelReason;
use crate::run::race::panic_message;
use crate::run::scope::Scope;
use crate::shared::TaskShared;
use crate::task::Task;

/// A step's cleanup, as the generated code hands it over: the future of step `index`'s
/// cleanup on `task` with the reason, or `None` if the step declares none.
pub type LostCleanup<S, P, R> =
    fn(Arc<S>, usize, Task<P, R>, CancelReason) -> Option<Pin<Box<dyn Future<Output = ()> + Send>>>;

/// A completed step's compensation, as the generated code hands it over: step `index`'s name
/// and the future of its compensation on `task` with the output read back from the bytes
/// (the future yields the compensation's error, if any, or says that the output could not
/// be read back), or `None` if the step declares none.
pub type LostCompensation<S, P, R> = fn(
    Arc<S>,
    usize,
    Task<P, R>,
    &[u8],
) -> Option<(
    &'static str,
    Pin<Box<dyn Future<Output = Option<String>> + Send>>,
)>;

impl Scope {
    /// Step `index` is next: writes its boundary with the task's payload and runtime info
    /// (as [`ClusterState::to_state`] gave them), and the outputs of its completed
    /// compensated steps by index, to the store, and is ready once the store has (called
    /// for a clustered task of a flow with `on_owner_lost` only).
    pub fn persist(
        &self,
        index: usize,
        payload: Option<Vec<u8>>,
        info: Option<Vec<u8>>,
        outputs: Vec<(usize, Vec<u8>)>,
    ) -> ClusterFuture<Result<(), ClusterError>> {
        match &self.registry.cluster {
            Some(link) => {
                let step = self.shared.flow().step_name(index);
                link.cluster
                    .persist_step(self.id, index, step, payload, info, outputs)
            }
            None => Box::pin(async { Ok(()) }),
        }
    }
}

/// Registers `service` on its clustered `manager` as the one that cleans up the tasks of
/// `flow` claimed from lost instances: `cleanup` runs the interrupted step's cleanup, then
/// `compensate` the compensations of the completed steps, in reverse step order, each on a
/// fresh task context, each once per recovery, a panic caught. Held
/// weakly (the service holds the manager). Does nothing on a manager without a cluster.
/// `from_payload` and `from_info` read the persisted state back (the generated code hands
/// [`ClusterState::from_state`], checked on the user's types).
pub fn register_recovery<S, P, R>(
    manager: &TaskManager,
    flow: &'static FlowInfo,
    service: &Arc<S>,
    from_payload: fn(&[u8]) -> Option<P>,
    from_info: fn(&[u8]) -> Option<R>,
    cleanup: LostCleanup<S, P, R>,
    compensate: LostCompensation<S, P, R>,
) where
    S: Send + Sync + 'static,
    P: Send + 'static,
    R: Send + 'static,
{
    let Some(link) = manager.registry.cluster.as_ref() else {
        return;
    };
    let service: Weak<S> = Arc::downgrade(service);
    link.register_recovery(
        flow.name(),
        recovery(flow, service, from_payload, from_info, cleanup, compensate),
    );
}

/// The recovery `register_recovery` registers (see there).
fn recovery<S, P, R>(
    flow: &'static FlowInfo,
    service: Weak<S>,
    from_payload: fn(&[u8]) -> Option<P>,
    from_info: fn(&[u8]) -> Option<R>,
    cleanup: LostCleanup<S, P, R>,
    compensate: LostCompensation<S, P, R>,
) -> Recovery
where
    S: Send + Sync + 'static,
    P: Send + 'static,
    R: Send + 'static,
{
    Arc::new(move |lost: LostTask| {
        let service = service.upgrade()?;
        // Every state is read back before anything runs: unreadable state runs nothing.
        let payload = lost.payload.as_deref()?;
        let info = lost.info.as_deref()?;
        let fresh = move || -> Option<Task<P, R>> {
            let live = TaskLive::new(Instant::now(), None);
            let shared = Arc::new(TaskShared::new(flow, 0, live));
            let passport = Passport::new(from_payload(payload)?).with_id(lost.id);
            Some(Task::new(passport, from_info(info)?, shared))
        };
        let cleanup_run = match lost.step.clone() {
            Some((index, step)) => {
                let run = cleanup(Arc::clone(&service), index, fresh()?, lost.reason.clone());
                Some((step, run))
            }
            None => None,
        };
        // Reverse step order, each step once however often the store listed it.
        let mut outputs = lost.outputs.clone();
        outputs.sort_by_key(|output| std::cmp::Reverse(output.0));
        outputs.dedup_by_key(|output| output.0);
        let mut compensations = Vec::with_capacity(outputs.len());
        for (index, bytes) in &outputs {
            if let Some(run) = compensate(Arc::clone(&service), *index, fresh()?, bytes) {
                compensations.push(run);
            }
        }
        Some(Box::pin(async move {
            let cleanup = match cleanup_run {
                None => RecordedCleanup::NoStepInProgress,
                Some((step, None)) => RecordedCleanup::NotDeclared { step },
                Some((step, Some(run))) => {
                    let started = Instant::now();
                    match AssertUnwindSafe(run).catch_unwind().await {
                        Ok(()) => RecordedCleanup::Completed {
                            step,
                            duration: started.elapsed(),
                        },
                        Err(payload) => RecordedCleanup::Panicked {
                            step,
                            message: panic_message(payload),
                        },
                    }
                }
            };
            let mut ran = Vec::with_capacity(compensations.len());
            for (step, run) in compensations {
                let started = Instant::now();
                ran.push(match AssertUnwindSafe(run).catch_unwind().await {
                    Ok(None) => Compensation::Completed {
                        step,
                        duration: started.elapsed(),
                    },
                    Ok(Some(error)) => Compensation::Failed { step, error },
                    Err(payload) => Compensation::Panicked {
                        step,
                        message: panic_message(payload),
                    },
                });
            }
            Recovered {
                cleanup,
                compensations: ran,
                resumes: false,
            }
        }) as ClusterFuture<Recovered>)
    })
}

/// A resumable flow's check that a lost task can run again from step `index`: that step's
/// persisted input (`None`: none was persisted) and the completed compensated steps'
/// outputs read back as their types (generated, `on_owner_lost = resume`).
pub type ResumeCheck = fn(usize, Option<&[u8]>, &[(usize, Vec<u8>)]) -> bool;

/// A resumable flow's submission of a lost task on this instance, from step `index` with
/// its persisted input and the completed compensated steps' outputs, the payload (in the
/// passport, under the task's id) and the runtime info read back: `true` if the task was
/// submitted (generated, `on_owner_lost = resume`; its handle is detached).
pub type ResumeRun<S, P, R> =
    fn(&Arc<S>, Passport<P>, R, usize, Option<Vec<u8>>, Vec<(usize, Vec<u8>)>) -> bool;

impl Scope {
    /// This task resumes at step `index` (a task of a flow with `on_owner_lost = resume`,
    /// claimed from a lost instance): its `index` earlier steps completed there, and count
    /// as completed here (their report records carry no time).
    pub fn resumed_at(&mut self, index: usize) {
        self.timeline.done_elsewhere(index);
    }

    /// [`persist`](Self::persist) for a flow with `on_owner_lost = resume`: also the input
    /// of step `index` (the previous step's output, as [`ClusterState::to_state`] gave it;
    /// `None` for the first step or one that takes no input).
    pub fn persist_resumable(
        &self,
        index: usize,
        payload: Option<Vec<u8>>,
        info: Option<Vec<u8>>,
        input: Option<Vec<u8>>,
        outputs: Vec<(usize, Vec<u8>)>,
    ) -> ClusterFuture<Result<(), ClusterError>> {
        match &self.registry.cluster {
            Some(link) => {
                let step = self.shared.flow().step_name(index);
                link.cluster
                    .persist_resumable_step(self.id, index, step, payload, info, input, outputs)
            }
            None => Box::pin(async { Ok(()) }),
        }
    }
}

/// [`register_recovery`] for a flow with `#[flow(on_owner_lost = resume)]`. A task lost with
/// [`CancelReason::OwnerLost`] whose state reads back (`can_resume`) has the interrupted
/// step's cleanup run, and no compensation ([`Recovered::resumes`]); once the store has
/// recorded it as running here, it is submitted again (`resume`) from that step, which runs
/// again from its persisted input, and goes on. A task lost after a cancel had won it, or
/// whose state does not read back, is cleaned up and compensated as with `cancel`.
#[allow(clippy::too_many_arguments)]
pub fn register_resumption<S, P, R>(
    manager: &TaskManager,
    flow: &'static FlowInfo,
    service: &Arc<S>,
    from_payload: fn(&[u8]) -> Option<P>,
    from_info: fn(&[u8]) -> Option<R>,
    cleanup: LostCleanup<S, P, R>,
    compensate: LostCompensation<S, P, R>,
    can_resume: ResumeCheck,
    resume: ResumeRun<S, P, R>,
) where
    S: Send + Sync + 'static,
    P: Send + 'static,
    R: Send + 'static,
{
    let Some(link) = manager.registry.cluster.as_ref() else {
        return;
    };
    let service: Weak<S> = Arc::downgrade(service);
    let cancel = recovery(
        flow,
        service.clone(),
        from_payload,
        from_info,
        cleanup,
        compensate,
    );
    link.register_recovery(
        flow.name(),
        Arc::new(move |mut lost: LostTask| {
            // Lost before its first step: it resumes from that step, with no cleanup (no
            // step had begun) and nothing to compensate.
            let start = match &lost.step {
                Some((index, _)) => Some(*index),
                None => lost.unbegun.then_some(0),
            };
            let resumes = matches!(lost.reason, CancelReason::OwnerLost { .. })
                && start
                    .is_some_and(|index| can_resume(index, lost.input.as_deref(), &lost.outputs));
            if !resumes {
                return cancel(lost);
            }
            // The interrupted attempt's cleanup alone: the completed steps stay done.
            lost.outputs.clear();
            let cleaned = cancel(lost)?;
            Some(Box::pin(async move {
                let mut recovered = cleaned.await;
                recovered.resumes = true;
                recovered
            }) as ClusterFuture<Recovered>)
        }),
    );
    link.register_resumption(
        flow.name(),
        Arc::new(move |lost: LostTask| {
            let Some(service) = service.upgrade() else {
                return false;
            };
            let index = match &lost.step {
                Some((index, _)) => *index,
                None if lost.unbegun => 0,
                None => return false,
            };
            let payload = lost.payload.as_deref().and_then(from_payload);
            let info = lost.info.as_deref().and_then(from_info);
            let (Some(payload), Some(info)) = (payload, info) else {
                return false;
            };
            let passport = Passport::new(payload).with_id(lost.id);
            resume(&service, passport, info, index, lost.input, lost.outputs)
        }),
    );
}
