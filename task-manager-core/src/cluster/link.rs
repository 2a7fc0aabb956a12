//! A clustered manager's side of the seam: the store it tells ([`ClusterLink`]), the ids it
//! reserved and has not submitted yet, and the door through which the store hands it the
//! cancels decided elsewhere ([`CancelDelivery`]). The door knows the manager only as a
//! [`Deliver`] (the registry implements it), so that this room knows nothing below it.
//!
//! # Invariants
//! * An id is in `reserved` from before its record is written (so that no cancel delivered
//!   for it can find neither the reservation nor the task) until its task is registered or
//!   its reservation released.
//! * `reserved`'s lock is taken before a registry shard's, never after: the submission moves
//!   an id from `reserved` to the registry under it ([`ClusterLink::admit`]), and a delivery
//!   looks at both under it ([`ClusterLink::find_or_hold`]), so a delivered cancel finds the
//!   id in exactly one of them (or in neither, once the task has ended).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use crate::cluster::{
    Cluster, ClusterFuture, Entered, LostTask, Recovered, Recovery, Resumption, Staged,
};
use crate::compensation::Compensation;
use crate::error::ClusterError;
use crate::id::TaskId;
use crate::reason::{CancelReason, CancelSource, CancelStatus};

/// A cancel decided in the store: its reason and source.
pub(crate) type DecidedCancel = (CancelReason, CancelSource);

/// What a clustered manager keeps of its cluster (in its registry).
pub(crate) struct ClusterLink {
    pub(crate) cluster: Arc<dyn Cluster>,
    /// The store keeps the limits and resources cluster-wide (`Cluster::shares_limits`,
    /// asked once).
    pub(crate) shares_limits: bool,
    /// Entries into a flow's cluster-wide line, staged by the synchronous submission for
    /// `submit_in_cluster` to make (see `line.rs`).
    staged: Mutex<HashMap<TaskId, Staged>>,
    /// The submission write of a task of a resumable flow (its payload and info recorded
    /// with its flow, `Cluster::submitted_resumable`), staged by the synchronous submission
    /// for `submit_in_cluster` to await.
    submissions: Mutex<HashMap<TaskId, ClusterFuture<Result<(), ClusterError>>>>,
    /// Reserved ids, each with the cancel the store decided for it meanwhile, if one did.
    reserved: Mutex<HashMap<TaskId, Option<DecidedCancel>>>,
    /// How each registered flow cleans up a task claimed from a lost instance, by flow name.
    /// No user code runs under its lock (a recovery is cloned out, then called).
    recoveries: Mutex<HashMap<&'static str, Recovery>>,
    /// How each registered resumable flow runs a lost task again here, by flow name (same
    /// rule as `recoveries`).
    resumptions: Mutex<HashMap<&'static str, Resumption>>,
}

/// Why [`ClusterLink::admit`] did not register a task.
pub(crate) enum NotAdmitted<E> {
    /// The id was not reserved through `submit_in_cluster`.
    NotReserved,
    /// The registry refused it.
    Refused(E),
}

/// What [`ClusterLink::find_or_hold`] found for a delivered cancel.
pub(crate) enum Found<T> {
    /// The running task, and the cancel to apply to it.
    Task(T, DecidedCancel),
    /// The id is reserved: the cancel is held for its submission.
    Held,
    /// Neither.
    Unknown,
}

impl ClusterLink {
    pub(crate) fn new(cluster: Arc<dyn Cluster>) -> Self {
        ClusterLink {
            shares_limits: cluster.shares_limits(),
            cluster,
            staged: Mutex::new(HashMap::new()),
            submissions: Mutex::new(HashMap::new()),
            reserved: Mutex::new(HashMap::new()),
            recoveries: Mutex::new(HashMap::new()),
            resumptions: Mutex::new(HashMap::new()),
        }
    }

