//! The time limits a passport sets for its task's timed steps
//! ([`Passport::with_step_timeout`](crate::Passport::with_step_timeout)), resolved against the
//! flow at submission and kept by the task's step timer.

use std::time::Duration;

use crate::error::SubmitError;
use crate::flow::FlowInfo;
use crate::id::TaskId;
use crate::passport::Passport;

/// One task's per-call step time limits, by step index. Empty (no allocation) unless its
/// passport set some; only a flow with a timed step keeps it (in its [`StepTimer`]), the
/// others drop it at submission.
///
/// [`StepTimer`]: crate::run::StepTimer
#[derive(Debug, Default)]
#[allow(clippy::box_collection)] // eight bytes in every timed task instead of sixteen
pub struct StepLimits(Option<Box<Vec<Option<Duration>>>>);

impl StepLimits {
    /// The passport's per-call step limits, if it set any (most passports set none: one
    /// `None` check, so that submission stays small enough to be inlined as it was).
    #[inline(always)]
    pub(crate) fn of<P>(
        id: TaskId,
        flow: &'static FlowInfo,
        passport: &mut Passport<P>,
    ) -> Result<Self, SubmitError> {
        if passport.has_step_timeouts() {
            Self::resolve(id, flow, passport.take_step_timeouts())
        } else {
            Ok(StepLimits(None))
        }
    }

    /// Checks each `(step, limit)` the passport gave against `flow`: the step must exist and
    /// declare a `timeout`, and the limit must not be zero.
    #[cold]
    #[inline(never)]
    fn resolve(
        id: TaskId,
        flow: &'static FlowInfo,
        asked: Vec<(String, Duration)>,
    ) -> Result<Self, SubmitError> {
        let mut limits = vec![None; flow.steps().len()];
        for (name, limit) in asked {
            let Some(index) = flow.steps().iter().position(|step| step.name() == name) else {
                return Err(SubmitError::UnknownStep {
                    id,
                    flow: flow.name(),
                    step: name,
                });
            };
            let step = flow.step_name(index);
            if flow.step_timeout(index).is_none() {
                return Err(SubmitError::StepWithoutTimeout {
                    id,
                    flow: flow.name(),
                    step,
                });
            }
            if limit.is_zero() {
                return Err(SubmitError::ZeroStepTimeout {
                    id,
                    flow: flow.name(),
                    step,
                });
            }
            limits[index] = Some(limit);
        }
        Ok(StepLimits(Some(Box::new(limits))))
    }

    /// Whether the passport set no per-call limit.
    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Step `index`'s limit for this task: the passport's, else the step's own.
    pub(crate) fn get(&self, flow: &FlowInfo, index: usize) -> Option<Duration> {
        self.0
            .as_ref()
            .and_then(|limits| limits.get(index).copied().flatten())
            .or_else(|| flow.step_timeout(index))
    }
}
