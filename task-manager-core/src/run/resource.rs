//! A step that needs a resource (`#[step(resource = "db")]`, queue add-on): the runner waits
//! for one of the resource's permits through the queue's own wait (`queue::acquire`), then
//! runs the step holding it.

use std::future::Future;

use crate::cluster::{resource_line, LineEntry};
use crate::queue::{self, Entry, ResourcePermit};
use crate::run::scope::{Scope, StepRun, Stop};

impl Scope {
    /// Runs step `index`, which needs a resource (`#[step(resource = "..")]`): waits for one
    /// of its permits, raced against the cancel and the deadline, then runs the step as
    /// [`Scope::step`] does, holding the permit until the step is over: released when it
    /// returns, or, if it is stopped, when its [`Stop`] is consumed (after its cleanup).
    ///
    /// A cancel while waiting stops the task before the step began: the step's cleanup does
    /// not run, and the task ends `Cancelled { step: None, .. }`.
    pub async fn step_with_resource<T, E>(
        &mut self,
        index: usize,
        run: impl Future<Output = Result<T, E>>,
    ) -> StepRun<T, E> {
        if index == 0 {
            // Before the wait: the task has started, whatever its first step waits for.
            self.hooks.started(self.id, &self.shared);
        }
        let permit = match self.wait_for_resource(index).await {
            Ok(permit) => permit,
            Err(stop) => return StepRun::Stopped(stop),
        };
        match self.step(index, run).await {
            StepRun::Stopped(mut stop) => {
                stop.resource = permit;
                StepRun::Stopped(stop)
            }
            ended => ended,
        }
    }

    /// Waits for a permit of step `index`'s resource, raced against the cancel and the
    /// deadline: `Ok(None)` if there is no line to wait in, `Err` (a stop before the step
    /// began) if a cancel came first.
    pub(super) async fn wait_for_resource(
        &mut self,
        index: usize,
    ) -> Result<Option<ResourcePermit>, Stop> {
        let resource = self.shared.flow().step_resource(index);
        if let Some(link) = self
            .registry
            .cluster
            .as_ref()
            .filter(|link| link.shares_limits)
        {
            let cluster = std::sync::Arc::clone(&link.cluster);
            return self
                .wait_for_cluster_resource(index, resource, cluster)
                .await;
        }
        let queue = resource.and_then(|name| self.registry.queues.resource(name).cloned());
        // No line to wait in: a cancelled task stops in `step` before the step begins, and a
        // hand-written flow whose resource was never configured just runs (submission refuses
        // those that `#[flow]` writes).
        let Some(queue) = queue.filter(|_| !self.shared.cell().is_cancel_requested()) else {
            return Ok(None);
        };
        self.shared.set_step(index);
        self.tell_step(index);
        match queue.enter(&self.shared, self.shared.priority()) {
            Ok(Entry::Admitted(permit)) => Ok(Some(permit)),
            Ok(Entry::Queued(ticket)) => {
                if let Some(resource) = resource {
                    self.hooks
                        .waiting_for_resource(self.id, &self.shared, index, resource);
                }
                let hooks = &self.hooks;
                // An await point: the explorer may cancel here, as while queued for admission.
                let granted =
                    queue::acquire(ticket, &mut self.deadline, || hooks.resource_pending(index))
                        .await;
                // Time passed waiting: the step begins when it gets the permit, not when
                // the previous step ended.
                self.timeline.interrupt();
                match granted {
                    Some(permit) => Ok(Some(permit)),
                    // Cancelled while it waited: its reason is in the cancel slot.
                    None => Err(Stop::before(index)),
                }
            }
            // A resource's line has a capacity of `usize::MAX`: it is never full. Should it
            // be, the step waits for nothing rather than fail.
            Err(_) => Ok(None),
        }
    }

    /// [`wait_for_resource`](Self::wait_for_resource) when the manager's store shares
    /// limits: the resource's line is the cluster's (`queue::acquire_in_cluster`), with the
    /// same rules.
    #[cold]
    #[inline(never)]
    async fn wait_for_cluster_resource(
        &mut self,
        index: usize,
        resource: Option<&'static str>,
        cluster: std::sync::Arc<dyn crate::cluster::Cluster>,
    ) -> Result<Option<ResourcePermit>, Stop> {
        let permits = resource.and_then(|name| self.registry.queues.resource(name));
        let (Some(resource), Some(permits)) = (resource, permits) else {
            return Ok(None);
        };
        if self.shared.cell().is_cancel_requested() {
            return Ok(None);
        }
        self.shared.set_step(index);
        self.tell_step(index);
        let entry = LineEntry::new(
            resource_line(resource),
            self.id,
            self.shared.priority(),
            permits.permits(),
            usize::MAX,
        );
        let entering = cluster.enter_line(entry);
        let (id, shared) = (self.id, std::sync::Arc::clone(&self.shared));
        let hooks = &mut self.hooks;
        let granted = queue::acquire_in_cluster(
            &shared,
            entering,
            &mut self.deadline,
            || hooks.waiting_for_resource(id, &shared, index, resource),
            || {},
        )
        .await;
        self.timeline.interrupt();
        match granted {
            Some(permit) => Ok(Some(ResourcePermit::carrying(permit))),
            None => Err(Stop::before(index)),
        }
    }
}
