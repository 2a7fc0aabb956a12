//! The map from task id to running task, sharded so that submitters on different cores
//! rarely meet on one lock; and, beside it, the manager's queues (queue add-on), so that a
//! task reaches both through the one pointer it already holds; and the alarm clock of the
//! tasks' timed steps and their watch.

use std::collections::hash_map::{Entry, HashMap};
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use crate::alarms::Alarms;
use crate::cluster::{ClusterLink, Deliver, Delivered, Found};
use crate::error::SubmitError;
use crate::flow::FlowInfo;
use crate::id::{IdHasher, TaskId};
use crate::queue::{self, Queues};
use crate::reason::{CancelReason, CancelSource};
use crate::shared::TaskShared;
use crate::watch::Watch;

const SHARDS: usize = 16;

pub(crate) struct Registry {
    shards: [Shard; SHARDS],
    /// Set once by [`TaskManager::shutdown`](crate::TaskManager::shutdown), never cleared.
    /// Read under a shard lock by `insert`; see there why that closes the race with shutdown.
    shutting_down: AtomicBool,
    /// The manager's default cleanup deadline, fixed when the manager is built.
    cleanup_timeout: Option<Duration>,
    /// The lines and resources of the queue add-on; empty without it.
    pub(crate) queues: Queues,
    /// The cluster the manager belongs to, if it was built with one (`cluster/`).
    pub(crate) cluster: Option<ClusterLink>,
    /// The alarm clock of the tasks' timed steps, made by the first one (`alarms.rs`).
    alarms: OnceLock<Arc<Alarms>>,
    /// The step-time watch of the tasks' timed steps, made by the first one (`watch.rs`).
    watch: OnceLock<Watch>,
}

/// Why [`Registry::insert`] refused a task.
pub(crate) enum Refused {
    /// A task with this id is registered.
    Duplicate,
    /// The manager is shutting down.
    ShuttingDown,
}

/// Aligned to a cache line so that two shards' locks never share one.
#[repr(align(64))]
#[derive(Default)]
struct Shard(Mutex<HashMap<TaskId, Arc<TaskShared>, BuildHasherDefault<IdHasher>>>);

impl Refused {
    pub(crate) fn into_submit_error(self, id: TaskId, flow: &FlowInfo) -> SubmitError {
        let flow = flow.name();
        match self {
            Refused::Duplicate => SubmitError::DuplicateId { id, flow },
            Refused::ShuttingDown => SubmitError::ShuttingDown { id, flow },
        }
    }
}

impl Registry {
    pub(crate) fn new() -> Self {
        Self::with_settings(Queues::default(), None, None)
    }

    /// A registry with the queue add-on's lines, the manager's cleanup deadline and its
    /// cluster, all fixed for its whole life (every clone of the manager shares them).
    pub(crate) fn with_settings(
        queues: Queues,
        cleanup_timeout: Option<Duration>,
        cluster: Option<ClusterLink>,
    ) -> Self {
        Registry {
            shards: Default::default(),
            shutting_down: AtomicBool::new(false),
            cleanup_timeout,
            queues,
            cluster,
            alarms: OnceLock::new(),
            watch: OnceLock::new(),
        }
    }

    /// The manager's alarm clock for its tasks' step time limits.
    pub(crate) fn alarms(&self) -> &Arc<Alarms> {
        self.alarms.get_or_init(|| Arc::new(Alarms::new()))
    }

    /// The manager's step-time watch.
    #[inline(always)]
    pub(crate) fn watch(&self) -> &Watch {
        self.watch.get_or_init(Watch::new)
    }

    /// Registers a task, unless the id is taken (the running task keeps it) or the manager
    /// is shutting down.
    ///
    /// The shutdown flag is read under the shard lock. `shutdown` sets the flag and only then
    /// locks each shard to collect the tasks to cancel, so for any shard either this insert
    /// took the lock first (and shutdown's sweep finds the task) or it took it after the
    /// sweep (and the lock hand-over makes it see the flag). No task slips in between.
    pub(crate) fn insert(&self, id: TaskId, task: &Arc<TaskShared>) -> Result<(), Refused> {
        let mut shard = self.shard(id);
        if self.shutting_down.load(Ordering::Acquire) {
            return Err(Refused::ShuttingDown);
        }
        match shard.entry(id) {
            Entry::Occupied(_) => Err(Refused::Duplicate),
            Entry::Vacant(slot) => {
                slot.insert(Arc::clone(task));
                Ok(())
            }
        }
    }

