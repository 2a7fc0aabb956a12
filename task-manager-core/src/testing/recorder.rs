//! The recording side of the runner's hook (see `crate::probe`): what one armed task did,
//! point by point, and the cancel the explorer told it to take at one of those points.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::cancel::Cancellation;
use crate::cleanup::Cleanup;
use crate::id::TaskId;
use crate::passport::{Armed, Passport};
use crate::reason::CancelReason;
use crate::reason::CancelStatus;
use crate::shared::TaskShared;

use super::explorer::AwaitPoint;

/// The hook a [`Scope`](crate::run::scope::Scope) holds: no recorder for every task the
/// explorer did not arm, so that other tasks (and other tests) run as they would without the
/// feature. A descendant of the armed task (its passport made by `Task::child`, which passes
/// the arming on) reports to the same recorder, as child number `child` (1-based, in the
/// order the children were submitted). One pointer in the scope: a task's future that is
/// a few bytes larger under this feature would take a larger tokio cell than without it
/// (`tests/parked_task_size.rs` pins that size with the feature on or off).
pub(crate) struct Probe(Option<Box<Attached>>);

/// The recorder of an armed task, or of one of its descendants (child number `child`).
struct Attached {
    recorder: Arc<Recorder>,
    child: usize,
}

/// What one armed task did, and what it was told to do.
pub(crate) struct Recorder {
    record: Mutex<Record>,
}

