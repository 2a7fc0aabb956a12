//! The cancellation explorer: run a flow once to learn its await points, then once more per
//! point, cancelling there, and check each time that the task kept the contract.

use std::fmt;

use tokio::runtime::{Handle, RuntimeFlavor};

use crate::cleanup::Cleanup;
use crate::error::SubmitError;
use crate::handle::TaskHandle;
use crate::id::TaskId;
use crate::manager::TaskManager;
use crate::outcome::{Ending, Outcome};
use crate::passport::Passport;
use crate::reason::CancelReason;
use crate::reason::CancelStatus;
use crate::report::StepEnd;

use super::recorder::{ChildRecord, Recorder};

/// A point of a task's run at which a cancel can land, in the order the explorer meets them.
///
/// Between two of these points the task runs without a pause, so a cancel from elsewhere
/// always lands at one of them; cancelling at each one in turn covers every timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AwaitPoint {
    /// The task waited for admission (a concurrency limit) and its `poll`-th wait returned
    /// `Pending`. A cancel here means no step ever begins.
    Admission {
        /// Which poll (1 is the first).
        poll: usize,
    },
    /// The step waited for a permit of the resource it needs (`#[step(resource = "..")]`,
    /// queue add-on) and its `poll`-th wait returned `Pending`. The step has not begun: a
    /// cancel here means it never does, and no cleanup runs.
    ResourcePending {
        /// The step's index in the flow (0-based).
        index: usize,
        /// Its name.
        step: &'static str,
        /// Which poll (1 is the first).
        poll: usize,
    },
    /// Before the step's first poll: before the first step, or between two steps. A cancel
    /// here means the step never begins and no cleanup runs.
    BeforeStep {
        /// The step's index in the flow (0-based).
        index: usize,
        /// Its name.
        step: &'static str,
    },
    /// The step returned `Pending` from its `poll`-th poll (1-based): it is suspended at one
    /// of its own awaits. A cancel here stops it; its cleanup runs.
    StepPending {
        /// The step's index.
        index: usize,
        /// Its name.
        step: &'static str,
        /// Which poll (1 is the first).
        poll: usize,
    },
    /// The wait between two attempts of a retrying step (`#[step(retry = ..)]`) returned
    /// `Pending` from its `poll`-th poll (counted with the step's own polls). No attempt is
    /// in progress: a cancel here ends the task at once, with no step in progress and no
    /// cleanup.
    BetweenAttempts {
        /// The step's index.
        index: usize,
        /// Its name.
        step: &'static str,
        /// Which poll (1 is the first).
        poll: usize,
    },
    /// The compensation of step `index` (`#[step(compensate = ..)]`) returned `Pending` from
    /// a poll (counted with the steps' own polls). The task's ending is already claimed: a
    /// cancel here changes nothing (it finds the task finished, or already being cancelled),
    /// and the compensations all run as they would have.
    Compensating {
        /// The compensated step's index.
        index: usize,
        /// Its name.
        step: &'static str,
        /// Which poll (1 is the first).
        poll: usize,
        /// How many steps had returned `Ok`.
        steps_completed: usize,
    },
    /// The step panicked and the task is about to claim its ending. A cancel here wins the
    /// ending; the step's cleanup still runs, once.
    StepPanicked {
        /// The step's index.
        index: usize,
        /// Its name.
        step: &'static str,
    },
    /// The steps are over (the last returned `Ok`, or one returned `Err`) and the task is
    /// about to claim its ending. A cancel here wins; no step is in progress.
    BeforeEnding {
        /// How many steps had returned `Ok`.
        steps_completed: usize,
    },
    /// A descendant of the task (a child made with [`Task::child`](crate::Task::child), or
    /// one of its own) reached its `poll`-th await point (of any of the kinds above) while
    /// the task was in step `index`. The explorer cancels the task (the root of the tree)
    /// there: the cancel goes down the tree; every descendant ends once, each begun step's
    /// cleanup of the tree runs once, and the children's cleanups end before the task's
    /// cleanup begins.
    InChild {
        /// The task's step (its index) when the child reached the point.
        index: usize,
        /// Its name.
        step: &'static str,
        /// Which descendant (1 is the first submitted).
        child: usize,
        /// The descendant's flow.
        flow: &'static str,
        /// Which of its points (1 is the first).
        poll: usize,
    },
}

