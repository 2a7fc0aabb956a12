//! Cluster-wide limits, the core's side (`Cluster::shares_limits`, `Cluster::enter_line`),
//! against a store in memory that this file scripts: a clustered manager whose store shares
//! limits asks the store for its flow's and its resources' permits instead of its own lines,
//! waits for the store's grant raced against its cancel and max wait, refuses a submission
//! the store finds the line full for, and gives every permit and place back. The real store
//! is `task-manager-postgres` (`tests/store/limits.rs` runs instances as processes).

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use task_manager_core::{
    flow, CancelDelivery, CancelReason, CancelSource, CancelStatus, Cluster, ClusterEnding,
    ClusterError, ClusterFuture, ClusterPermit, ClusterSeal, Ending, Entered, HasTaskManager,
    Limit, LineEntry, Passport, RecordedCleanup, SubmitError, Task, TaskId, TaskManager,
};
use task_manager_support::{soon, Gate, Journal};
use tokio::sync::oneshot;

/// How the store answers the next entry.
enum Answer {
    Admit,
    Queue,
    Full,
}

/// The scripted store: it journals every entry and every permit or place given back, answers
/// entries as scripted, and grants a queued one when the test says.
#[derive(Clone, Default)]
struct Lines {
    journal: Journal,
    delivery: Arc<Mutex<Option<CancelDelivery>>>,
    answers: Arc<Mutex<VecDeque<Answer>>>,
    queued: Arc<Mutex<HashMap<TaskId, oneshot::Sender<()>>>>,
}

/// Journals `exit LINE` when dropped: a permit or a place given back.
struct Exit(Journal, String);

impl Drop for Exit {
    fn drop(&mut self) {
        self.0.record(format!("exit {}", self.1));
    }
}

impl Lines {
    fn script(&self, answer: Answer) {
        self.answers.lock().unwrap().push_back(answer);
    }

    /// Hands task `id`'s queued entry its permit.
    fn grant(&self, id: TaskId) {
        let granted = self.queued.lock().unwrap().remove(&id);
        granted
            .expect("a queued entry")
            .send(())
            .expect("a waiting task");
    }
}

impl Cluster for Lines {
    fn attach(&self, delivery: CancelDelivery) -> Result<(), ClusterError> {
        *self.delivery.lock().unwrap() = Some(delivery);
        Ok(())
    }

    fn reserve(&self, _id: TaskId) -> ClusterFuture<Result<(), ClusterError>> {
        Box::pin(async { Ok(()) })
    }

    fn release(&self, _id: TaskId) {}

