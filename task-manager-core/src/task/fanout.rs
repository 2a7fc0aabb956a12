//! Fan-out and fan-in from inside a step: start children (lazily, at most `limit` at once)
//! and wait for all of them, for all of them to complete (the first that does not cancels
//! the rest), for the first to end, or for the first to complete (the others cancelled).
//!
//! A fan-out always waits for every child it started before it answers: a cancelled child
//! has finished its cleanup by then.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::error::SubmitError;
use crate::handle::TaskHandle;
use crate::id::TaskId;
use crate::outcome::{Ending, Outcome};
use crate::reason::CancelReason;

use super::Task;

/// Children to wait for, made by [`Task::fan_out`]: choose how with [`join_all`](Self::join_all),
/// [`try_join`](Self::try_join), [`race`](Self::race) or [`join_any`](Self::join_any), and
/// optionally [`limit`](Self::limit) how many run at once.
///
/// The children are an iterator of what `execute_<flow>` returns, pulled lazily: with a
/// limit, a child is submitted only when a place is free, so a child that waits for its turn
/// costs nothing until then. Dropping the fan-out (say, the step is cancelled) drops the
/// children's handles, which cancels them; children of the step (made with
/// [`Task::child`]) are cancelled with the parent's reason first, and the runner waits for
/// them before the step's cleanup starts.
#[must_use = "a fan-out does nothing until one of its waits is awaited"]
pub struct FanOut<I> {
    parent: TaskId,
    step: Option<&'static str>,
    children: I,
    limit: usize,
}

impl<P, R> Task<P, R> {
    /// Fans out over `children` (handles of tasks just submitted, usually children made
    /// with [`child`](Self::child)); see [`FanOut`].
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// # use task_manager_core::*;
    /// # #[derive(HasTaskManager)] struct Warehouses { tasks: TaskManager }
    /// # #[flow(name = ship)] impl Warehouses {
    /// #     #[step] async fn send(&self, _t: &mut Task<String>) -> Result<u32, String> { Ok(1) }
    /// # }
    /// # #[derive(HasTaskManager)] struct Shop { tasks: TaskManager, warehouses: Arc<Warehouses> }
    /// # #[flow(name = order)] impl Shop {
    /// #[step]
    /// async fn ship_all(&self, task: &mut Task<Vec<String>>) -> Result<Vec<u32>, String> {
    ///     let names = task.payload().clone();
    ///     let children = names
    ///         .into_iter()
    ///         .map(|w| self.warehouses.execute_ship(task.child(Passport::new(w))));
    ///     // results in order; the first child that does not complete cancels the others
    ///     task.fan_out(children).limit(4).try_join().await.map_err(|e| e.to_string())
    /// }
    /// # }
    /// ```
    pub fn fan_out<I, T, E, CR>(&self, children: I) -> FanOut<I::IntoIter>
    where
        I: IntoIterator<Item = Result<TaskHandle<T, E, CR>, SubmitError>>,
    {
        let flow = self.shared.flow();
        FanOut {
            parent: self.id(),
            step: self.shared.step().map(|index| flow.step_name(index)),
            children: children.into_iter(),
            limit: usize::MAX,
        }
    }
}

/// Why a fan-out did not give what was asked; every variant names the parent task and its
/// step. The children it started have all ended when it is returned.
#[non_exhaustive]
pub enum FanOutError<T, E, R> {
    /// A child could not be submitted; the children already started were cancelled
    /// ([`CancelReason::SiblingFailed`]) and have ended.
    Submit {
        /// The parent task.
        parent: TaskId,
        /// The parent's step that fanned out.
        step: Option<&'static str>,
        /// The child's position in the fan-out.
        index: usize,
        /// Why it was refused (it names the child).
        error: SubmitError,
    },
    /// ([`try_join`](FanOut::try_join)) A child ended other than completed; the others were
    /// cancelled ([`CancelReason::SiblingFailed`]) and have ended.
    Child {
        /// The parent task.
        parent: TaskId,
        /// The parent's step that fanned out.
        step: Option<&'static str>,
        /// The child's position in the fan-out.
        index: usize,
        /// Its outcome (its id, flow, ending and report).
        outcome: Box<Outcome<T, E, R>>,
    },
    /// ([`join_any`](FanOut::join_any)) No child completed: their outcomes, in order.
    NoneCompleted {
        /// The parent task.
        parent: TaskId,
        /// The parent's step that fanned out.
        step: Option<&'static str>,
        /// Every child's outcome, in order.
        outcomes: Vec<Outcome<T, E, R>>,
    },
    /// ([`race`](FanOut::race), [`join_any`](FanOut::join_any)) There were no children.
    Empty {
        /// The parent task.
        parent: TaskId,
        /// The parent's step that fanned out.
        step: Option<&'static str>,
    },
    /// [`limit`](FanOut::limit) was 0: no child could ever run. Nothing was submitted.
    ZeroLimit {
        /// The parent task.
        parent: TaskId,
        /// The parent's step that fanned out.
        step: Option<&'static str>,
    },
}

fn at(step: Option<&'static str>) -> String {
    step.map_or_else(String::new, |step| format!(" at step `{step}`"))
}