impl AwaitPoint {
    /// The step whose cleanup a cancel at this point must run, if one is in progress.
    pub fn step_in_progress(&self) -> Option<&'static str> {
        match *self {
            AwaitPoint::StepPending { step, .. }
            | AwaitPoint::StepPanicked { step, .. }
            | AwaitPoint::InChild { step, .. } => Some(step),
            AwaitPoint::Admission { .. }
            | AwaitPoint::ResourcePending { .. }
            | AwaitPoint::BeforeStep { .. }
            | AwaitPoint::BetweenAttempts { .. }
            | AwaitPoint::Compensating { .. }
            | AwaitPoint::BeforeEnding { .. } => None,
        }
    }

    /// How many steps had returned `Ok` when the task reached this point.
    pub fn steps_completed(&self) -> usize {
        match *self {
            AwaitPoint::Admission { .. } => 0,
            AwaitPoint::ResourcePending { index, .. }
            | AwaitPoint::BeforeStep { index, .. }
            | AwaitPoint::StepPending { index, .. }
            | AwaitPoint::BetweenAttempts { index, .. }
            | AwaitPoint::StepPanicked { index, .. }
            | AwaitPoint::InChild { index, .. } => index,
            AwaitPoint::BeforeEnding { steps_completed }
            | AwaitPoint::Compensating {
                steps_completed, ..
            } => steps_completed,
        }
    }
}

impl fmt::Display for AwaitPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AwaitPoint::Admission { poll } => {
                write!(f, "waiting for admission (poll {poll} returned Pending)")
            }
            AwaitPoint::ResourcePending { step, poll, .. } => write!(
                f,
                "step `{step}` waiting for its resource (poll {poll} returned Pending)"
            ),
            AwaitPoint::BeforeStep { step, .. } => write!(f, "before step `{step}` began"),
            AwaitPoint::InChild {
                step,
                child,
                flow,
                poll,
                ..
            } => write!(
                f,
                "at await point {poll} of descendant {child} (flow `{flow}`), during step `{step}`"
            ),
            AwaitPoint::StepPending { step, poll, .. } => {
                write!(f, "step `{step}` suspended (poll {poll} returned Pending)")
            }
            AwaitPoint::BetweenAttempts { step, poll, .. } => write!(
                f,
                "step `{step}` waiting between two attempts (poll {poll} returned Pending)"
            ),
            AwaitPoint::Compensating { step, poll, .. } => write!(
                f,
                "compensating step `{step}` (poll {poll} returned Pending)"
            ),
            AwaitPoint::StepPanicked { step, .. } => {
                write!(
                    f,
                    "step `{step}` panicked, before the task claimed its ending"
                )
            }
            AwaitPoint::BeforeEnding { steps_completed } => write!(
                f,
                "after the steps ({steps_completed} completed), before the task claimed its ending"
            ),
        }
    }
}

/// One cancelled run, as the explorer hands it to a [`check`](CancelExplorer::check)
/// closure: where the cancel landed and how the task ended.
#[derive(Debug)]
#[non_exhaustive]
pub struct Case<'c, T, E, R> {
    /// Which point (0-based) of how many.
    pub index: usize,
    /// How many points the flow has.
    pub total: usize,
    /// Where the cancel landed.
    pub point: &'c AwaitPoint,
    /// How the task ended. Its report's `info` is the runtime info as the steps and the
    /// cleanup left it.
    pub outcome: &'c Outcome<T, E, R>,
}

/// What the explorer found: every point it cancelled at, and how the task ended there.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ExploreReport {
    /// The flow explored.
    pub flow: &'static str,
    /// How the run without a cancel ended.
    pub uncancelled: String,
    /// One entry per await point, in order.
    pub points: Vec<PointReport>,
}

