//! What a flow with `#[flow(on_owner_lost = cancel)]` keeps in the cluster's store, and the
//! task a store hands back when it claims one from a lost instance ([`LostTask`]).
//!
//! The payload and runtime info are kept as bytes (JSON, feature `cluster-state`), written at
//! each step boundary and awaited before the step begins ([`Cluster::persist_step`]), so that
//! the record names the step in progress with the state it began with. The instance that
//! claims such a task hands it to the flow registered on its manager
//! ([`CancelDelivery::recover`]), which runs the interrupted step's cleanup there.
//!
//! [`Cluster::persist_step`]: crate::Cluster::persist_step
//! [`CancelDelivery::recover`]: crate::CancelDelivery::recover

use std::sync::Arc;

use crate::cluster::{ClusterFuture, RecordedCleanup};
use crate::compensation::Compensation;
use crate::id::TaskId;
use crate::reason::CancelReason;

/// A task a store took from a lost instance, for the flow registered to run its cleanup
/// (see [`CancelDelivery::recover`](crate::CancelDelivery::recover)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LostTask {
    /// The task.
    pub id: TaskId,
    /// Its flow's name.
    pub flow: String,
    /// The step the record names as in progress: its index and name.
    pub step: Option<(usize, String)>,
    /// The payload, as persisted at that step's boundary.
    pub payload: Option<Vec<u8>>,
    /// The runtime info, as persisted at that step's boundary.
    pub info: Option<Vec<u8>>,
    /// The reason the cleanup receives: `OwnerLost { instance }`, or the reason of a cancel
    /// that had won the task before its instance was lost.
    pub reason: CancelReason,
    /// The outputs of the completed steps that declare a compensation, by step index, as
    /// persisted at the last boundary: the claimant runs their compensations.
    pub outputs: Vec<(usize, Vec<u8>)>,
    /// The input of the step in progress (the previous step's output), as persisted at its
    /// boundary, for a flow with `#[flow(on_owner_lost = resume)]`: the claimant runs that
    /// step again from it. `None` for the first step, a step that takes no input, or a
    /// flow that does not resume.
    pub input: Option<Vec<u8>>,
    /// Lost before its first step began (its record names no step): the payload and info
    /// are those its submission recorded ([`Cluster::submitted_resumable`]), and a flow with
    /// `#[flow(on_owner_lost = resume)]` runs it from its first step, with no cleanup (no
    /// step had begun).
    ///
    /// [`Cluster::submitted_resumable`]: crate::Cluster::submitted_resumable
    pub unbegun: bool,
}

impl LostTask {
    /// A lost task of `flow`, to be cleaned up with `reason`.
    ///
    /// ```
    /// use task_manager_core::{CancelReason, LostTask, TaskId};
    ///
    /// let lost = LostTask::new(TaskId::new(), "upload", CancelReason::owner_lost("api-1"))
    ///     .at_step(1, "send")
    ///     .with_state(Some(b"\"report.pdf\"".to_vec()), Some(b"null".to_vec()));
    /// assert_eq!(lost.step, Some((1, "send".to_owned())));
    /// ```
    pub fn new(id: TaskId, flow: impl Into<String>, reason: CancelReason) -> Self {
        LostTask {
            id,
            flow: flow.into(),
            step: None,
            payload: None,
            info: None,
            reason,
            outputs: Vec::new(),
            input: None,
            unbegun: false,
        }
    }

    /// The step in progress, by index and name.
    pub fn at_step(mut self, index: usize, step: impl Into<String>) -> Self {
        self.step = Some((index, step.into()));
        self
    }

    /// The persisted payload and runtime info.
    pub fn with_state(mut self, payload: Option<Vec<u8>>, info: Option<Vec<u8>>) -> Self {
        self.payload = payload;
        self.info = info;
        self
    }

    /// The persisted outputs of the completed compensated steps, by step index.
    ///
    /// ```
    /// use task_manager_core::{CancelReason, LostTask, TaskId};
    ///
    /// let lost = LostTask::new(TaskId::new(), "upload", CancelReason::owner_lost("api-1"))
    ///     .with_outputs(vec![(0, b"42".to_vec())]);
    /// assert_eq!(lost.outputs.len(), 1);
    /// ```
    pub fn with_outputs(mut self, outputs: Vec<(usize, Vec<u8>)>) -> Self {
        self.outputs = outputs;
        self
    }

