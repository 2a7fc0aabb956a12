//! What every contender implements: the hand-written baselines and the library alike.
//!
//! Scenarios are generic over these traits (no boxing), so a contender pays only for its own
//! code. Every method that spawns must be called inside a runtime context.

use std::future::Future;
use std::sync::Arc;

use crate::probe::Probe;
use crate::steps::Steps;

/// Runs the benchmark flow: `steps` steps, each yielding once and adding one to its input.
pub trait Contender: Send + Sync + 'static {
    /// Spawns one task now; the returned future resolves to the flow's output when the task
    /// finished. The driver keeps these futures in a window, so they should be small.
    fn spawn(&self, steps: Steps) -> impl Future<Output = u64> + Send + 'static;

    /// Size of the future the task runs (what the runtime stores in the task cell), if known.
    fn task_future_size(&self, steps: Steps) -> Option<usize>;
}

/// Parks tasks in their first step until they are cancelled (or the runtime is dropped).
pub trait Parker: Send + Sync + 'static {
    /// What the canceller needs to name one task.
    type Id: Copy + Send + Sync + 'static;

    /// A contender whose parked tasks report to `probe`.
    fn with_probe(probe: Arc<Probe>) -> Self;

    /// The probe given to `with_probe`.
    #[allow(dead_code)] // used by the `memory` binary, which shares this file
    fn probe(&self) -> &Probe;

    /// Spawns the task for `slot`; it calls `probe.parked()` when it reaches its await point.
    fn spawn_parked(&self, slot: usize) -> Self::Id;
}

/// Parked tasks that can be cancelled by id, from any thread.
pub trait Canceller: Parker {
    /// Requests cancellation; the task's cleanup then stamps the probe.
    fn cancel(&self, id: Self::Id);
}
