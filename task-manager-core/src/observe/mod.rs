//! Observability: add-ons that hear every task's lifecycle, a step's own typed events and
//! progress, `tracing` spans, the generated step enums, and the live status of all tasks.
//!
//! # How the pieces fit
//! - `live.rs`: the per-task state observers read (age, the manager's add-ons), held
//!   inside the task's shared state; the progress sits in that state's slot (`shared.rs`).
//! - `emit.rs`: the runner's side. `scope.rs` calls one method per point of the task's life
//!   (`self.events.step_starting(..)`), which tells the add-ons and `tracing`.
//! - `addon.rs`, `event.rs`: the [`Addon`] trait and the [`TaskEvent`]s it hears.
//! - `trace.rs`: the spans (feature `tracing`).
//! - `steps.rs`: the [`FlowStep`] trait (the generated step enums).
//!
//! # What it costs when nobody listens
//! A manager without add-ons holds `None`; each event point checks it and builds no event.
//! A task whose span no subscriber wanted holds `None` for its spans, and each span point
//! checks that. Per step, with no add-on and no subscriber: two such checks when it begins,
//! one per poll (entering the step's span), two when it ends. No allocation, no atomic
//! operation, no formatting.
//!
//! In memory, a task carries 24 bytes for observation in its shared state: its submission
//! time (the runner reads it back for the report) and the add-ons' pointer; its last
//! progress sits in the cell's cold slot (boxed on the first report) and the cancel's source
//! in the phase byte (`cell/`). In its future, 16 bytes: the spans' pointer and a few flags.
//! See the test `observation_costs_each_task_a_few_words` (`run/tests.rs`).

mod addon;
mod event;
mod live;
mod steps;
pub(crate) mod trace;

pub use addon::Addon;
pub use event::{EventKind, Progress, TaskEvent};
pub use steps::FlowStep;

pub(crate) use addon::AddonSet;
pub(crate) use live::{step_ref, TaskLive};
pub(crate) use trace::TaskSpans;
