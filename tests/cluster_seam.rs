//! The cluster seam (`Cluster`), against a store in memory that this file scripts: what a
//! clustered manager tells its store, in which order, and what it does with what the store
//! says (a refused id, a cancel decided elsewhere before or during the task, a cancel that
//! won the store against the task's own ending). The real store is `task-manager-postgres`,
//! whose tests run instances as processes; these pin the core's side of the contract.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use task_manager_core::{
    flow, CancelDelivery, CancelReason, CancelSource, CancelStatus, Cleanup, Cluster,
    ClusterEnding, ClusterError, ClusterErrorKind, ClusterFuture, ClusterSeal, Delivered, EndedAs,
    Ending, HasTaskManager, Passport, RecordedCleanup, SealedAs, SubmitError, Task, TaskId,
    TaskManager,
};
use task_manager_support::{soon, Gate, Journal};

/// The scripted store: it journals every call, refuses the ids it is told to, answers the
/// seal as it is told to, and can hold a reservation at a gate.
#[derive(Clone, Default)]
struct Store {
    calls: Journal,
    delivery: Arc<Mutex<Option<CancelDelivery>>>,
    known: Arc<Mutex<HashSet<TaskId>>>,
    seal: Arc<Mutex<Option<ClusterSeal>>>,
    /// What each `seal_as` said, in order.
    sealed_as: Arc<Mutex<Vec<SealedAs>>>,
    reserving: Option<Gate>,
}

impl Store {
    fn delivery(&self) -> CancelDelivery {
        self.delivery.lock().unwrap().clone().expect("attached")
    }
}

impl Cluster for Store {
    fn attach(&self, delivery: CancelDelivery) -> Result<(), ClusterError> {
        *self.delivery.lock().unwrap() = Some(delivery);
        Ok(())
    }

    fn reserve(&self, id: TaskId) -> ClusterFuture<Result<(), ClusterError>> {
        let (calls, known, gate) = (
            self.calls.clone(),
            Arc::clone(&self.known),
            self.reserving.clone(),
        );
        Box::pin(async move {
            if let Some(gate) = gate {
                gate.pass().await;
            }
            calls.record("reserve");
            if !known.lock().unwrap().insert(id) {
                return Err(ClusterError::new(
                    ClusterErrorKind::Duplicate,
                    Some(id),
                    "reserving",
                    "known",
                ));
            }
            Ok(())
        })
    }

    fn release(&self, _id: TaskId) {
        self.calls.record("release");
    }

    fn submitted(&self, _id: TaskId, flow: &'static str, queued: bool) {
        self.calls
            .record(format!("submitted {flow} queued={queued}"));
    }

    fn step_began(&self, _id: TaskId, index: usize, step: &'static str) {
        self.calls.record(format!("step {index} {step}"));
    }

    fn seal(&self, _id: TaskId) -> ClusterFuture<Result<ClusterSeal, ClusterError>> {
        self.calls.record("seal");
        let answer = self
            .seal
            .lock()
            .unwrap()
            .clone()
            .unwrap_or(ClusterSeal::Sealed);
        Box::pin(async move { Ok(answer) })
    }

    fn seal_as(
        &self,
        id: TaskId,
        sealed: SealedAs,
    ) -> ClusterFuture<Result<ClusterSeal, ClusterError>> {
        self.sealed_as.lock().unwrap().push(sealed);
        self.seal(id)
    }

    fn ended(&self, _id: TaskId, ending: ClusterEnding) {
        let ended = match ending.ended {
            EndedAs::Completed => "completed".to_owned(),
            EndedAs::Cancelled {
                step,
                reason,
                source,
            } => {
                format!("cancelled {step:?} {reason} {}", source.name())
            }
            other => format!("{other:?}"),
        };
        self.calls.record(format!(
            "ended {ended} after {} cleanup {:?}",
            ending.steps_completed, ending.cleanup
        ));
    }

