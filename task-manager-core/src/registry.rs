//! The map from task id to running task, sharded so that submitters on different cores
//! rarely meet on one lock; and, beside it, the manager's queues (queue add-on), so that a
//! task reaches both through the one pointer it already holds.

use std::collections::hash_map::{Entry, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::id::TaskId;
use crate::queue::Queues;
use crate::shared::TaskShared;

const SHARDS: usize = 16;

pub(crate) struct Registry {
    shards: [Shard; SHARDS],
    /// The lines and resources of the queue add-on; empty without it.
    pub(crate) queues: Queues,
}

/// Aligned to a cache line so that two shards' locks never share one.
#[repr(align(64))]
#[derive(Default)]
struct Shard(Mutex<HashMap<TaskId, Arc<TaskShared>, BuildHasherDefault<IdHasher>>>);

impl Registry {
    pub(crate) fn new() -> Self {
        Self::with_queues(Queues::default())
    }

    pub(crate) fn with_queues(queues: Queues) -> Self {
        Registry {
            shards: Default::default(),
            queues,
        }
    }

    /// Registers a task; `false` if the id is taken (the running task keeps it).
    pub(crate) fn insert(&self, id: TaskId, task: &Arc<TaskShared>) -> bool {
        match self.shard(id).entry(id) {
            Entry::Occupied(_) => false,
            Entry::Vacant(slot) => {
                slot.insert(Arc::clone(task));
                true
            }
        }
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

fn lock(
    shard: &Shard,
) -> MutexGuard<'_, HashMap<TaskId, Arc<TaskShared>, BuildHasherDefault<IdHasher>>> {
    // The map is never left half-updated by a panic (no user code runs under the lock).
    shard.0.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Ids are already unique 128-bit values: folding and one multiply is all the hashing they
/// need (SipHash would cost more than the rest of a registry insert).
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn write_u128(&mut self, value: u128) {
        let folded = (value as u64) ^ ((value >> 64) as u64);
        self.0 = folded.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        // Hashbrown takes the bucket from the low bits and a tag from the top seven.
        self.0 ^ (self.0 >> 32)
    }
}
