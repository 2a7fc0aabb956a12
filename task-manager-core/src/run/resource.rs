//! A step that needs a resource (`#[step(resource = "db")]`, queue add-on): the runner waits
//! for one of the resource's permits through the queue's own wait (`queue::acquire`), then
//! runs the step holding it.

use std::future::Future;

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
}
