//! The event hub: an [`Addon`] that fans a task's events out to those who subscribed to that
//! task's id.
//!
//! Invariants:
//! - `subscribers` counts the live [`Subscription`]s. It is raised before a subscription's
//!   sender enters `tasks` and lowered after it has left, so when it reads 0 no sender is in
//!   the map and `on_event` returns after that one load: a manager whose events nobody
//!   watches pays one atomic load per event.
//! - `tasks` holds, per task id, the senders of its subscriptions. The hub removes a task's
//!   senders after its `Finished` event (the last one) and a sender whose channel is full (that
//!   subscriber fell behind: its stream ends without `Finished`, and says so).
//! - `watchers` holds the senders of the [`Watch`]es (every task's events); they count in
//!   `subscribers` like the others, and one that falls behind is dropped the same way.
//!   The two locks are never held together.
//! - Core tells `Finished` before the task leaves the registry. A subscription made between
//!   the two misses `Finished`; whoever streams must therefore also notice that the task has
//!   left the registry (the route checks `TaskManager::contains` periodically).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use task_manager_core::{Addon, TaskEvent, TaskId};
use tokio::sync::mpsc;

use crate::json::EventView;

/// How many events a subscriber may have unread before the hub drops it.
pub const DEFAULT_SUBSCRIBER_CAPACITY: usize = 256;

/// An [`Addon`] that delivers each task's events, as [`EventView`]s, to the subscribers of
/// that task; what `GET /{id}/events` streams. Install a clone on the manager's builder and
/// give one to the routes ([`TaskRoutes::events`](crate::TaskRoutes::events)).
///
/// ```
/// use task_manager_axum::{AllowAll, EventHub, TaskRoutes};
/// use task_manager_core::TaskManager;
///
/// let hub = EventHub::new();
/// let manager = TaskManager::builder().addon(hub.clone()).build()?;
/// let routes: axum::Router = TaskRoutes::new(manager, AllowAll).events(hub).into_router();
/// # Ok::<(), task_manager_core::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct EventHub {
    inner: Arc<Hub>,
}

struct Hub {
    subscribers: AtomicUsize,
    next_key: AtomicU64,
    capacity: usize,
    tasks: Mutex<HashMap<TaskId, Vec<Subscriber>>>,
    watchers: Mutex<Vec<Subscriber>>,
}

struct Subscriber {
    key: u64,
    sender: mpsc::Sender<EventView>,
}

impl Hub {
    fn tasks(&self) -> MutexGuard<'_, HashMap<TaskId, Vec<Subscriber>>> {
        // A panic while the lock is held leaves the map consistent (each change is one call).
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn watchers(&self) -> MutexGuard<'_, Vec<Subscriber>> {
        // As above: each change is one call.
        self.watchers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for EventHub {
    fn default() -> Self {
        EventHub::new()
    }
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHub")
            .field("subscribers", &self.subscribers())
            .finish_non_exhaustive()
    }
}

impl EventHub {
    /// A hub whose subscribers may fall [`DEFAULT_SUBSCRIBER_CAPACITY`] events behind.
    pub fn new() -> Self {
        EventHub::with_capacity(DEFAULT_SUBSCRIBER_CAPACITY)
    }