impl ExploreReport {
    /// How many await points were explored.
    pub fn explored(&self) -> usize {
        self.points.len()
    }
}

impl fmt::Display for ExploreReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "flow `{}`: {} await point(s); uncancelled: {}",
            self.flow,
            self.points.len(),
            self.uncancelled
        )?;
        for (index, point) in self.points.iter().enumerate() {
            writeln!(
                f,
                "  {index:>3}. {} -> {} (cleanup: {:?})",
                point.point, point.ending, point.cleanup
            )?;
        }
        Ok(())
    }
}

/// One explored point: where the cancel landed, how the task ended, what cleanup ran.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PointReport {
    /// Where the cancel landed.
    pub point: AwaitPoint,
    /// How the task ended (the ending's `Display`).
    pub ending: String,
    /// The cleanup, as the report and the canceller saw it.
    pub cleanup: Option<Cleanup>,
}

/// Why an exploration failed. `Contract` is a bug in the runtime or in the flow's
/// generated code; the others are misuses of the explorer.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ExploreError {
    /// The explorer was run outside a current-thread tokio runtime.
    #[error("the cancellation explorer needs a current-thread tokio runtime with a paused clock (`#[tokio::test(start_paused = true)]`), so that every run of the flow takes the same path")]
    NotCurrentThread,
    /// The submit closure refused the task.
    #[error("the submit closure refused the task: {0}")]
    Submit(#[from] SubmitError),
    /// The submit closure submitted another passport than the one it was given.
    #[error("the submit closure returned task {returned} but was given the passport of task {given}: submit exactly the passport the explorer gives (it may add a timeout)")]
    PassportNotUsed {
        /// The id of the passport given.
        given: TaskId,
        /// The id of the task returned.
        returned: TaskId,
    },
    /// The task was not registered in the manager given to the explorer.
    #[error("task {id} is not registered in the manager given to the explorer: give it the manager the flow registers its tasks in")]
    WrongManager {
        /// The task.
        id: TaskId,
    },
    /// A run did not retrace the uncancelled run up to the point where it was to be cancelled.
    #[error("flow `{flow}`: the run to be cancelled at await point {index} of {total} ({expected}) did not retrace the uncancelled run: {found}. The flow must take the same path on every run: run it under a paused clock, without real time, I/O or randomness")]
    NotDeterministic {
        /// The flow.
        flow: &'static str,
        /// The point (0-based).
        index: usize,
        /// How many points the uncancelled run had.
        total: usize,
        /// The point as the uncancelled run met it.
        expected: AwaitPoint,
        /// What the run did instead.
        found: String,
    },
    /// The uncancelled run itself broke the contract.
    #[error("flow `{flow}`, run without a cancel: {problem}")]
    Uncancelled {
        /// The flow.
        flow: &'static str,
        /// What was wrong.
        problem: String,
    },
    /// A cancel at this point broke the contract (or the user's check refused the case).
    #[error("flow `{flow}`, cancelled at await point {index} of {total} ({point}): {problem}")]
    Contract {
        /// The flow.
        flow: &'static str,
        /// The point (0-based).
        index: usize,
        /// How many points the flow has.
        total: usize,
        /// Where the cancel landed.
        point: AwaitPoint,
        /// What was wrong.
        problem: String,
    },
}

type Submit<'a, P, T, E, R> =
    Box<dyn Fn(Passport<P>) -> Result<TaskHandle<T, E, R>, SubmitError> + 'a>;
type Check<'a, T, E, R> = Box<dyn Fn(&Case<'_, T, E, R>) -> Result<(), String> + 'a>;

