//! A clustered manager's side of the seam: the store it tells ([`ClusterLink`]), the ids it
//! reserved and has not submitted yet, and the door through which the store hands it the
//! cancels decided elsewhere ([`CancelDelivery`]).
//!
//! # Invariants
//! * An id is in `reserved` from before its record is written (so that no cancel delivered
//!   for it can find neither the reservation nor the task) until its task is registered or
//!   its reservation released.
//! * `reserved`'s lock is taken before a registry shard's, never after: the submission moves
//!   an id from `reserved` to the registry under it, and a delivery looks at both under it,
//!   so a delivered cancel finds the id in exactly one of them (or in neither, once the task
//!   has ended).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use crate::cluster::Cluster;
use crate::id::TaskId;
use crate::queue;
use crate::reason::{CancelReason, CancelSource, CancelStatus};
use crate::registry::{Refused, Registry};
use crate::shared::TaskShared;

/// A cancel decided in the store before its task was registered here.
type HeldCancel = (CancelReason, CancelSource);

/// What a clustered manager keeps of its cluster (in its registry).
pub(crate) struct ClusterLink {
    pub(crate) cluster: Arc<dyn Cluster>,
    reserved: Mutex<HashMap<TaskId, Option<HeldCancel>>>,
}

/// Why [`ClusterLink::admit`] did not register a task.
pub(crate) enum NotAdmitted {
    /// The id was not reserved through `submit_in_cluster`.
    NotReserved,
    /// The registry refused it.
    Refused(Refused),
}

impl ClusterLink {
    pub(crate) fn new(cluster: Arc<dyn Cluster>) -> Self {
        ClusterLink {
            cluster,
            reserved: Mutex::new(HashMap::new()),
        }
    }

    /// Notes `id` as reserved here; `false` if it already is (a second submission of the
    /// same id on this instance, racing the first).
    pub(crate) fn hold(&self, id: TaskId) -> bool {
        let mut reserved = self.reserved();
        if reserved.contains_key(&id) {
            return false;
        }
        reserved.insert(id, None);
        true
    }

    /// Forgets `id`'s reservation, if it is still held; `true` if it was (then its record
    /// must be released too).
    pub(crate) fn unhold(&self, id: TaskId) -> bool {
        self.reserved().remove(&id).is_some()
    }

    /// Moves reserved `id` into the registry (`register`), under the reservations' lock;
    /// returns the cancel the store decided for it meanwhile, if one did.
    pub(crate) fn admit(
        &self,
        id: TaskId,
        register: impl FnOnce() -> Result<(), Refused>,
    ) -> Result<Option<HeldCancel>, NotAdmitted> {
        let mut reserved = self.reserved();
        let Some(held) = reserved.get_mut(&id) else {
            return Err(NotAdmitted::NotReserved);
        };
        register().map_err(NotAdmitted::Refused)?;
        let held = held.take();
        reserved.remove(&id);
        Ok(held)
    }

    fn reserved(&self) -> MutexGuard<'_, HashMap<TaskId, Option<HeldCancel>>> {
        // No user code runs under this lock; a poisoned map is still whole.
        self.reserved.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The door through which a [`Cluster`] hands a manager the cancels the store decided for
/// its tasks (given to [`Cluster::attach`]). Holds the manager weakly: once every clone of
/// the manager is dropped, [`cancel`](Self::cancel) answers [`Delivered::ManagerGone`], and
/// the store's listener can stop.
#[derive(Clone)]
pub struct CancelDelivery {
    registry: Weak<Registry>,
}

/// What [`CancelDelivery::cancel`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivered {
    /// The task runs here: the cancel was applied to it, with this local answer
    /// (`AlreadyRequested` if it had met a cancel already, `AlreadyFinished` if it was
    /// ending by itself).
    Applied(CancelStatus),
    /// The id is reserved here and not yet submitted: its submission applies the cancel,
    /// and the task stops before its first step.
    Held,
    /// No task of this id runs or is reserved here (it has ended).
    Unknown,
    /// The manager is gone.
    ManagerGone,
}

impl CancelDelivery {
    pub(crate) fn new(registry: &Arc<Registry>) -> Self {
        CancelDelivery {
            registry: Arc::downgrade(registry),
        }
    }

    /// Whether the manager still lives (some clone of it, or a task of it, holds it).
    pub fn is_attached(&self) -> bool {
        self.registry.strong_count() > 0
    }

    /// Applies a cancel that the store decided for task `id` (with the winning `reason` and
    /// `source`) to the task, as a local cancel is applied: the step in progress stops at
    /// once and its cleanup runs with `reason`. Delivering the same cancel twice is harmless
    /// (the second finds it applied).
    pub fn cancel(&self, id: TaskId, reason: CancelReason, source: CancelSource) -> Delivered {
        let Some(registry) = self.registry.upgrade() else {
            return Delivered::ManagerGone;
        };
        let Some(link) = registry.cluster.as_ref() else {
            return Delivered::Unknown;
        };
        let task: Arc<TaskShared> = {
            let mut reserved = link.reserved();
            match registry.get(id) {
                Some(task) => task,
                None => {
                    return match reserved.get_mut(&id) {
                        Some(held) => {
                            held.get_or_insert((reason, source));
                            Delivered::Held
                        }
                        None => Delivered::Unknown,
                    }
                }
            }
        };
        let lines = Some(registry.queues.abandonments());
        Delivered::Applied(queue::cancel(&task, reason, source, lines))
    }
}

impl std::fmt::Debug for CancelDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelDelivery")
            .field("manager_alive", &(self.registry.strong_count() > 0))
            .finish()
    }
}