    /// A hub whose subscribers may fall `capacity` events behind (at least 1) before it drops
    /// them.
    pub fn with_capacity(capacity: usize) -> Self {
        EventHub {
            inner: Arc::new(Hub {
                subscribers: AtomicUsize::new(0),
                next_key: AtomicU64::new(0),
                capacity: capacity.max(1),
                tasks: Mutex::new(HashMap::new()),
                watchers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// How many subscriptions are live.
    pub fn subscribers(&self) -> usize {
        self.inner.subscribers.load(Ordering::SeqCst)
    }

    /// Subscribes to the events of task `id` from now on. The subscription ends after the
    /// task's `Finished` event. Subscribing to an id that is not running is allowed (the id
    /// may be about to be used); it receives nothing until such a task has events.
    ///
    /// ```
    /// # use task_manager_axum::EventHub;
    /// # use task_manager_core::TaskId;
    /// let hub = EventHub::new();
    /// let subscription = hub.subscribe(TaskId::new());
    /// assert_eq!(hub.subscribers(), 1);
    /// drop(subscription);
    /// assert_eq!(hub.subscribers(), 0);
    /// ```
    pub fn subscribe(&self, id: TaskId) -> Subscription {
        let (sender, receiver) = mpsc::channel(self.inner.capacity);
        let key = self.inner.next_key.fetch_add(1, Ordering::Relaxed);
        self.inner.subscribers.fetch_add(1, Ordering::SeqCst);
        self.inner
            .tasks()
            .entry(id)
            .or_default()
            .push(Subscriber { key, sender });
        Subscription {
            hub: Arc::clone(&self.inner),
            id,
            key,
            receiver,
        }
    }

    /// Subscribes to the events of every task from now on: what `GET /events` (and the
    /// board) streams. A watch never ends by itself, unless it falls behind by the hub's
    /// capacity (then it is dropped and its [`Watch::next`] answers `None`).
    ///
    /// ```
    /// # use task_manager_axum::EventHub;
    /// let hub = EventHub::new();
    /// let watch = hub.watch();
    /// assert_eq!(hub.subscribers(), 1);
    /// drop(watch);
    /// assert_eq!(hub.subscribers(), 0);
    /// ```
    pub fn watch(&self) -> Watch {
        let (sender, receiver) = mpsc::channel(self.inner.capacity);
        let key = self.inner.next_key.fetch_add(1, Ordering::Relaxed);
        self.inner.subscribers.fetch_add(1, Ordering::SeqCst);
        self.inner.watchers().push(Subscriber { key, sender });
        Watch {
            hub: Arc::clone(&self.inner),
            key,
            receiver,
        }
    }
}

impl Addon for EventHub {
    fn on_event(&self, event: &TaskEvent<'_>) {
        if self.inner.subscribers.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut view = None;
        {
            let mut tasks = self.inner.tasks();
            if let Some(subscribers) = tasks.get_mut(&event.id) {
                let view = view.get_or_insert_with(|| EventView::new(event));
                let last = view.is_finished();
                // A full channel: that subscriber fell behind and is dropped (its stream
                // says so).
                subscribers.retain(|subscriber| subscriber.sender.try_send(view.clone()).is_ok());
                if last || subscribers.is_empty() {
                    tasks.remove(&event.id);
                }
            }
        }
        let mut watchers = self.inner.watchers();
        if !watchers.is_empty() {
            let view = view.get_or_insert_with(|| EventView::new(event));
            watchers.retain(|watcher| watcher.sender.try_send(view.clone()).is_ok());
        }
    }

    fn name(&self) -> &str {
        "task-manager-axum EventHub"
    }
}

/// One subscriber's events of one task, from [`EventHub::subscribe`]. Dropping it
/// unsubscribes.
pub struct Subscription {
    hub: Arc<Hub>,
    id: TaskId,
    key: u64,
    receiver: mpsc::Receiver<EventView>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The next event; `None` once the hub has let this subscription go: after the task's
    /// `Finished` event (which was returned before), or because it fell behind (then the last
    /// event returned was not `Finished`).
    pub async fn next(&mut self) -> Option<EventView> {
        self.receiver.recv().await
    }

    /// The next event if one is waiting.
    pub fn try_next(&mut self) -> Option<EventView> {
        self.receiver.try_recv().ok()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        {
            let mut tasks = self.hub.tasks();
            if let Some(subscribers) = tasks.get_mut(&self.id) {
                subscribers.retain(|subscriber| subscriber.key != self.key);
                if subscribers.is_empty() {
                    tasks.remove(&self.id);
                }
            }
        }
        self.hub.subscribers.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Every task's events, from [`EventHub::watch`]. Dropping it unsubscribes.
pub struct Watch {
    hub: Arc<Hub>,
    key: u64,
    receiver: mpsc::Receiver<EventView>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").finish_non_exhaustive()
    }
}

impl Watch {
    /// The next event of any task; `None` once the hub has let this watch go because it fell
    /// behind.
    pub async fn next(&mut self) -> Option<EventView> {
        self.receiver.recv().await
    }

    /// The next event if one is waiting.
    pub fn try_next(&mut self) -> Option<EventView> {
        self.receiver.try_recv().ok()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.hub
            .watchers()
            .retain(|watcher| watcher.key != self.key);
        self.hub.subscribers.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use task_manager_core::{EventKind, TaskEnd};

    fn event(id: TaskId, kind: EventKind<'static>) -> TaskEvent<'static> {
        TaskEvent {
            id,
            flow: "job",
            parent: None,
            kind,
        }
    }

    fn finished(id: TaskId) -> TaskEvent<'static> {
        event(
            id,
            EventKind::Finished {
                ending: TaskEnd::Completed,
                duration: Duration::from_millis(1),
            },
        )
    }

    #[test]
    fn a_watched_childs_event_names_its_parent_and_a_roots_has_none() {
        let hub = EventHub::new();
        let mut watch = hub.watch();
        let (parent, child) = (TaskId::new(), TaskId::new());
        hub.on_event(&event(parent, EventKind::Started));
        hub.on_event(&TaskEvent {
            parent: Some(parent),
            ..event(child, EventKind::Started)
        });
        let root = serde_json::to_value(watch.try_next().unwrap()).unwrap();
        assert_eq!(root.get("parent"), None);
        let view = serde_json::to_value(watch.try_next().unwrap()).unwrap();
        assert_eq!(view["id"], child.to_string());
        assert_eq!(view["parent"], parent.to_string());
    }

    #[test]
    fn with_no_subscriber_events_touch_nothing() {
        let hub = EventHub::new();
        hub.on_event(&event(TaskId::new(), EventKind::Started));
        assert!(hub.inner.tasks().is_empty());
    }

    #[test]
    fn a_subscriber_gets_its_task_events_only_until_finished() {
        let hub = EventHub::new();
        let (mine, other) = (TaskId::new(), TaskId::new());
        let mut subscription = hub.subscribe(mine);
        hub.on_event(&event(other, EventKind::Started));
        hub.on_event(&event(mine, EventKind::Started));
        hub.on_event(&finished(mine));
        assert_eq!(subscription.try_next().unwrap().kind_name(), "started");
        assert!(subscription.try_next().unwrap().is_finished());
        // The hub let it go after `Finished`: the channel is closed and the entry is gone.
        assert!(subscription.try_next().is_none());
        assert!(hub.inner.tasks().is_empty());
        assert_eq!(hub.subscribers(), 1);
        drop(subscription);
        assert_eq!(hub.subscribers(), 0);
    }

    #[test]
    fn a_watch_gets_every_task_events_and_is_dropped_when_behind() {
        let hub = EventHub::with_capacity(2);
        let (one, two) = (TaskId::new(), TaskId::new());
        let mut watch = hub.watch();
        hub.on_event(&event(one, EventKind::Started));
        hub.on_event(&finished(two));
        assert_eq!(watch.try_next().unwrap().id, one.to_string());
        assert!(watch.try_next().unwrap().is_finished());
        for _ in 0..3 {
            hub.on_event(&event(one, EventKind::Started));
        }
        assert!(watch.try_next().is_some());
        assert!(watch.try_next().is_some());
        assert!(watch.try_next().is_none());
        assert!(hub.inner.watchers().is_empty());
        assert_eq!(hub.subscribers(), 1);
        drop(watch);
        assert_eq!(hub.subscribers(), 0);
    }

    #[test]
    fn a_subscriber_that_falls_behind_is_dropped_and_the_others_are_not() {
        let hub = EventHub::with_capacity(2);
        let id = TaskId::new();
        let mut slow = hub.subscribe(id);
        let mut fast = hub.subscribe(id);
        for _ in 0..2 {
            hub.on_event(&event(id, EventKind::Started));
            fast.try_next().unwrap();
        }
        hub.on_event(&event(id, EventKind::Started));
        assert!(fast.try_next().is_some());
        // `slow` had 2 unread: the third dropped it. Its two events remain, then the end.
        assert!(slow.try_next().is_some());
        assert!(slow.try_next().is_some());
        assert!(slow.try_next().is_none());
        hub.on_event(&finished(id));
        assert!(fast.try_next().unwrap().is_finished());
    }
}