/// Cancels a flow at each of its await points in turn and checks the contract every time.
///
/// It runs the flow once without a cancel, recording every [`AwaitPoint`]: each wait for
/// admission that returns `Pending`, each wait of a step for its resource that returns
/// `Pending`, before each step, each poll of a step that returns `Pending`, and the moment
/// before the task claims its ending. Then, for each point, it runs the flow again from the same input and cancels
/// it exactly there (from inside the runtime's hook, so the timing is exact), and checks:
/// - the task ended exactly once, cancelled, with the explorer's reason, at the step in
///   progress (or at none), with the right count of completed steps;
/// - the cleanup of the step in progress ran exactly once, and no other cleanup ran (none
///   at all if no step was in progress);
/// - no step began after the cancel;
/// - the canceller's [`Cancellation`](crate::Cancellation) said `Requested`, a second cancel
///   said `AlreadyRequested`, and awaiting the first gave the cleanup the report has;
/// - the task left the registry, and the manager is empty;
/// - your own [`check`](Self::check), typically that the runtime info the cleanup saw is what
///   the steps wrote.
///
/// Run it on a current-thread runtime with a paused clock (`#[tokio::test(start_paused =
/// true)]`), on a manager that runs nothing else meanwhile; the flow must take the same path
/// each time it runs with the same input.
///
/// A task of a limited flow (or a step with a resource) only waits if someone is ahead of it.
/// To explore those waits, let the submit closure first submit (and detach) a task that holds
/// the permit for one turn of the runtime, so that it has ended before the explored task
/// ends wherever it is cancelled; the repository's `tests/queue_explore.rs` does so.
///
/// ```
/// use std::convert::Infallible;
/// use std::sync::Arc;
/// use std::time::Duration;
/// use task_manager_core::testing::CancelExplorer;
/// use task_manager_core::{flow, CancelReason, HasTaskManager, Passport, Task, TaskManager};
///
/// #[derive(Default)]
/// struct Info { request: Option<u32>, cleanup_saw: Option<u32> }
///
/// #[derive(HasTaskManager)]
/// struct Queries { tasks: TaskManager }
///
/// #[flow(name = query)]
/// impl Queries {
///     #[step]
///     async fn prepare(&self, task: &mut Task<u32, Info>) -> Result<u32, Infallible> {
///         tokio::time::sleep(Duration::from_millis(5)).await;
///         Ok(*task.payload())
///     }
///
///     #[step(cancel = abort_send)]
///     async fn send(&self, task: &mut Task<u32, Info>, request: u32) -> Result<u32, Infallible> {
///         task.info_mut().request = Some(request);
///         tokio::time::sleep(Duration::from_millis(5)).await;
///         Ok(request * 2)
///     }
///
///     async fn abort_send(&self, task: &mut Task<u32, Info>, _reason: CancelReason) {
///         task.info_mut().cleanup_saw = task.info().request;
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let queries = Arc::new(Queries { tasks: TaskManager::new() });
/// let report = CancelExplorer::new(&queries.tasks, || 21, |passport| queries.execute_query(passport))
///     .check(|case| {
///         let info = &case.outcome.report().info;
///         match case.point.step_in_progress() {
///             Some("send") if info.cleanup_saw != info.request => Err("the cleanup missed the request id".into()),
///             _ => Ok(()),
///         }
///     })
///     .run()
///     .await?;
/// // before prepare, prepare pending, before send, send pending, before the ending
/// assert_eq!(report.explored(), 5);
/// # Ok(()) }
/// ```
#[must_use = "the explorer does nothing until `run` is awaited"]
pub struct CancelExplorer<'a, P, T, E, R> {
    manager: &'a TaskManager,
    input: Box<dyn Fn() -> P + 'a>,
    submit: Submit<'a, P, T, E, R>,
    check: Option<Check<'a, T, E, R>>,
    reason: CancelReason,
}