impl<T, E, R> fmt::Display for FanOutError<T, E, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FanOutError::Submit {
                parent,
                step,
                index,
                error,
            } => write!(
                f,
                "task {parent}{}: child {index} of its fan-out was refused: {error}",
                at(*step)
            ),
            FanOutError::Child {
                parent,
                step,
                index,
                outcome,
            } => write!(
                f,
                "task {parent}{}: child {index} of its fan-out (task {} of flow `{}`) {}",
                at(*step),
                outcome.id(),
                outcome.flow(),
                outcome.ending()
            ),
            FanOutError::NoneCompleted {
                parent,
                step,
                outcomes,
            } => write!(
                f,
                "task {parent}{}: none of the {} children of its fan-out completed",
                at(*step),
                outcomes.len()
            ),
            FanOutError::Empty { parent, step } => {
                write!(f, "task {parent}{}: its fan-out has no children", at(*step))
            }
            FanOutError::ZeroLimit { parent, step } => write!(
                f,
                "task {parent}{}: its fan-out's limit is 0, so no child could run",
                at(*step)
            ),
        }
    }
}

impl<T: fmt::Debug, E: fmt::Debug, R: fmt::Debug> fmt::Debug for FanOutError<T, E, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FanOutError::Submit {
                parent,
                step,
                index,
                error,
            } => f
                .debug_struct("Submit")
                .field("parent", parent)
                .field("step", step)
                .field("index", index)
                .field("error", error)
                .finish(),
            FanOutError::Child {
                parent,
                step,
                index,
                outcome,
            } => f
                .debug_struct("Child")
                .field("parent", parent)
                .field("step", step)
                .field("index", index)
                .field("outcome", outcome)
                .finish(),
            FanOutError::NoneCompleted {
                parent,
                step,
                outcomes,
            } => f
                .debug_struct("NoneCompleted")
                .field("parent", parent)
                .field("step", step)
                .field("outcomes", outcomes)
                .finish(),
            FanOutError::Empty { parent, step } => f
                .debug_struct("Empty")
                .field("parent", parent)
                .field("step", step)
                .finish(),
            FanOutError::ZeroLimit { parent, step } => f
                .debug_struct("ZeroLimit")
                .field("parent", parent)
                .field("step", step)
                .finish(),
        }
    }
}

impl<T: fmt::Debug, E: fmt::Debug, R: fmt::Debug> std::error::Error for FanOutError<T, E, R> {}

/// One child's handle with its position.
struct Indexed<T, E, R> {
    index: usize,
    handle: TaskHandle<T, E, R>,
}

impl<T, E, R> Future for Indexed<T, E, R> {
    type Output = (usize, Outcome<T, E, R>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let index = self.index;
        Pin::new(&mut self.handle)
            .poll(cx)
            .map(|outcome| (index, outcome))
    }
}

/// What [`FanOut::drive`] saw.
struct Driven<T, E, R> {
    /// Every started child's outcome, by position.
    outcomes: Vec<Option<Outcome<T, E, R>>>,
    /// The child whose ending stopped the fan-out (by `stop`), if one did.
    stopped_by: Option<usize>,
    /// The child that could not be submitted, if one could not.
    refused: Option<(usize, SubmitError)>,
}

