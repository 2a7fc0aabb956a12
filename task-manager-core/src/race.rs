//! The future of one step: the step's own future raced against the task's cancel signal.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use tokio::time::{Instant, Sleep};

use crate::scope::{Scope, StepRun};

pin_project! {
    /// The future [`Scope::step`] returns. It holds the step's future inline, once: a plain
    /// `async fn` would keep a second copy of it (its argument and its pinned local), and the
    /// largest step's race is the size of every parked task.
    #[must_use = "futures do nothing unless awaited"]
    pub struct StepRace<'a, F> {
        scope: &'a mut Scope,
        index: usize,
        began: bool,
        #[pin]
        run: F,
    }
}

impl<'a, F> StepRace<'a, F> {
    pub(crate) fn new(scope: &'a mut Scope, index: usize, run: F) -> Self {
        StepRace {
            scope,
            index,
            began: false,
            run,
        }
    }
}

impl<F, T, E> Future for StepRace<'_, F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = StepRun<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<StepRun<T, E>> {
        let this = self.project();
        let raced = std::task::ready!(this.scope.poll_step(*this.index, this.began, this.run, cx));
        Poll::Ready(this.scope.end_step(*this.index, *this.began, raced))
    }
}

/// The future [`Scope::cleanup`] returns: the cleanup's own future (boxed: the cold path)
/// run to its end, or to its deadline.
#[must_use = "futures do nothing unless awaited"]
pub struct CleanupRun<'a> {
    scope: &'a mut Scope,
    step: &'static str,
    started_at: Instant,
    deadline: Option<Pin<Box<Sleep>>>,
    cleanup: Pin<Box<dyn Future<Output = ()> + Send + 'a>>,
}

impl<'a> CleanupRun<'a> {
    pub(crate) fn new(
        scope: &'a mut Scope,
        step: &'static str,
        deadline: Option<Pin<Box<Sleep>>>,
        cleanup: Pin<Box<dyn Future<Output = ()> + Send + 'a>>,
    ) -> Self {
        CleanupRun {
            scope,
            step,
            started_at: Instant::now(),
            deadline,
            cleanup,
        }
    }
}

impl Future for CleanupRun<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let deadline = this.deadline.as_mut().map(Pin::as_mut);
        let ended = std::task::ready!(this.scope.poll_cleanup(this.cleanup.as_mut(), deadline, cx));
        this.scope.end_cleanup(this.step, this.started_at, ended);
        Poll::Ready(())
    }
}