    /// Refuses every later `insert`. Returns `false` if shutdown had already begun.
    pub(crate) fn begin_shutdown(&self) -> bool {
        !self.shutting_down.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// The manager-wide cleanup deadline, for flows that set none of their own.
    pub(crate) fn cleanup_timeout(&self) -> Option<Duration> {
        self.cleanup_timeout
    }

    pub(crate) fn remove(&self, id: TaskId) {
        self.shard(id).remove(&id);
    }

    pub(crate) fn get(&self, id: TaskId) -> Option<Arc<TaskShared>> {
        self.shard(id).get(&id).cloned()
    }

    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|shard| lock(shard).len()).sum()
    }

    /// Calls `visit` for every registered task, one shard locked at a time.
    pub(crate) fn for_each(&self, mut visit: impl FnMut(TaskId, &Arc<TaskShared>)) {
        for shard in &self.shards {
            for (id, task) in lock(shard).iter() {
                visit(*id, task);
            }
        }
    }

    fn shard(
        &self,
        id: TaskId,
    ) -> MutexGuard<'_, HashMap<TaskId, Arc<TaskShared>, BuildHasherDefault<IdHasher>>> {
        let bits = id.as_u128();
        // Generated ids differ in their low (counter) bits: consecutive tasks land on
        // different shards.
        let index = ((bits as u64) ^ ((bits >> 64) as u64)) as usize % SHARDS;
        lock(&self.shards[index])
    }
}

/// A cancel the cluster's store decided for one of this manager's tasks (`cluster/link.rs`):
/// applied to the running task as a local cancel is, or held for a reserved id.
impl Deliver for Registry {
    fn deliver(&self, id: TaskId, reason: CancelReason, source: CancelSource) -> Delivered {
        let Some(link) = self.cluster.as_ref() else {
            return Delivered::Unknown;
        };
        match link.find_or_hold(id, (reason, source), || self.get(id)) {
            Found::Task(task, (reason, source)) => {
                let lines = Some(self.queues.abandonments());
                Delivered::Applied(queue::cancel(&task, reason, source, lines))
            }
            Found::Held => Delivered::Held,
            Found::Unknown => Delivered::Unknown,
        }
    }

    /// Abandons every registered task (`run/abandon.rs`), and holds the same stop for the
    /// reserved ids.
    #[cold]
    fn abandon_all(&self, reason: CancelReason) -> usize {
        if let Some(link) = self.cluster.as_ref() {
            link.hold_for_all(&(reason.clone(), CancelSource::OwnerLost));
        }
        let lines = self.queues.abandonments();
        let mut abandoned = 0;
        self.for_each(|_, task| {
            if let Some(decided) = task.cell().abandon(reason.clone()) {
                abandoned += 1;
                // A task that was waiting in a line has left it, as a cancelled one does.
                if decided && task.is_waiting() {
                    lines.note();
                }
            }
        });
        abandoned
    }

    fn recover(
        &self,
        lost: crate::cluster::LostTask,
    ) -> Option<crate::cluster::ClusterFuture<crate::cluster::Recovered>> {
        self.cluster.as_ref()?.recover(lost)
    }

    fn resume(
        &self,
        lost: crate::cluster::LostTask,
    ) -> Option<crate::cluster::ClusterFuture<bool>> {
        self.cluster.as_ref()?.resume(lost)
    }
}

fn lock(
    shard: &Shard,
) -> MutexGuard<'_, HashMap<TaskId, Arc<TaskShared>, BuildHasherDefault<IdHasher>>> {
    // The map is never left half-updated by a panic (no user code runs under the lock).
    shard.0.lock().unwrap_or_else(PoisonError::into_inner)
}