impl<I, T, E, R> FanOut<I>
where
    I: Iterator<Item = Result<TaskHandle<T, E, R>, SubmitError>>,
{
    /// At most `limit` children run at once: the next is submitted (pulled from the iterator)
    /// when one ends. A limit of 0 is refused ([`FanOutError::ZeroLimit`]) when awaited.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Waits for every child to end; their outcomes, in the children's order, whatever each
    /// ending. Errs only if a child could not be submitted (the others are then cancelled).
    ///
    /// # Errors
    /// [`FanOutError::Submit`], [`FanOutError::ZeroLimit`].
    pub async fn join_all(self) -> Result<Vec<Outcome<T, E, R>>, FanOutError<T, E, R>> {
        let (parent, step) = (self.parent, self.step);
        let driven = self.drive(|_, _| None).await?;
        refused(parent, step, driven.refused)?;
        Ok(driven.outcomes.into_iter().flatten().collect())
    }

    /// Waits for every child to complete; their results, in order. The first child that
    /// ends otherwise (fails, is cancelled, panics, times out) stops the fan-out: the
    /// others are cancelled with [`CancelReason::SiblingFailed`], no later one is submitted,
    /// and, once they have all ended, that child's outcome is the error.
    ///
    /// # Errors
    /// [`FanOutError::Child`], [`FanOutError::Submit`], [`FanOutError::ZeroLimit`].
    pub async fn try_join(self) -> Result<Vec<T>, FanOutError<T, E, R>> {
        let (parent, step) = (self.parent, self.step);
        let mut driven = self
            .drive(|_, outcome| {
                (!outcome.is_completed()).then(|| CancelReason::SiblingFailed {
                    sibling: outcome.id(),
                })
            })
            .await?;
        if let Some(index) = driven.stopped_by {
            if let Some(outcome) = driven.outcomes.get_mut(index).and_then(Option::take) {
                return Err(FanOutError::Child {
                    parent,
                    step,
                    index,
                    outcome: Box::new(outcome),
                });
            }
        }
        refused(parent, step, driven.refused)?;
        Ok(driven
            .outcomes
            .into_iter()
            .flatten()
            .filter_map(|outcome| match outcome.into_parts().0 {
                Ending::Completed(value) => Some(value),
                _ => None,
            })
            .collect())
    }

    /// Waits for the first child to end, however it ends: its position and outcome. The
    /// others are cancelled with [`CancelReason::RaceLost`] and have ended (cleanups done)
    /// when this returns.
    ///
    /// # Errors
    /// [`FanOutError::Empty`], [`FanOutError::Submit`], [`FanOutError::ZeroLimit`].
    pub async fn race(self) -> Result<(usize, Outcome<T, E, R>), FanOutError<T, E, R>> {
        let (parent, step) = (self.parent, self.step);
        let mut driven = self
            .drive(|_, outcome| {
                Some(CancelReason::RaceLost {
                    winner: outcome.id(),
                })
            })
            .await?;
        if let Some(index) = driven.stopped_by {
            if let Some(outcome) = driven.outcomes.get_mut(index).and_then(Option::take) {
                return Ok((index, outcome));
            }
        }
        refused(parent, step, driven.refused)?;
        Err(FanOutError::Empty { parent, step })
    }

    /// Waits for the first child to complete: its position and result. The others are then
    /// cancelled with [`CancelReason::RaceLost`] and have ended when this returns. A child
    /// that ends otherwise does not stop the others.
    ///
    /// # Errors
    /// [`FanOutError::NoneCompleted`] (with every outcome), [`FanOutError::Empty`],
    /// [`FanOutError::Submit`], [`FanOutError::ZeroLimit`].
    pub async fn join_any(self) -> Result<(usize, T), FanOutError<T, E, R>> {
        let (parent, step) = (self.parent, self.step);
        let mut driven = self
            .drive(|_, outcome| {
                outcome.is_completed().then(|| CancelReason::RaceLost {
                    winner: outcome.id(),
                })
            })
            .await?;
        if let Some(index) = driven.stopped_by {
            if let Some(outcome) = driven.outcomes.get_mut(index).and_then(Option::take) {
                if let Ending::Completed(value) = outcome.into_parts().0 {
                    return Ok((index, value));
                }
            }
        }
        refused(parent, step, driven.refused)?;
        let outcomes: Vec<_> = driven.outcomes.into_iter().flatten().collect();
        if outcomes.is_empty() {
            return Err(FanOutError::Empty { parent, step });
        }
        Err(FanOutError::NoneCompleted {
            parent,
            step,
            outcomes,
        })
    }

    /// Runs the fan-out: submits children up to the limit, collects each outcome, and when
    /// `stop` gives a reason for one (or a child is refused), cancels the running ones with
    /// it, submits no more, and waits for those running to end.
    async fn drive(
        mut self,
        mut stop: impl FnMut(usize, &Outcome<T, E, R>) -> Option<CancelReason>,
    ) -> Result<Driven<T, E, R>, FanOutError<T, E, R>> {
        if self.limit == 0 {
            return Err(FanOutError::ZeroLimit {
                parent: self.parent,
                step: self.step,
            });
        }
        let mut running = FuturesUnordered::new();
        let mut driven = Driven {
            outcomes: Vec::with_capacity(self.children.size_hint().0),
            stopped_by: None,
            refused: None,
        };
        let mut stopped = false;
        let mut exhausted = false;
        loop {
            while !stopped && !exhausted && running.len() < self.limit {
                match self.children.next() {
                    None => exhausted = true,
                    Some(Ok(handle)) => {
                        let index = driven.outcomes.len();
                        driven.outcomes.push(None);
                        running.push(Indexed { index, handle });
                    }
                    Some(Err(error)) => {
                        let reason = CancelReason::SiblingFailed {
                            sibling: error.id(),
                        };
                        for child in running.iter() {
                            let child: &Indexed<T, E, R> = child;
                            child.handle.cancel(reason.clone());
                        }
                        driven.refused = Some((driven.outcomes.len(), error));
                        stopped = true;
                    }
                }
            }
            let Some((index, outcome)) = running.next().await else {
                break;
            };
            if !stopped {
                if let Some(reason) = stop(index, &outcome) {
                    for child in running.iter() {
                        let child: &Indexed<T, E, R> = child;
                        child.handle.cancel(reason.clone());
                    }
                    driven.stopped_by = Some(index);
                    stopped = true;
                }
            }
            driven.outcomes[index] = Some(outcome);
        }
        Ok(driven)
    }
}

fn refused<T, E, R>(
    parent: TaskId,
    step: Option<&'static str>,
    refused: Option<(usize, SubmitError)>,
) -> Result<(), FanOutError<T, E, R>> {
    match refused {
        None => Ok(()),
        Some((index, error)) => Err(FanOutError::Submit {
            parent,
            step,
            index,
            error,
        }),
    }
}

impl<I> fmt::Debug for FanOut<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanOut")
            .field("parent", &self.parent)
            .field("step", &self.step)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}
