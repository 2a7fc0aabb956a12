//! A flow with `#[flow(on_owner_lost = cancel)]`: what its tasks persist at each step
//! boundary ([`Scope::persist`]), and how the instance that claims one from a lost instance
//! runs the interrupted step's cleanup ([`register_recovery`], called by the generated
//! `register_<flow>`). A flow without the key never comes here.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Weak};

use futures_util::FutureExt;
use tokio::time::Instant;

#[cfg(doc)]
use crate::cluster::ClusterState;
use crate::cluster::{ClusterFuture, LostTask, RecordedCleanup};
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

impl Scope {
    /// Step `index` is next: writes its boundary with the task's payload and runtime info
    /// (as [`ClusterState::to_state`] gave them) to the store, and is ready once the store
    /// has (called for a clustered task of a flow with `on_owner_lost` only).
    pub fn persist(
        &self,
        index: usize,
        payload: Option<Vec<u8>>,
        info: Option<Vec<u8>>,
    ) -> ClusterFuture<Result<(), ClusterError>> {
        match &self.registry.cluster {
            Some(link) => {
                let step = self.shared.flow().step_name(index);
                link.cluster
                    .persist_step(self.id, index, step, payload, info)
            }
            None => Box::pin(async { Ok(()) }),
        }
    }
}

/// Registers `service` on its clustered `manager` as the one that cleans up the tasks of
/// `flow` claimed from lost instances: `cleanup` runs the interrupted step's cleanup. Held
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
        Arc::new(move |lost: LostTask| {
            let service = service.upgrade()?;
            let (index, step) = lost.step.clone()?;
            let payload = from_payload(lost.payload.as_deref()?)?;
            let info = from_info(lost.info.as_deref()?)?;
            let live = TaskLive::new(Instant::now(), None);
            let shared = Arc::new(TaskShared::new(flow, 0, live));
            let task = Task::new(Passport::new(payload).with_id(lost.id), info, shared);
            let run = cleanup(service, index, task, lost.reason);
            Some(Box::pin(async move {
                let Some(run) = run else {
                    return RecordedCleanup::NotDeclared { step };
                };
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
            }) as ClusterFuture<RecordedCleanup>)
        }),
    );
}