    /// Stages task `id`'s entry into its flow's cluster-wide line (see `line.rs`).
    pub(crate) fn stage(&self, id: TaskId, staged: Staged) {
        self.staged
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, staged);
    }

    /// Takes task `id`'s staged entry, if its submission staged one.
    pub(crate) fn take_staged(&self, id: TaskId) -> Option<Staged> {
        self.staged
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id)
    }

    /// Stages task `id`'s submission write (see `submissions`).
    pub(crate) fn stage_submission(
        &self,
        id: TaskId,
        written: ClusterFuture<Result<(), ClusterError>>,
    ) {
        self.submissions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, written);
    }

    /// Takes task `id`'s staged submission write, if its submission staged one.
    pub(crate) fn take_submission(
        &self,
        id: TaskId,
    ) -> Option<ClusterFuture<Result<(), ClusterError>>> {
        self.submissions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id)
    }

    /// Registers how flow `flow` cleans up a lost task (the last registration stands).
    pub(crate) fn register_recovery(&self, flow: &'static str, recovery: Recovery) {
        self.recoveries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(flow, recovery);
    }

    /// The cleanup of a lost task by its flow's registered recovery, if there is one.
    pub(crate) fn recover(&self, lost: LostTask) -> Option<ClusterFuture<Recovered>> {
        let recovery = self
            .recoveries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(lost.flow.as_str())
            .cloned()?;
        recovery(lost)
    }

    /// Registers how resumable flow `flow` runs a lost task again (the last registration
    /// stands).
    pub(crate) fn register_resumption(&self, flow: &'static str, resumption: Resumption) {
        self.resumptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(flow, resumption);
    }

    /// Runs lost task `lost` again on this instance by its flow's registered resumption
    /// (see [`CancelDelivery::resume`]): its id is held as reserved, the flow submits it
    /// (which moves the id into the registry), and a flow with a cluster-wide limit enters
    /// its line as `submit_in_cluster` does. `None` if nothing was submitted.
    pub(crate) fn resume(&self, lost: LostTask) -> Option<ClusterFuture<bool>> {
        let resumption = self
            .resumptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(lost.flow.as_str())
            .cloned()?;
        let id = lost.id;
        if !self.hold(id) {
            return None;
        }
        if !resumption(lost) {
            // Not submitted: the record stays the store's (nothing to release).
            self.unhold(id);
            return None;
        }
        let staged = self.take_staged(id);
        let cluster = Arc::clone(&self.cluster);
        Some(Box::pin(async move {
            let Some(staged) = staged else {
                return true;
            };
            // As `submit_in_cluster` does: a refused entry ends the task as a dropped
            // handle would (its gate dropped), and the task records that ending itself.
            match cluster.enter_line(staged.entry).await {
                Ok(Entered::Full { .. }) | Err(_) => false,
                Ok(entered) => {
                    let _ = staged.gate.send(entered);
                    true
                }
            }
        }))
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
    pub(crate) fn admit<E>(
        &self,
        id: TaskId,
        register: impl FnOnce() -> Result<(), E>,
    ) -> Result<Option<DecidedCancel>, NotAdmitted<E>> {
        let mut reserved = self.reserved();
        if !reserved.contains_key(&id) {
            return Err(NotAdmitted::NotReserved);
        }
        register().map_err(NotAdmitted::Refused)?;
        Ok(reserved.remove(&id).flatten())
    }

    /// For a cancel the store delivers: the running task `find` finds, else the reservation
    /// (which then holds the cancel), under the reservations' lock.
    pub(crate) fn find_or_hold<T>(
        &self,
        id: TaskId,
        cancel: DecidedCancel,
        find: impl FnOnce() -> Option<T>,
    ) -> Found<T> {
        let mut reserved = self.reserved();
        if let Some(task) = find() {
            return Found::Task(task, cancel);
        }
        match reserved.get_mut(&id) {
            Some(held) => {
                held.get_or_insert(cancel);
                Found::Held
            }
            None => Found::Unknown,
        }
    }

    /// Every reserved id not yet submitted gets `cancel` as its held cancel (unless it has
    /// one): its submission stops it before its first step. Returns how many.
    pub(crate) fn hold_for_all(&self, cancel: &DecidedCancel) -> usize {
        let mut reserved = self.reserved();
        for held in reserved.values_mut() {
            held.get_or_insert_with(|| cancel.clone());
        }
        reserved.len()
    }

    fn reserved(&self) -> MutexGuard<'_, HashMap<TaskId, Option<DecidedCancel>>> {
        // No user code runs under this lock; a poisoned map is still whole.
        self.reserved.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What a manager does with a cancel its store delivers (the registry implements it).
pub(crate) trait Deliver: Send + Sync {
    fn deliver(&self, id: TaskId, reason: CancelReason, source: CancelSource) -> Delivered;
    /// Abandons every task of the manager (see [`CancelDelivery::abandon_all`]).
    fn abandon_all(&self, reason: CancelReason) -> usize;
    /// Cleans up a lost task (see [`CancelDelivery::recover`]).
    fn recover(&self, lost: LostTask) -> Option<ClusterFuture<Recovered>>;
    /// Runs a lost task again here (see [`CancelDelivery::resume`]).
    fn resume(&self, lost: LostTask) -> Option<ClusterFuture<bool>>;
}

/// The door through which a [`Cluster`] hands a manager the cancels the store decided for
/// its tasks (given to [`Cluster::attach`]). Holds the manager weakly: once every clone of
/// the manager and every task of it are gone, [`cancel`](Self::cancel) answers
/// [`Delivered::ManagerGone`], and the store's listener can stop.
#[derive(Clone)]
pub struct CancelDelivery {
    manager: Weak<dyn Deliver>,
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
    pub(crate) fn new(manager: Weak<dyn Deliver>) -> Self {
        CancelDelivery { manager }
    }

    /// Whether the manager still lives (some clone of it, or a task of it, holds it).
    pub fn is_attached(&self) -> bool {
        self.manager.strong_count() > 0
    }

    /// Applies a cancel that the store decided for task `id` (with the winning `reason` and
    /// `source`) to the task, as a local cancel is applied: the step in progress stops at
    /// once and its cleanup runs with `reason`. Delivering the same cancel twice is harmless
    /// (the second finds it applied).
    pub fn cancel(&self, id: TaskId, reason: CancelReason, source: CancelSource) -> Delivered {
        match self.manager.upgrade() {
            Some(manager) => manager.deliver(id, reason, source),
            None => Delivered::ManagerGone,
        }
    }
}

impl CancelDelivery {
    /// This instance has lost its tasks to the cluster (its lease in the store expired, so
    /// another instance may claim them): every task the manager runs, children included,
    /// stops where it stands, runs no cleanup and no compensation, tells the store nothing
    /// more, and ends [`Ending::Abandoned`](crate::Ending::Abandoned); a task that was
    /// running is decided cancelled with `reason` (a later local cancel finds it
    /// `AlreadyRequested`). An id reserved and not yet submitted is stopped before its
    /// first step when it is. Returns how many running tasks were abandoned (0 once the
    /// manager is gone).
    ///
    /// A store calls this when it finds its lease lost, before it takes a new one.
    pub fn abandon_all(&self, reason: CancelReason) -> usize {
        match self.manager.upgrade() {
            Some(manager) => manager.abandon_all(reason),
            None => 0,
        }
    }
}

impl CancelDelivery {
    /// A task this instance's store claimed from a lost instance: the future that runs the
    /// cleanup of its interrupted step (`lost.step`) with `lost.reason`, then the
    /// compensations of its completed steps (`lost.outputs`) in reverse step order, each on a
    /// fresh task context rebuilt from the persisted payload and runtime info, and yields
    /// what became of them ([`Recovered`]). `None` when no flow named `lost.flow` was registered on this manager
    /// (`register_<flow>`, generated for a flow with `#[flow(on_owner_lost = cancel)]`), when
    /// its state cannot be read back, or when the manager is gone: the store then records
    /// that no cleanup ran. A step that declares no cleanup yields
    /// [`RecordedCleanup::NotDeclared`](crate::RecordedCleanup::NotDeclared), a task between
    /// steps (`lost.step` is `None`) [`RecordedCleanup::NoStepInProgress`](crate::RecordedCleanup::NoStepInProgress);
    /// a panic in the cleanup or a compensation is caught.
    pub fn recover(&self, lost: LostTask) -> Option<ClusterFuture<Recovered>> {
        self.manager.upgrade()?.recover(lost)
    }
}

impl CancelDelivery {
    /// A task of a flow with `#[flow(on_owner_lost = resume)]` that this instance's store
    /// claimed and whose recovery said it resumes ([`Recovered::resumes`]), once the store
    /// has recorded it as running here again: the flow registered on this manager submits
    /// it as a task of this instance, under its own id, from the step the record names
    /// (`lost.step`; its first step for a task lost before it began, `lost.unbegun`), that
    /// step's input (`lost.input`), the persisted payload and runtime
    /// info, and the outputs of the completed compensated steps (`lost.outputs`, kept for
    /// its compensations). From then on it is a task of this instance like any other: its
    /// writes, its seal and its ending go to the store as they do for a task submitted
    /// here. The future yields `true` once the task runs (for a flow with a cluster-wide
    /// limit, once it has its place in the line). `None` if no resumable flow named
    /// `lost.flow` is registered, its state cannot be read back, the submission was
    /// refused (the manager shuts down), or the manager is gone: then nothing runs.
    pub fn resume(&self, lost: LostTask) -> Option<ClusterFuture<bool>> {
        self.manager.upgrade()?.resume(lost)
    }
}

impl CancelDelivery {
    /// A task of a flow with `#[flow(on_owner_lost = resume)]` whose recovery said it
    /// resumes ([`Recovered::resumes`]: the lost step's cleanup ran, and no compensation),
    /// but that a cancel won before the store took it back as running (a user's cancel
    /// that replaced the claim's `OwnerLost` while the cleanup ran): the future that runs
    /// the compensations of its completed steps (`lost.outputs`) in reverse step order, each
    /// once, on a fresh task context rebuilt from the persisted payload and runtime info, as
    /// [`recover`](Self::recover) runs them for a task that is not resumed, and yields them.
    /// No cleanup runs (it ran), and nothing runs again. `None` when
    /// [`recover`](Self::recover) would say `None` (no flow registered, state unreadable,
    /// the manager gone).
    pub fn compensate(&self, mut lost: LostTask) -> Option<ClusterFuture<Vec<Compensation>>> {
        // Without a step in progress the recovery runs the compensations alone, and a
        // resumable flow does not resume.
        lost.step = None;
        let recovered = self.recover(lost)?;
        Some(Box::pin(async move { recovered.await.compensations }))
    }
}

impl std::fmt::Debug for CancelDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelDelivery")
            .field("attached", &self.is_attached())
            .finish()
    }
}