/// What one descendant of the armed task did.
#[derive(Debug, Clone)]
pub(crate) struct ChildRecord {
    pub(crate) flow: &'static str,
    /// Its points reached so far.
    points: usize,
    /// Each cleanup that began: its step, how it ended, and when (on the record's clock).
    pub(crate) cleanups: Vec<(&'static str, Option<Cleanup>, usize)>,
    /// How many times its scope ended.
    pub(crate) ends: usize,
}

/// See [`Recorder`].
pub(crate) struct Record {
    /// Cancel when reaching the point with this index (0-based), if any.
    pub(crate) cancel_at: Option<usize>,
    pub(crate) reason: CancelReason,
    pub(crate) shared: Option<Arc<TaskShared>>,
    pub(crate) id: Option<TaskId>,
    /// Every point reached, in order.
    pub(crate) points: Vec<AwaitPoint>,
    /// Pending polls of the wait or the step in progress so far.
    polls: usize,
    /// The indexes of the steps that began, in order.
    pub(crate) begun: Vec<usize>,
    /// The step of each cleanup that began, with how it ended (`None`: it never did).
    pub(crate) cleanups: Vec<(&'static str, Option<Cleanup>)>,
    /// When the armed task's cleanup began, on the record's clock (`tick`).
    pub(crate) cleanup_began_at: Option<usize>,
    /// The armed task's descendants, in the order they were submitted.
    pub(crate) children: Vec<ChildRecord>,
    /// The armed task's step in progress (its index and name), for the points of children.
    step: Option<(usize, &'static str)>,
    /// Counts what the record is told, to order the cleanups of the tree.
    tick: usize,
    /// How many times the task's scope ended.
    pub(crate) ends: usize,
    /// The cancel made at `cancel_at`, to await.
    pub(crate) cancellation: Option<Cancellation>,
    /// What a second cancel, made right after it, found.
    pub(crate) second_cancel: Option<CancelStatus>,
}

impl Recorder {
    /// Arms `passport`: the task it starts will report to this recorder.
    pub(crate) fn arm<P>(self: &Arc<Self>, mut passport: Passport<P>) -> Passport<P> {
        passport.set_armed(Armed(
            Arc::clone(self) as Arc<dyn std::any::Any + Send + Sync>
        ));
        passport
    }

    /// Whether a submitted task took this recorder (its passport was the armed one).
    pub(crate) fn attached(&self) -> bool {
        self.lock().id.is_some()
    }

    pub(crate) fn new(cancel_at: Option<usize>, reason: CancelReason) -> Arc<Self> {
        Arc::new(Recorder {
            record: Mutex::new(Record {
                cancel_at,
                reason,
                shared: None,
                id: None,
                points: Vec::new(),
                polls: 0,
                begun: Vec::new(),
                cleanups: Vec::new(),
                cleanup_began_at: None,
                children: Vec::new(),
                step: None,
                tick: 0,
                ends: 0,
                cancellation: None,
                second_cancel: None,
            }),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Record> {
        lock(&self.record)
    }
}

impl Record {
    fn step_name(&self, index: usize) -> &'static str {
        self.shared
            .as_ref()
            .map_or("<unknown step>", |shared| shared.flow().step_name(index))
    }

    fn next_tick(&mut self) -> usize {
        self.tick += 1;
        self.tick
    }

    /// Records a point of child number `child`: the armed task is cancelled there (the
    /// whole tree is at that point).
    fn reach_in_child(&mut self, child: usize) {
        let Some(record) = self.children.get_mut(child - 1) else {
            return;
        };
        record.points += 1;
        let (flow, poll) = (record.flow, record.points);
        let (index, step) = self.step.unwrap_or((0, "<no step>"));
        self.reach(AwaitPoint::InChild {
            index,
            step,
            child,
            flow,
            poll,
        });
    }

    /// Records `point`; if it is the one to cancel at, cancels the task now, as
    /// `TaskManager::cancel` would, and a second time to check that the second is ignored.
    fn reach(&mut self, point: AwaitPoint) {
        self.points.push(point);
        if self.cancel_at != Some(self.points.len() - 1) {
            return;
        }
        let (Some(shared), Some(id)) = (self.shared.clone(), self.id) else {
            return;
        };
        let status = shared.request_cancel(self.reason.clone());
        self.second_cancel =
            Some(shared.request_cancel(CancelReason::from("a second cancel, to be ignored")));
        self.cancellation = Some(Cancellation::new(id, status, Some(shared)));
    }
}

impl Probe {
    /// The hook of the task `passport` starts: its recorder if the explorer armed it
    /// (see [`Recorder::arm`]), none otherwise.
    pub(crate) fn attach<P>(
        id: TaskId,
        shared: &Arc<TaskShared>,
        passport: &mut Passport<P>,
    ) -> Self {
        // Left in the passport: the task's `Task::child` passes it on to its children.
        let Some(recorder) = passport
            .armed()
            .cloned()
            .and_then(|armed| armed.0.downcast::<Recorder>().ok())
        else {
            return Probe(None);
        };
        let child = {
            let mut record = recorder.lock();
            if record.id.is_none() {
                record.shared = Some(Arc::clone(shared));
                record.id = Some(id);
                0
            } else {
                record.children.push(ChildRecord {
                    flow: shared.flow().name(),
                    points: 0,
                    cleanups: Vec::new(),
                    ends: 0,
                });
                record.children.len()
            }
        };
        Probe(Some(Box::new(Attached { recorder, child })))
    }

    /// The same hook, for the wait for admission (queue add-on), which runs before the task's
    /// scope is first polled and reports to the same record.
    pub(crate) fn share(&self) -> Self {
        Probe(self.0.as_ref().map(|attached| {
            Box::new(Attached {
                recorder: Arc::clone(&attached.recorder),
                child: attached.child,
            })
        }))
    }

    /// Tells the record something the armed task did; a child's await point is recorded as
    /// one of the tree's, and the rest of what a child does is not the armed task's.
    fn with(&self, act: impl FnOnce(&mut Record)) {
        if let Some(attached) = &self.0 {
            if attached.child == 0 {
                act(&mut attached.recorder.lock());
            }
        }
    }

    /// A point of a child: recorded as one of the tree's.
    fn in_child(&self) -> bool {
        match &self.0 {
            Some(attached) if attached.child > 0 => {
                attached.recorder.lock().reach_in_child(attached.child);
                true
            }
            _ => false,
        }
    }

    /// Tells the record something child `child` did.
    fn with_child(&self, act: impl FnOnce(usize, &mut ChildRecord)) {
        if let Some(attached) = &self.0 {
            if attached.child > 0 {
                let mut record = attached.recorder.lock();
                let tick = record.next_tick();
                if let Some(child) = record.children.get_mut(attached.child - 1) {
                    act(tick, child);
                }
            }
        }
    }

    /// For the wait for admission (the queue add-on): each of its polls that returns `Pending`.
    pub(crate) fn admission_pending(&self) {
        if self.in_child() {
            return;
        }
        self.with(|record| {
            record.polls += 1;
            let poll = record.polls;
            record.reach(AwaitPoint::Admission { poll });
        });
    }

    /// A step begins to wait for a permit of its resource (the queue add-on).
    pub(crate) fn resource_wait_began(&self) {
        self.with(|record| record.polls = 0);
    }

    /// For that wait: each of its polls that returns `Pending`.
    pub(crate) fn resource_pending(&self, index: usize) {
        if self.in_child() {
            return;
        }
        self.with(|record| {
            record.polls += 1;
            let (step, poll) = (record.step_name(index), record.polls);
            record.reach(AwaitPoint::ResourcePending { index, step, poll });
        });
    }

    pub(crate) fn before_step(&self, index: usize) {
        if self.in_child() {
            return;
        }
        self.with(|record| {
            record.polls = 0;
            let step = record.step_name(index);
            record.step = Some((index, step));
            record.reach(AwaitPoint::BeforeStep { index, step });
        });
    }

    pub(crate) fn step_began(&self, index: usize) {
        self.with(|record| record.begun.push(index));
    }

    pub(crate) fn step_pending(&self, index: usize) {
        if self.in_child() {
            return;
        }
        self.with(|record| {
            record.polls += 1;
            let (step, poll) = (record.step_name(index), record.polls);
            record.reach(AwaitPoint::StepPending { index, step, poll });
        });
    }

    /// The wait between two attempts of a retrying step: each of its polls that returns
    /// `Pending` (no attempt is in progress).
    pub(crate) fn backoff_pending(&self, index: usize) {
        if self.in_child() {
            return;
        }
        self.with(|record| {
            record.polls += 1;
            let (step, poll) = (record.step_name(index), record.polls);
            record.reach(AwaitPoint::BetweenAttempts { index, step, poll });
        });
    }

    /// A compensation (of step `index`) returned `Pending`: the task's ending is claimed.
    pub(crate) fn compensation_pending(&self, index: usize, steps_completed: usize) {
        if self.in_child() {
            return;
        }
        self.with(|record| {
            record.polls += 1;
            let (step, poll) = (record.step_name(index), record.polls);
            record.reach(AwaitPoint::Compensating {
                index,
                step,
                poll,
                steps_completed,
            });
        });
    }

    pub(crate) fn step_panicked(&self, index: usize) {
        if self.in_child() {
            return;
        }
        self.with(|record| {
            let step = record.step_name(index);
            record.reach(AwaitPoint::StepPanicked { index, step });
        });
    }

    pub(crate) fn before_ending(&self, steps_completed: usize) {
        if self.in_child() {
            return;
        }
        self.with(|record| record.reach(AwaitPoint::BeforeEnding { steps_completed }));
    }

    pub(crate) fn cleanup_began(&self, step: &'static str) {
        self.with(|record| {
            record.cleanups.push((step, None));
            let tick = record.next_tick();
            record.cleanup_began_at.get_or_insert(tick);
        });
        self.with_child(|_, child| child.cleanups.push((step, None, 0)));
    }

    pub(crate) fn cleanup_ended(&self, cleanup: &Cleanup) {
        self.with(|record| {
            if let Some((_, ended)) = record.cleanups.last_mut() {
                *ended = Some(cleanup.clone());
            }
        });
        self.with_child(|tick, child| {
            if let Some((_, ended, at)) = child.cleanups.last_mut() {
                *ended = Some(cleanup.clone());
                *at = tick;
            }
        });
    }

    pub(crate) fn task_ended(&self) {
        self.with(|record| record.ends += 1);
        self.with_child(|_, child| child.ends += 1);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A failed explorer check panics in the test, never while holding these locks.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
