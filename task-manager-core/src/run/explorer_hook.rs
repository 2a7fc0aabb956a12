//! The cancellation explorer's hook into the runner.
//!
//! [`Scope`](crate::run::scope::Scope) reports each await point of its task to a `Probe`: each
//! poll of the wait for admission that returns `Pending` (`admission_pending`: the queue
//! add-on's wait holds a `share` of its task's probe), each poll of a step's wait for its
//! resource that returns `Pending` (`resource_pending`), before each step, each poll of a step
//! that returns `Pending`, the moment before the task claims its own ending, and the
//! cleanup's start and end. With the `testing` feature, the probe of
//! a task that the explorer armed records these and cancels the task at the point it was told
//! to (see `testing/recorder.rs`). Without the feature, `Probe` is the empty struct below: its
//! methods are empty and inlined, so the runner pays nothing for them.

#[cfg(feature = "testing")]
pub(crate) use crate::testing::recorder::Probe;

#[cfg(not(feature = "testing"))]
pub(crate) use off::Probe;

#[cfg(not(feature = "testing"))]
mod off {
    use std::sync::Arc;

    use crate::cleanup::Cleanup;
    use crate::id::TaskId;
    use crate::passport::Passport;
    use crate::shared::TaskShared;

    /// The hook, compiled out.
    pub(crate) struct Probe;

    impl Probe {
        #[inline(always)]
        pub(crate) fn attach<P>(
            _id: TaskId,
            _shared: &Arc<TaskShared>,
            _passport: &mut Passport<P>,
        ) -> Self {
            Probe
        }

        #[inline(always)]
        pub(crate) fn share(&self) -> Self {
            Probe
        }

        #[inline(always)]
        pub(crate) fn admission_pending(&self) {}

        #[inline(always)]
        pub(crate) fn resource_wait_began(&self) {}

        #[inline(always)]
        pub(crate) fn resource_pending(&self, _index: usize) {}

        #[inline(always)]
        pub(crate) fn before_step(&self, _index: usize) {}

        #[inline(always)]
        pub(crate) fn step_began(&self, _index: usize) {}

        #[inline(always)]
        pub(crate) fn step_pending(&self, _index: usize) {}

        #[inline(always)]
        pub(crate) fn backoff_pending(&self, _index: usize) {}

        #[inline(always)]
        pub(crate) fn compensation_pending(&self, _index: usize, _steps_completed: usize) {}

        #[inline(always)]
        pub(crate) fn step_panicked(&self, _index: usize) {}

        #[inline(always)]
        pub(crate) fn before_ending(&self, _steps_completed: usize) {}

        #[inline(always)]
        pub(crate) fn cleanup_began(&self, _step: &'static str) {}

        #[inline(always)]
        pub(crate) fn cleanup_ended(&self, _cleanup: &Cleanup) {}

        #[inline(always)]
        pub(crate) fn task_ended(&self) {}
    }
}