    /// The persisted input of the step in progress (a flow with `on_owner_lost = resume`).
    ///
    /// ```
    /// use task_manager_core::{CancelReason, LostTask, TaskId};
    ///
    /// let lost = LostTask::new(TaskId::new(), "upload", CancelReason::owner_lost("api-1"))
    ///     .at_step(1, "send")
    ///     .with_input(Some(b"42".to_vec()));
    /// assert_eq!(lost.input.as_deref(), Some(&b"42"[..]));
    /// ```
    pub fn with_input(mut self, input: Option<Vec<u8>>) -> Self {
        self.input = input;
        self
    }

    /// Lost before its first step began (see [`unbegun`](Self::unbegun)): no step in
    /// progress.
    ///
    /// ```
    /// use task_manager_core::{CancelReason, LostTask, TaskId};
    ///
    /// let lost = LostTask::new(TaskId::new(), "transfer", CancelReason::owner_lost("api-1"))
    ///     .before_first_step()
    ///     .with_state(Some(b"\"report.pdf\"".to_vec()), Some(b"null".to_vec()));
    /// assert!(lost.unbegun && lost.step.is_none());
    /// ```
    pub fn before_first_step(mut self) -> Self {
        self.step = None;
        self.unbegun = true;
        self
    }
}

/// What the claimant of a lost task ran: the interrupted step's cleanup, then the
/// compensations of the completed steps, in the order they ran (reverse step order).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovered {
    /// What became of the interrupted step's cleanup.
    pub cleanup: RecordedCleanup,
    /// The compensations that ran (none if the flow declares none, or no compensated step
    /// had completed).
    pub compensations: Vec<Compensation>,
    /// The flow resumes the task (`#[flow(on_owner_lost = resume)]`, the task lost with
    /// `OwnerLost`, not a cancel that had won): no compensation ran, and the store hands the
    /// task back to the manager ([`CancelDelivery::resume`](crate::CancelDelivery::resume))
    /// once its record says it runs again, instead of recording an ending.
    pub resumes: bool,
}

/// A flow's way to clean up a lost task, registered on a clustered manager by the
/// generated `register_<flow>`.
pub(crate) type Recovery = Arc<dyn Fn(LostTask) -> Option<ClusterFuture<Recovered>> + Send + Sync>;

/// A resumable flow's way to run a lost task again from its interrupted step on this
/// instance, registered by the generated `register_<flow>`: `true` if the task was
/// submitted here (its id held as reserved first).
pub(crate) type Resumption = Arc<dyn Fn(LostTask) -> bool + Send + Sync>;

/// A payload or runtime info type, a compensated step's output, or (with
/// `on_owner_lost = resume`) a step's input, that a flow with `#[flow(on_owner_lost = ..)]`
/// keeps in the cluster's store: every type that implements serde's `Serialize` and
/// `DeserializeOwned`, with the `cluster-state` feature.
#[diagnostic::on_unimplemented(
    message = "a flow with `on_owner_lost` keeps its payload, runtime info, compensated steps' outputs and (with `resume`) steps' inputs and the task's output in the cluster's store: `{Self}` must implement serde's `Serialize` and `Deserialize`",
    label = "`{Self}` cannot be persisted",
    note = "derive `serde::Serialize` and `serde::Deserialize` on `{Self}` (and enable task-manager-core's `cluster-state` feature), or remove `on_owner_lost` from the flow"
)]
pub trait ClusterState: Sized + Send + 'static {
    /// The value as the store keeps it; `None` if it cannot be written.
    fn to_state(&self) -> Option<Vec<u8>>;
    /// The value read back; `None` if the bytes are not one.
    fn from_state(bytes: &[u8]) -> Option<Self>;
}

#[cfg(feature = "cluster-state")]
impl<T> ClusterState for T
where
    T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    fn to_state(&self) -> Option<Vec<u8>> {
        serde_json::to_vec(self).ok()
    }

    fn from_state(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}
