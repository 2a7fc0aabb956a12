//! The runner: everything that drives one task from its submission to its outcome. `#[flow]`
//! writes one `async` block per flow that calls into [`Scope`]; the rest of the crate is what
//! the runner uses (the task's cell and shared state, the registry, the queue's waits, the
//! hooks to observers).
//!
//! * `submit`: register the task, take its place in its flow's line, spawn it.
//! * `scope`: the task's runner state ([`Scope`]) and how it ends the task.
//! * `race`: a step's future raced against the cancel and the deadline, and a stopped step's
//!   cleanup: what a step does (race, end, record) lives there.
//! * `attempt`: a step with a policy (`timeout`, `retry`): each attempt raced against its
//!   time limit too, the cleanup of a timed-out attempt that is retried, the wait between
//!   attempts. A step without a policy never comes here.
//! * `compensate`: a flow with `compensate = ..` steps: its ending claimed before the
//!   compensations of its completed steps run, in reverse order, each under the cleanup
//!   deadline.
//! * `resource`: a step that waits for a resource's permit first.
//! * `hooks`: the one hook set every lifecycle point calls; it tells the add-ons, `tracing`
//!   and the explorer's probe.
//! * `abandon`: a clustered task whose instance lost its lease stops with no cleanup and
//!   ends `Abandoned`.
//! * `recover`: a flow with `on_owner_lost`: its state persisted at each step boundary, and
//!   the cleanup of a task claimed from a lost instance.
//! * `explorer_hook`: the explorer's `Probe` (feature `testing`), an empty struct otherwise.

mod abandon;
mod attempt;
mod claim;
mod compensate;
mod explorer_hook;
mod hooks;
mod race;
mod recover;
mod resource;
mod scope;
mod step_limits;
mod step_timer;
mod submit;

pub use attempt::{AttemptRace, AttemptRun, Attempts};
pub use claim::Claim;
pub use compensate::{CompensationResult, Halt};
pub use recover::{
    register_recovery, register_resumption, LostCleanup, LostCompensation, ResumeCheck, ResumeRun,
};
pub use scope::{Scope, StepRun, Stop};
pub use step_limits::StepLimits;
pub use step_timer::StepTimer;
pub use submit::submit;
pub(crate) use submit::{submit_stating, SubmittedState};

#[cfg(test)]
mod tests;