    fn submitted(&self, _id: TaskId, _flow: &'static str, _queued: bool) {}

    fn step_began(&self, _id: TaskId, _index: usize, _step: &'static str) {}

    fn seal(&self, _id: TaskId) -> ClusterFuture<Result<ClusterSeal, ClusterError>> {
        Box::pin(async { Ok(ClusterSeal::Sealed) })
    }

    fn ended(&self, _id: TaskId, _ending: ClusterEnding) {}

    fn request_cancel(
        &self,
        id: TaskId,
        reason: CancelReason,
        source: CancelSource,
    ) -> ClusterFuture<Result<CancelStatus, ClusterError>> {
        let delivery = self.delivery.lock().unwrap().clone().expect("attached");
        let delivered = delivery.cancel(id, reason, source);
        Box::pin(async move {
            Ok(match delivered {
                task_manager_core::Delivered::Applied(status) => status,
                _ => CancelStatus::NotFound,
            })
        })
    }

    fn ended_cleanup(
        &self,
        _id: TaskId,
    ) -> ClusterFuture<Result<Option<RecordedCleanup>, ClusterError>> {
        Box::pin(async { Ok(None) })
    }

    fn shares_limits(&self) -> bool {
        true
    }

    fn enter_line(&self, entry: LineEntry) -> ClusterFuture<Result<Entered, ClusterError>> {
        let capacity = if entry.capacity == usize::MAX {
            "unbounded".to_owned()
        } else {
            entry.capacity.to_string()
        };
        self.journal.record(format!(
            "enter {} priority={} permits={} capacity={capacity}",
            entry.line, entry.priority, entry.permits
        ));
        let answer = self
            .answers
            .lock()
            .unwrap()
            .pop_front()
            .expect("a scripted answer");
        let exit = Exit(self.journal.clone(), entry.line.clone());
        let entered = match answer {
            Answer::Admit => Entered::Admitted(ClusterPermit::new(exit)),
            Answer::Full => {
                std::mem::forget(exit);
                Entered::Full { capacity: 7 }
            }
            Answer::Queue => {
                let (grant, granted) = oneshot::channel();
                self.queued.lock().unwrap().insert(entry.task, grant);
                Entered::Queued(Box::pin(async move {
                    // Dropped before the grant: the place is given back (`exit`'s drop).
                    if granted.await.is_err() {
                        std::future::pending::<()>().await;
                    }
                    ClusterPermit::new(exit)
                }))
            }
        };
        Box::pin(async move { Ok(entered) })
    }
}

#[derive(HasTaskManager)]
struct Jobs {
    tasks: TaskManager,
    journal: Journal,
    gate: Gate,
}

#[flow(name = job)]
impl Jobs {
    #[step]
    async fn work(&self, task: &mut Task<u32>) -> Result<u32, Infallible> {
        self.journal.record("work began");
        self.gate.pass().await;
        self.journal.record("work done");
        Ok(*task.payload())
    }

    #[step(resource = "db")]
    async fn store(&self, _task: &mut Task<u32>, value: u32) -> Result<u32, Infallible> {
        self.journal.record("store ran");
        Ok(value)
    }
}

fn jobs(lines: &Lines, limit: Limit) -> Arc<Jobs> {
    let tasks = TaskManager::builder()
        .cluster(lines.clone())
        .limit_flow("job", limit)
        .resource("db", 3)
        .build()
        .expect("a valid manager");
    Arc::new(Jobs {
        tasks,
        journal: lines.journal.clone(),
        gate: Gate::new(),
    })
}

#[tokio::test]
async fn a_limited_flow_waits_for_the_stores_grant_and_gives_its_permits_back() {
    let lines = Lines::default();
    let jobs = jobs(&lines, Limit::new(2).with_queue_capacity(7));
    lines.script(Answer::Queue);
    lines.script(Answer::Admit);
    let passport = Passport::new(5).with_priority(3);
    let id = passport.id();
    let handle = jobs
        .tasks
        .submit_in_cluster(passport, |p| jobs.execute_job(p))
        .await
        .expect("entered");
    // The entry is made before `submit_in_cluster` returns; the step waits for the grant.
    assert_eq!(
        lines.journal.entries(),
        ["enter flow:job priority=3 permits=2 capacity=7"]
    );
    lines.grant(id);
    jobs.gate.arrived().await;
    jobs.gate.open();
    assert_eq!(
        soon("the task's end", handle).await.into_result().ok(),
        Some(5)
    );
    assert_eq!(
        lines.journal.entries(),
        [
            "enter flow:job priority=3 permits=2 capacity=7",
            "work began",
            "work done",
            // The step's resource, the cluster's: held by the step alone.
            "enter resource:db priority=3 permits=3 capacity=unbounded",
            "store ran",
            "exit resource:db",
            // The flow's permit, held until the task ended.
            "exit flow:job",
        ]
    );
}

#[tokio::test]
async fn a_full_line_refuses_the_submission_and_no_step_runs() {
    let lines = Lines::default();
    let jobs = jobs(&lines, Limit::new(1));
    lines.script(Answer::Full);
    let passport = Passport::new(1);
    let id = passport.id();
    let refused = jobs
        .tasks
        .submit_in_cluster(passport, |p| jobs.execute_job(p))
        .await
        .map(|_| ())
        .unwrap_err();
    match refused {
        SubmitError::QueueFull {
            id: refused_id,
            flow: "job",
            capacity: 7,
        } if refused_id == id => {}
        other => panic!("expected QueueFull for task {id}, got {other:?}"),
    }
    // The refused task ends at once, having run nothing.
    soon("the refused task's end", async {
        while jobs.tasks.status(id).is_some() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(
        lines.journal.entries(),
        ["enter flow:job priority=0 permits=1 capacity=1000"]
    );
}

#[tokio::test]
async fn a_cancel_while_waiting_for_the_store_leaves_its_line_and_runs_nothing() {
    let lines = Lines::default();
    let jobs = jobs(&lines, Limit::new(1));
    lines.script(Answer::Queue);
    let passport = Passport::new(1);
    let id = passport.id();
    let handle = jobs
        .tasks
        .submit_in_cluster(passport, |p| jobs.execute_job(p))
        .await
        .expect("entered");
    let cancellation = jobs
        .tasks
        .cancel_in_cluster(id, "not any more")
        .await
        .expect("asked");
    assert_eq!(cancellation.status(), CancelStatus::Requested);
    let outcome = soon("the task's end", handle).await;
    assert!(
        matches!(
            outcome.ending(),
            Ending::Cancelled {
                step: None,
                steps_completed: 0,
                ..
            }
        ),
        "{:?}",
        outcome.ending()
    );
    assert_eq!(
        lines.journal.entries(),
        [
            "enter flow:job priority=0 permits=1 capacity=1000",
            "exit flow:job"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_max_wait_counts_while_waiting_for_the_store() {
    let lines = Lines::default();
    let jobs = jobs(&lines, Limit::new(1).with_max_wait(Duration::from_secs(5)));
    lines.script(Answer::Queue);
    let handle = jobs
        .tasks
        .submit_in_cluster(Passport::new(1), |p| jobs.execute_job(p))
        .await
        .expect("entered");
    let outcome = soon("the task's end", handle).await;
    match outcome.ending() {
        Ending::Cancelled {
            reason: CancelReason::QueueWaitExceeded { max_wait },
            step: None,
            ..
        } => assert_eq!(*max_wait, Duration::from_secs(5)),
        other => panic!("expected QueueWaitExceeded before any step, got {other:?}"),
    }
    assert_eq!(lines.journal.with_prefix("exit"), ["exit flow:job"]);
    assert!(lines.journal.with_prefix("work").is_empty());
}