/// One run of the flow, as the recorder saw it.
struct Run<T, E, R> {
    id: TaskId,
    outcome: Outcome<T, E, R>,
    points: Vec<AwaitPoint>,
    begun: Vec<&'static str>,
    cleanups: Vec<(&'static str, Option<Cleanup>)>,
    ends: usize,
    cancel_status: Option<CancelStatus>,
    second_cancel: Option<CancelStatus>,
    /// What awaiting the explorer's cancellation gave.
    cancel_answer: Option<Option<Cleanup>>,
    still_registered: bool,
    registry_len: usize,
    /// What the task's descendants did.
    children: Vec<ChildRecord>,
    /// When the task's own cleanup began (the record's clock).
    cleanup_began_at: Option<usize>,
}

impl<'a, P, T, E, R> CancelExplorer<'a, P, T, E, R> {
    /// An explorer of the flow that `submit` starts (typically `|passport|
    /// manager.execute_<flow>(passport)`), each run with a fresh passport carrying a payload
    /// made by `input`.
    pub fn new(
        manager: &'a TaskManager,
        input: impl Fn() -> P + 'a,
        submit: impl Fn(Passport<P>) -> Result<TaskHandle<T, E, R>, SubmitError> + 'a,
    ) -> Self {
        CancelExplorer {
            manager,
            input: Box::new(input),
            submit: Box::new(submit),
            check: None,
            reason: CancelReason::from("cancelled by the explorer"),
        }
    }