    fn request_cancel(
        &self,
        id: TaskId,
        reason: CancelReason,
        source: CancelSource,
    ) -> ClusterFuture<Result<CancelStatus, ClusterError>> {
        // This store decides by delivering to its one manager at once.
        let delivered = self.delivery().cancel(id, reason, source);
        Box::pin(async move {
            Ok(match delivered {
                Delivered::Applied(status) => status,
                Delivered::Held => CancelStatus::Requested,
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
}

#[derive(HasTaskManager)]
struct Jobs {
    tasks: TaskManager,
    journal: Journal,
    gate: Gate,
}

#[flow(name = job)]
impl Jobs {
    #[step(cancel = undo_first)]
    async fn first(&self, _task: &mut Task<()>) -> Result<(), Infallible> {
        self.journal.record("first began");
        self.gate.pass().await;
        Ok(())
    }

    #[step]
    async fn second(&self, _task: &mut Task<()>) -> Result<u32, Infallible> {
        self.journal.record("second began");
        Ok(2)
    }

    async fn undo_first(&self, _task: &mut Task<()>, reason: CancelReason) {
        self.journal.record(format!("cleanup of first: {reason}"));
    }
}

fn jobs(store: &Store) -> Arc<Jobs> {
    let tasks = TaskManager::builder()
        .cluster(store.clone())
        .build()
        .expect("builds");
    Arc::new(Jobs {
        tasks,
        journal: Journal::new(),
        gate: Gate::new(),
    })
}

#[tokio::test(start_paused = true)]
async fn the_store_hears_the_reservation_each_step_the_seal_and_one_ending() {
    let store = Store::default();
    let jobs = jobs(&store);
    jobs.gate.open();
    let handle = jobs
        .tasks
        .submit_in_cluster(Passport::new(()), |p| jobs.execute_job(p))
        .await
        .expect("submitted");
    assert_eq!(handle.await.into_result().expect("completed"), 2);
    assert_eq!(
        store.calls.entries(),
        [
            "reserve",
            "submitted job queued=false",
            "step 0 first",
            "step 1 second",
            "seal",
            "ended completed after 2 cleanup None",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_clustered_manager_takes_no_task_whose_id_it_did_not_reserve() {
    let store = Store::default();
    let jobs = jobs(&store);
    let passport = Passport::new(());
    let id = passport.id();
    let refused = jobs.execute_job(passport).map(drop).expect_err("refused");
    assert_eq!(refused, SubmitError::NotReserved { id, flow: "job" });
    assert!(jobs.journal.entries().is_empty());
    assert!(store.calls.entries().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_id_the_cluster_knows_is_refused_and_nothing_runs() {
    let store = Store::default();
    let jobs = jobs(&store);
    let id = TaskId::new();
    store.known.lock().unwrap().insert(id);
    let refused = jobs
        .tasks
        .submit_in_cluster(Passport::new(()).with_id(id), |p| jobs.execute_job(p))
        .await
        .map(drop)
        .expect_err("refused");
    assert_eq!(refused, SubmitError::DuplicateInCluster { id });
    assert!(jobs.journal.entries().is_empty());
    // Nothing was written for it: nothing to release.
    assert_eq!(store.calls.entries(), ["reserve"]);
}

#[tokio::test(start_paused = true)]
async fn a_refused_submission_releases_its_reservation() {
    let store = Store::default();
    let jobs = jobs(&store);
    let passport = Passport::new(()).with_timeout(std::time::Duration::ZERO);
    let refused = jobs
        .tasks
        .submit_in_cluster(passport, |p| jobs.execute_job(p))
        .await
        .map(drop)
        .expect_err("refused");
    assert!(matches!(refused, SubmitError::ZeroTimeout { .. }));
    assert_eq!(store.calls.entries(), ["reserve", "release"]);
}

#[tokio::test(start_paused = true)]
async fn a_cancel_decided_while_the_id_is_reserved_stops_the_task_before_its_first_step() {
    let reserving = Gate::new();
    let store = Store {
        reserving: Some(reserving.clone()),
        ..Store::default()
    };
    let jobs = jobs(&store);
    let passport = Passport::new(());
    let id = passport.id();
    let submitting = {
        let jobs = Arc::clone(&jobs);
        tokio::spawn(async move {
            let execute = |p| jobs.execute_job(p);
            let handle = jobs.tasks.submit_in_cluster(passport, execute).await;
            handle.expect("submitted").await
        })
    };
    reserving.arrived().await;
    // Decided elsewhere while the reservation is written: held for the submission.
    let delivered =
        store
            .delivery()
            .cancel(id, CancelReason::from("elsewhere"), CancelSource::Request);
    assert_eq!(delivered, Delivered::Held);
    reserving.open();
    let outcome = soon("the task's end", submitting).await.expect("no panic");
    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::from("elsewhere"),
            step: None,
            steps_completed: 0,
        }
    );
    assert!(jobs.journal.entries().is_empty(), "no step began");
    assert_eq!(
        store.calls.entries().last().map(String::as_str),
        Some("ended cancelled None cancelled: elsewhere request after 0 cleanup Some(NoStepInProgress)")
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancel_delivered_mid_step_stops_it_and_runs_its_cleanup_once() {
    let store = Store::default();
    let jobs = jobs(&store);
    let handle = jobs
        .tasks
        .submit_in_cluster(Passport::new(()), |p| jobs.execute_job(p))
        .await
        .expect("submitted");
    let id = handle.id();
    jobs.gate.arrived().await;
    let cancellation = jobs
        .tasks
        .cancel_in_cluster(id, "from B")
        .await
        .expect("asked");
    assert_eq!(cancellation.status(), CancelStatus::Requested);
    // Delivered twice (at least once is the store's promise): the second finds it applied.
    let again = store
        .delivery()
        .cancel(id, CancelReason::from("from B"), CancelSource::Request);
    assert_eq!(again, Delivered::Applied(CancelStatus::AlreadyRequested));
    let outcome = handle.await;
    assert!(matches!(
        outcome.ending(),
        Ending::Cancelled {
            step: Some("first"),
            ..
        }
    ));
    assert_eq!(
        jobs.journal.entries(),
        ["first began", "cleanup of first: cancelled: from B"]
    );
    let ended = store.calls.with_prefix("ended");
    assert_eq!(ended.len(), 1);
    assert!(
        ended[0].starts_with("ended cancelled Some(\"first\") cancelled: from B request after 0")
    );
    assert!(
        !store.calls.contains("seal"),
        "a task that met a cancel claims nothing"
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancel_that_won_the_store_beats_the_tasks_own_ending() {
    let store = Store::default();
    *store.seal.lock().unwrap() = Some(ClusterSeal::CancelWon {
        reason: CancelReason::from("won first"),
        source: CancelSource::CancelAll,
    });
    let jobs = jobs(&store);
    jobs.gate.open();
    let handle = jobs
        .tasks
        .submit_in_cluster(Passport::new(()), |p| jobs.execute_job(p))
        .await
        .expect("submitted");
    let outcome = handle.await;
    // Every step ran, but the store's cancel won the ending: cancelled, as when a local
    // cancel beats the local seal, with nothing to clean up.
    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::from("won first"),
            step: None,
            steps_completed: 2,
        }
    );
    assert_eq!(outcome.report().cleanup, Some(Cleanup::NoStepInProgress));
    assert_eq!(
        store.calls.entries().last().map(String::as_str),
        Some("ended cancelled None cancelled: won first cancel_all after 2 cleanup Some(NoStepInProgress)")
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_cluster_the_cluster_doors_are_the_local_ones() {
    let jobs = Arc::new(Jobs {
        tasks: TaskManager::new(),
        journal: Journal::new(),
        gate: Gate::new(),
    });
    assert!(!jobs.tasks.is_clustered());
    let handle = jobs
        .tasks
        .submit_in_cluster(Passport::new(()), |p| jobs.execute_job(p))
        .await
        .expect("submitted");
    jobs.gate.arrived().await;
    let cancellation = jobs
        .tasks
        .cancel_in_cluster(handle.id(), "local")
        .await
        .expect("local");
    assert_eq!(cancellation.status(), CancelStatus::Requested);
    assert!(matches!(
        cancellation.await,
        Ok(Some(RecordedCleanup::Completed { .. }))
    ));
    assert!(matches!(handle.await.ending(), Ending::Cancelled { .. }));
}

/// A flow with step policies: the generated code takes other paths (attempts, compensation),
/// and each must tell the store its steps and claim its ending there.
#[derive(HasTaskManager)]
struct Orders {
    tasks: TaskManager,
    journal: Journal,
}

#[flow(name = order)]
impl Orders {
    #[step(compensate = unreserve)]
    async fn reserve(&self, _task: &mut Task<bool>) -> Result<u8, std::io::Error> {
        Ok(1)
    }

    #[step(timeout = "1s")]
    async fn pay(&self, task: &mut Task<bool>, _reserved: u8) -> Result<u8, std::io::Error> {
        if *task.payload() {
            Ok(2)
        } else {
            Err(std::io::Error::other("card declined"))
        }
    }

    async fn unreserve(&self, _task: &mut Task<bool>, reserved: u8) {
        self.journal.record(format!("unreserve {reserved}"));
    }
}

fn orders(store: &Store) -> Arc<Orders> {
    let tasks = TaskManager::builder()
        .cluster(store.clone())
        .build()
        .expect("builds");
    Arc::new(Orders {
        tasks,
        journal: Journal::new(),
    })
}

#[tokio::test(start_paused = true)]
async fn a_compensating_flow_claims_its_failure_and_compensates() {
    let store = Store::default();
    let orders = orders(&store);
    let outcome = orders
        .tasks
        .submit_in_cluster(Passport::new(false), |p| orders.execute_order(p))
        .await
        .expect("submitted")
        .await;
    assert!(matches!(
        outcome.ending(),
        Ending::Failed { step: "pay", .. }
    ));
    assert_eq!(orders.journal.entries(), ["unreserve 1"]);
    assert_eq!(
        store.calls.entries(),
        [
            "reserve",
            "submitted order queued=false",
            "step 0 reserve",
            "step 1 pay",
            "seal",
            "ended Failed { step: \"pay\" } after 1 cleanup None",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_compensating_flow_whose_ending_a_cancel_won_ends_cancelled_and_compensates() {
    let store = Store::default();
    *store.seal.lock().unwrap() = Some(ClusterSeal::CancelWon {
        reason: CancelReason::from("won first"),
        source: CancelSource::Request,
    });
    let orders = orders(&store);
    let outcome = orders
        .tasks
        .submit_in_cluster(Passport::new(true), |p| orders.execute_order(p))
        .await
        .expect("submitted")
        .await;
    assert!(
        matches!(
            outcome.ending(),
            Ending::Cancelled {
                step: None,
                steps_completed: 2,
                ..
            }
        ),
        "{:?}",
        outcome.ending()
    );
    // Not completed: the completed steps are undone, as after any other cancel.
    assert_eq!(orders.journal.entries(), ["unreserve 1"]);
    assert_eq!(store.calls.with_prefix("seal").len(), 1);
}

/// A parent whose one step fans out two children of the same flow.
#[derive(HasTaskManager)]
struct Shards {
    tasks: TaskManager,
    me: std::sync::Weak<Shards>,
}

#[flow(name = shards)]
impl Shards {
    #[step]
    async fn run(&self, task: &mut Task<u32>) -> Result<u32, Infallible> {
        let shard = *task.payload();
        if shard > 0 {
            return Ok(shard); // a child
        }
        let this = self.me.upgrade().expect("alive");
        let children = (1..=2).map(|shard| this.execute_shards(task.child(Passport::new(shard))));
        let outcomes = task
            .fan_out(children)
            .join_all()
            .await
            .expect("every child submitted");
        Ok(outcomes
            .into_iter()
            .map(|outcome| outcome.into_result().expect("completed"))
            .sum())
    }
}

// Sub-flows on a clustered manager: a child runs on its parent's instance without a
// reservation of its own; the store hears of the parent only.
#[tokio::test(start_paused = true)]
async fn a_clustered_tasks_children_run_beside_it_and_only_the_parent_is_recorded() {
    let store = Store::default();
    let shards = Arc::new_cyclic(|me| Shards {
        tasks: TaskManager::builder()
            .cluster(store.clone())
            .build()
            .expect("builds"),
        me: me.clone(),
    });
    let handle = shards
        .tasks
        .submit_in_cluster(Passport::new(0), |p| shards.execute_shards(p))
        .await
        .expect("submitted");
    assert_eq!(handle.await.into_result().expect("completed"), 3);
    assert_eq!(
        store.calls.entries(),
        [
            "reserve",
            "submitted shards queued=false",
            "step 0 run",
            "seal",
            "ended completed after 1 cleanup None",
        ]
    );
    assert!(shards.tasks.is_empty());
}

/// A flow without compensations whose one step fails when its payload says so.
#[derive(HasTaskManager)]
struct Charges {
    tasks: TaskManager,
}

#[flow(name = charge)]
impl Charges {
    #[step]
    async fn charge(&self, task: &mut Task<bool>) -> Result<u8, std::io::Error> {
        if *task.payload() {
            Ok(1)
        } else {
            Err(std::io::Error::other("card declined"))
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_seal_says_how_the_task_is_ending_on_every_path_of_the_generated_code() {
    // Completed, without compensations.
    let store = Store::default();
    let jobs = jobs(&store);
    jobs.gate.open();
    let handle = jobs
        .tasks
        .submit_in_cluster(Passport::new(()), |p| jobs.execute_job(p))
        .await
        .expect("submitted");
    assert_eq!(handle.await.into_result().expect("completed"), 2);
    assert_eq!(
        *store.sealed_as.lock().unwrap(),
        [SealedAs::Completed { steps_completed: 2 }]
    );

    // Completed and failed, with compensations.
    for (pays, sealed) in [
        (true, SealedAs::Completed { steps_completed: 2 }),
        (false, SealedAs::Failed),
    ] {
        let store = Store::default();
        let orders = orders(&store);
        orders
            .tasks
            .submit_in_cluster(Passport::new(pays), |p| orders.execute_order(p))
            .await
            .expect("submitted")
            .await;
        assert_eq!(*store.sealed_as.lock().unwrap(), [sealed], "pays: {pays}");
    }

    // Completed and failed, without compensations.
    for (pays, sealed) in [
        (true, SealedAs::Completed { steps_completed: 1 }),
        (false, SealedAs::Failed),
    ] {
        let store = Store::default();
        let charges = Arc::new(Charges {
            tasks: TaskManager::builder()
                .cluster(store.clone())
                .build()
                .expect("builds"),
        });
        charges
            .tasks
            .submit_in_cluster(Passport::new(pays), |p| charges.execute_charge(p))
            .await
            .expect("submitted")
            .await;
        assert_eq!(*store.sealed_as.lock().unwrap(), [sealed], "pays: {pays}");
    }
}