    /// Adds a check of each cancelled run, on top of the contract: return `Err(why)` to fail
    /// the exploration at that point. Typically: the runtime info the cleanup saw (which the
    /// cleanup copies into the info) is what the steps wrote.
    pub fn check(mut self, check: impl Fn(&Case<'_, T, E, R>) -> Result<(), String> + 'a) -> Self {
        self.check = Some(Box::new(check));
        self
    }

    /// The reason the explorer cancels with (default: `Requested("cancelled by the explorer")`).
    pub fn reason(mut self, reason: impl Into<CancelReason>) -> Self {
        self.reason = reason.into();
        self
    }

    /// Explores every await point; see the type's documentation.
    ///
    /// # Errors
    /// [`ExploreError::Contract`] names the first point where the contract broke and how.
    pub async fn run(self) -> Result<ExploreReport, ExploreError> {
        let flavor = Handle::try_current().map(|handle| handle.runtime_flavor());
        if !matches!(flavor, Ok(RuntimeFlavor::CurrentThread)) {
            return Err(ExploreError::NotCurrentThread);
        }
        let uncancelled = self.run_once(None).await?;
        let flow = uncancelled.outcome.flow();
        self.check_uncancelled(&uncancelled)
            .map_err(|problem| ExploreError::Uncancelled { flow, problem })?;
        let total = uncancelled.points.len();
        let mut report = ExploreReport {
            flow,
            uncancelled: uncancelled.outcome.ending().to_string(),
            points: Vec::with_capacity(total),
        };
        for (index, point) in uncancelled.points.iter().enumerate() {
            let run = self.run_once(Some(index)).await?;
            retraced(&uncancelled.points, &run, index).map_err(|found| {
                ExploreError::NotDeterministic {
                    flow,
                    index,
                    total,
                    expected: *point,
                    found,
                }
            })?;
            let case = Case {
                index,
                total,
                point,
                outcome: &run.outcome,
            };
            self.check_cancelled(point, &uncancelled, &run)
                .and_then(|()| self.check.as_ref().map_or(Ok(()), |check| check(&case)))
                .map_err(|problem| ExploreError::Contract {
                    flow,
                    index,
                    total,
                    point: *point,
                    problem,
                })?;
            report.points.push(PointReport {
                point: *point,
                ending: run.outcome.ending().to_string(),
                cleanup: run.outcome.report().cleanup.clone(),
            });
        }
        Ok(report)
    }

    async fn run_once(&self, cancel_at: Option<usize>) -> Result<Run<T, E, R>, ExploreError> {
        let recorder = Recorder::new(cancel_at, self.reason.clone());
        let passport = recorder.arm(Passport::new((self.input)()));
        let id = passport.id();
        let submitted = (self.submit)(passport);
        let never_attached = !recorder.attached();
        let handle = submitted?;
        if never_attached || handle.id() != id {
            return Err(ExploreError::PassportNotUsed {
                given: id,
                returned: handle.id(),
            });
        }
        if !self.manager.contains(id) {
            // Checked before the task can end: a registered task stays so until its end.
            return Err(ExploreError::WrongManager { id });
        }
        let outcome = handle.await;
        let (cancellation, mut run) = {
            let mut record = recorder.lock();
            let cancellation = record.cancellation.take();
            let names = record
                .shared
                .as_ref()
                .map(|shared| shared.flow().steps())
                .unwrap_or_default();
            let run = Run {
                id,
                points: std::mem::take(&mut record.points),
                begun: record
                    .begun
                    .iter()
                    .map(|&index| {
                        names
                            .get(index)
                            .map_or("<unknown step>", |step| step.name())
                    })
                    .collect(),
                cleanups: std::mem::take(&mut record.cleanups),
                children: std::mem::take(&mut record.children),
                cleanup_began_at: record.cleanup_began_at,
                ends: record.ends,
                cancel_status: cancellation.as_ref().map(|c| c.status()),
                second_cancel: record.second_cancel,
                cancel_answer: None,
                still_registered: self.manager.contains(id),
                registry_len: self.manager.len(),
                outcome,
            };
            (cancellation, run)
        };
        if let Some(cancellation) = cancellation {
            run.cancel_answer = Some(cancellation.await);
        }
        Ok(run)
    }

    /// The run without a cancel: one ending, an empty registry, and a cleanup only where one
    /// was due (a step panicked, or the flow's own deadline stopped one), matching the report.
    fn check_uncancelled(&self, run: &Run<T, E, R>) -> Result<(), String> {
        check_left(run)?;
        let ending = run.outcome.ending();
        let due = match ending {
            Ending::Panicked { step, .. } | Ending::TimedOut { step, .. } => Some(*step),
            Ending::Cancelled { step, .. } => *step,
            // The explorer's manager has no cluster: nothing abandons its tasks.
            Ending::Completed(_) | Ending::Failed { .. } | Ending::Abandoned { .. } => None,
        };
        let cleanup = &run.outcome.report().cleanup;
        match (due, run.cleanups.as_slice()) {
            (_, []) => Ok(()),
            (Some(step), [(cleaned, ended)]) if *cleaned == step && ended == cleanup => Ok(()),
            (_, cleanups) => Err(format!(
                "the task ended `{ending}`, yet the cleanups that ran were {cleanups:?} (the report says {cleanup:?})"
            )),
        }
    }

    fn check_cancelled(
        &self,
        point: &AwaitPoint,
        uncancelled: &Run<T, E, R>,
        run: &Run<T, E, R>,
    ) -> Result<(), String> {
        check_left(run)?;
        if let AwaitPoint::Compensating { .. } = point {
            return check_compensating(uncancelled, run);
        }
        if let AwaitPoint::InChild { .. } = point {
            return self.check_tree(run);
        }
        if run.cancel_status != Some(CancelStatus::Requested) {
            return Err(format!(
                "the cancel found the task {:?}, expected it running (Requested)",
                run.cancel_status
            ));
        }
        if run.second_cancel != Some(CancelStatus::AlreadyRequested) {
            return Err(format!(
                "a second cancel right after the first found {:?}, expected AlreadyRequested",
                run.second_cancel
            ));
        }
        let in_progress = point.step_in_progress();
        match run.outcome.ending() {
            Ending::Cancelled {
                reason,
                step,
                steps_completed,
            } if *reason == self.reason
                && *step == in_progress
                && *steps_completed == point.steps_completed() => {}
            ending => {
                let expected = match in_progress {
                    Some(step) => format!("cancelled at step `{step}`"),
                    None => "cancelled with no step in progress".to_string(),
                };
                return Err(format!(
                    "the task ended `{ending}`, expected {expected} with reason `{}` after {} completed step(s)",
                    self.reason,
                    point.steps_completed()
                ));
            }
        }
        let expected_begun: &[&'static str] = match point {
            AwaitPoint::Admission { .. } => &[],
            AwaitPoint::ResourcePending { index, .. } | AwaitPoint::BeforeStep { index, .. } => {
                &uncancelled.begun[..(*index).min(uncancelled.begun.len())]
            }
            AwaitPoint::StepPending { index, .. }
            | AwaitPoint::BetweenAttempts { index, .. }
            | AwaitPoint::StepPanicked { index, .. }
            | AwaitPoint::InChild { index, .. } => {
                &uncancelled.begun[..(*index + 1).min(uncancelled.begun.len())]
            }
            AwaitPoint::BeforeEnding { .. } | AwaitPoint::Compensating { .. } => &uncancelled.begun,
        };
        if run.begun != expected_begun {
            return Err(format!(
                "the steps that began were {:?}, expected {:?}: no step may begin after a cancel",
                run.begun, expected_begun
            ));
        }
        let report = run.outcome.report();
        let recorded: Vec<&str> = report.steps().map(|record| record.name).collect();
        if recorded != run.begun {
            return Err(format!(
                "the report lists the steps {recorded:?}, but the steps that began were {:?}",
                run.begun
            ));
        }
        if let (AwaitPoint::StepPending { step, .. }, Some(last)) = (point, report.steps().last()) {
            if last.end != StepEnd::Cancelled {
                return Err(format!(
                    "the report says step `{step}` ended {:?}, expected Cancelled",
                    last.end
                ));
            }
        }
        let cleanup = report.cleanup.clone();
        let steps_cleaned: Vec<&str> = run.cleanups.iter().map(|(step, _)| *step).collect();
        match (in_progress, run.cleanups.as_slice()) {
            (None, []) => {
                if cleanup != Some(Cleanup::NoStepInProgress) {
                    return Err(format!("no step was in progress, yet the report's cleanup is {cleanup:?}, expected NoStepInProgress"));
                }
            }
            (None, _) => {
                return Err(format!(
                    "no step was in progress, yet cleanups ran for {steps_cleaned:?}"
                ))
            }
            (Some(step), []) => {
                if cleanup != Some(Cleanup::NotDeclared { step }) {
                    return Err(format!(
                        "the cleanup of step `{step}` did not run, yet the report's cleanup is {cleanup:?}"
                    ));
                }
            }
            (Some(step), [(cleaned, ended)]) if *cleaned == step => {
                if ended.is_none() || *ended != cleanup {
                    return Err(format!(
                        "the cleanup of step `{step}` ended {ended:?}, but the report says {cleanup:?}"
                    ));
                }
            }
            (Some(step), _) => {
                return Err(format!(
                    "cleanups ran for {steps_cleaned:?}; expected exactly one, of step `{step}`"
                ))
            }
        }
        if run.cancel_answer != Some(cleanup.clone()) {
            return Err(format!(
                "awaiting the cancellation gave {:?}, but the report's cleanup is {cleanup:?}",
                run.cancel_answer
            ));
        }
        Ok(())
    }
}

impl<P, T, E, R> CancelExplorer<'_, P, T, E, R> {
    /// A cancel of the task while a descendant was at one of its await points: the task
    /// ends cancelled with the explorer's reason (at the step it was in, or, if that step
    /// had returned and was waiting for children it left running, at the next), its own
    /// cleanup ran at most once and the canceller was told what the report says. That every
    /// descendant ended once, each begun cleanup of the tree once, before the task's own, is
    /// checked for every run (`check_left`).
    fn check_tree(&self, run: &Run<T, E, R>) -> Result<(), String> {
        if run.cancel_status != Some(CancelStatus::Requested)
            || run.second_cancel != Some(CancelStatus::AlreadyRequested)
        {
            return Err(format!(
                "the cancels found the task {:?} then {:?}, expected Requested then AlreadyRequested",
                run.cancel_status, run.second_cancel
            ));
        }
        match run.outcome.ending() {
            Ending::Cancelled { reason, .. } if *reason == self.reason => {}
            ending => {
                return Err(format!(
                    "the task ended `{ending}`, expected cancelled with reason `{}`",
                    self.reason
                ))
            }
        }
        let cleanup = run.outcome.report().cleanup.clone();
        if run.cleanups.len() > 1 || run.cancel_answer != Some(cleanup.clone()) {
            return Err(format!(
                "the task's cleanups were {:?}, the cancellation answered {:?} and the report says {cleanup:?}",
                run.cleanups, run.cancel_answer
            ));
        }
        Ok(())
    }
}

/// What every run must leave: one ending, an empty registry.
/// A cancel during a compensation: the task's ending was claimed before, so the cancel
/// found it finished (or already being cancelled), and the run ended as the uncancelled one
/// did, with the same cleanups and compensations.
fn check_compensating<T, E, R>(
    uncancelled: &Run<T, E, R>,
    run: &Run<T, E, R>,
) -> Result<(), String> {
    if !matches!(
        run.cancel_status,
        Some(CancelStatus::AlreadyFinished | CancelStatus::AlreadyRequested)
    ) {
        return Err(format!(
            "a cancel during a compensation found the task {:?}, expected it finished (its ending was claimed)",
            run.cancel_status
        ));
    }
    let (ending, expected) = (
        run.outcome.ending().to_string(),
        uncancelled.outcome.ending().to_string(),
    );
    if ending != expected {
        return Err(format!(
            "the task ended `{ending}`, but without the cancel it ends `{expected}`"
        ));
    }
    let compensations = run.outcome.report().compensations();
    let expected = uncancelled.outcome.report().compensations();
    if compensations != expected {
        return Err(format!(
            "the compensations were {compensations:?}, but without the cancel they are {expected:?}"
        ));
    }
    if run.cleanups != uncancelled.cleanups {
        return Err(format!(
            "the cleanups were {:?}, but without the cancel they are {:?}",
            run.cleanups, uncancelled.cleanups
        ));
    }
    Ok(())
}

fn check_left<T, E, R>(run: &Run<T, E, R>) -> Result<(), String> {
    if run.ends != 1 {
        return Err(format!("the task ended {} times, expected once", run.ends));
    }
    for (at, child) in run.children.iter().enumerate() {
        let child_number = at + 1;
        if child.ends != 1 {
            return Err(format!(
                "descendant {child_number} (flow `{}`) ended {} times, expected once",
                child.flow, child.ends
            ));
        }
        match child.cleanups.as_slice() {
            [] => {}
            [(step, Some(_), ended_at)] => {
                if run.cleanup_began_at.is_some_and(|began| *ended_at > began) {
                    return Err(format!(
                        "the cleanup of step `{step}` of descendant {child_number} (flow `{}`) ended after the task's own cleanup began",
                        child.flow
                    ));
                }
            }
            cleanups => {
                return Err(format!(
                    "descendant {child_number} (flow `{}`) ran the cleanups {:?}, expected at most one, ended",
                    child.flow,
                    cleanups.iter().map(|(step, ended, _)| (step, ended)).collect::<Vec<_>>()
                ))
            }
        }
    }
    if run.still_registered {
        return Err(format!(
            "task {} is still registered after its outcome was delivered",
            run.id
        ));
    }
    if run.registry_len != 0 {
        return Err(format!(
            "{} task(s) are still registered after the outcome was delivered (is the manager running other tasks?)",
            run.registry_len
        ));
    }
    Ok(())
}

/// Whether `run` met the same points as the uncancelled run up to `index`, where it was
/// cancelled; `Err` says what it did instead.
fn retraced<T, E, R>(
    expected: &[AwaitPoint],
    run: &Run<T, E, R>,
    index: usize,
) -> Result<(), String> {
    for (at, point) in expected.iter().enumerate().take(index + 1) {
        match run.points.get(at) {
            Some(found) if found == point => {}
            Some(found) => {
                return Err(format!(
                    "at point {at} it was {found}, where the uncancelled run was {point}"
                ))
            }
            None => return Err(format!("it ended after {} point(s)", run.points.len())),
        }
    }
    if run.cancel_status.is_none() {
        return Err("the cancel was never made".to_string());
    }
    Ok(())
}
