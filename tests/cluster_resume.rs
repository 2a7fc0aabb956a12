//! A flow with `#[flow(on_owner_lost = resume)]` (`run/recover.rs`), against a store in
//! memory: each boundary hands the store the input of the step that begins; the claimant of
//! a task lost with `OwnerLost` runs the interrupted step's cleanup, no compensation, and,
//! handed the task back (`CancelDelivery::resume`), runs that step again from its persisted
//! input and goes on, the completed steps never run again. A resumed task is cancelled and
//! fails as any task of the instance does (the compensations of the steps completed before
//! the loss and after it, in reverse order), and is lost and resumed again. A task lost
//! before its first step (its submission recorded its payload and info) is resumed from its
//! first step, with no cleanup. The real store
//! is `task-manager-postgres` (`tests/store/resume.rs`).

use std::sync::{Arc, Mutex};

use task_manager_core::{
    flow, CancelDelivery, CancelReason, CancelSource, Cluster, ClusterEnding, ClusterError,
    ClusterFuture, Compensation, EndedAs, HasTaskManager, LostTask, Passport, RecordedCleanup,
    Recovered, Task, TaskId, TaskManager,
};
use task_manager_support::{Gate, Journal};

/// What the store heard, per instance: each boundary with its input and kept outputs, and
/// each ending. The last boundary of each task is kept, as a store's record keeps it, for
/// the next claim.
#[derive(Clone, Default)]
struct Store {
    calls: Journal,
    delivery: Arc<Mutex<Option<CancelDelivery>>>,
    last_boundary: Arc<Mutex<Option<Boundary>>>,
    /// The payload and info the last submission recorded.
    submission: Arc<Mutex<Option<State>>>,
}

/// A payload and runtime info, as a store keeps them.
type State = (Option<Vec<u8>>, Option<Vec<u8>>);

#[derive(Clone)]
struct Boundary {
    index: usize,
    payload: Option<Vec<u8>>,
    info: Option<Vec<u8>>,
    input: Option<Vec<u8>>,
    outputs: Vec<(usize, Vec<u8>)>,
}

fn text(bytes: &Option<Vec<u8>>) -> String {
    bytes
        .as_ref()
        .map_or_else(|| "-".to_owned(), |b| String::from_utf8(b.clone()).unwrap())
}

impl Cluster for Store {
    fn attach(&self, delivery: CancelDelivery) -> Result<(), ClusterError> {
        *self.delivery.lock().unwrap() = Some(delivery);
        Ok(())
    }
    task_manager_support::quiet_cluster_methods!(
        reserve,
        release,
        submitted,
        step_began,
        seal,
        request_cancel,
        ended_cleanup
    );
    fn ended(&self, _id: TaskId, ending: ClusterEnding) {
        let how = match &ending.ended {
            EndedAs::Completed => "completed".to_owned(),
            EndedAs::Failed { step } => format!("failed at {step}"),
            EndedAs::Cancelled { step, reason, .. } => {
                format!("cancelled at {} ({reason})", step.unwrap_or("-"))
            }
            other => format!("{other:?}"),
        };
        self.calls
            .record(format!("ended {how}, {} steps", ending.steps_completed));
    }
    fn submitted_resumable(
        &self,
        _id: TaskId,
        flow: &'static str,
        _queued: bool,
        payload: Option<Vec<u8>>,
        info: Option<Vec<u8>>,
    ) -> ClusterFuture<Result<(), ClusterError>> {
        self.calls.record(format!(
            "submitted {flow} payload={} info={}",
            text(&payload),
            text(&info)
        ));
        *self.submission.lock().unwrap() = Some((payload, info));
        Box::pin(async { Ok(()) })
    }
    fn persist_step(
        &self,
        _id: TaskId,
        _index: usize,
        _step: &'static str,
        _payload: Option<Vec<u8>>,
        _info: Option<Vec<u8>>,
        _outputs: Vec<(usize, Vec<u8>)>,
    ) -> ClusterFuture<Result<(), ClusterError>> {
        panic!("a resumable flow persists with its input");
    }
    fn persist_resumable_step(
        &self,
        _id: TaskId,
        index: usize,
        _step: &'static str,
        payload: Option<Vec<u8>>,
        info: Option<Vec<u8>>,
        input: Option<Vec<u8>>,
        outputs: Vec<(usize, Vec<u8>)>,
    ) -> ClusterFuture<Result<(), ClusterError>> {
        let kept: Vec<String> = outputs
            .iter()
            .map(|(index, bytes)| format!(" {index}={}", String::from_utf8_lossy(bytes)))
            .collect();
        self.calls.record(format!(
            "persist {index} in={} info={}{}",
            text(&input),
            text(&info),
            kept.concat()
        ));
        *self.last_boundary.lock().unwrap() = Some(Boundary {
            index,
            payload,
            info,
            input,
            outputs,
        });
        Box::pin(async { Ok(()) })
    }
}

#[derive(HasTaskManager)]
struct Trips {
    tasks: TaskManager,
    journal: Journal,
    /// `ship` passes it when the payload says `wait`.
    gate: Gate,
    /// `unship` (the cleanup) passes it when the payload says `hold`.
    cleanup_gate: Gate,
}

#[flow(name = trip, on_owner_lost = resume)]
impl Trips {
    #[step(compensate = unbook)]
    async fn book(&self, task: &mut Task<String, u32>) -> Result<u32, String> {
        self.journal.record(format!("book {}", task.payload()));
        *task.info_mut() += 1;
        Ok(5)
    }

    #[step(cancel = unpay, compensate = refund)]
    async fn pay(&self, task: &mut Task<String, u32>, seats: u32) -> Result<String, String> {
        self.journal
            .record(format!("pay {seats} (info {})", task.info()));
        *task.info_mut() += 10;
        Ok(format!("card-{seats}"))
    }

    #[step(cancel = unship)]
    async fn ship(&self, task: &mut Task<String, u32>, charge: String) -> Result<u32, String> {
        self.journal
            .record(format!("ship {charge} (info {})", task.info()));
        match task.payload().as_str() {
            "wait" => self.gate.pass().await,
            "fail" => return Err("no truck".to_owned()),
            _ => {}
        }
        Ok(*task.info())
    }

    async fn unbook(&self, _task: &mut Task<String, u32>, seats: u32) {
        self.journal.record(format!("unbook {seats}"));
    }

    async fn refund(&self, _task: &mut Task<String, u32>, charge: String) {
        self.journal.record(format!("refund {charge}"));
    }

    async fn unpay(&self, task: &mut Task<String, u32>, reason: CancelReason) {
        self.journal
            .record(format!("unpay {} ({reason})", task.payload()));
    }

    async fn unship(&self, task: &mut Task<String, u32>, reason: CancelReason) {
        if task.payload() == "hold" {
            self.cleanup_gate.pass().await;
        }
        self.journal.record(format!("unship ({reason})"));
    }
}

/// One instance: its store, and the service registered on its manager.
fn instance() -> (Store, Arc<Trips>) {
    let store = Store::default();
    let trips = Arc::new(Trips {
        tasks: TaskManager::builder()
            .cluster(store.clone())
            .build()
            .expect("builds"),
        journal: Journal::new(),
        gate: Gate::new(),
        cleanup_gate: Gate::new(),
    });
    trips.register_trip();
    (store, trips)
}

fn delivery(store: &Store) -> CancelDelivery {
    store.delivery.lock().unwrap().clone().expect("attached")
}

/// A trip lost in `pay` (step 1) on `api-1`, after `book` returned 5 with info 1.
fn lost_in_pay(id: TaskId, payload: &str, reason: CancelReason) -> LostTask {
    LostTask::new(id, "trip", reason)
        .at_step(1, "pay")
        .with_state(
            Some(format!("{payload:?}").into_bytes()),
            Some(b"1".to_vec()),
        )
        .with_input(Some(b"5".to_vec()))
        .with_outputs(vec![(0, b"5".to_vec())])
}

/// The claimant's side: the recovery, then (if it resumes) the task handed back.
async fn claim(store: &Store, lost: LostTask) -> Recovered {
    let recovered = delivery(store)
        .recover(lost.clone())
        .expect("a registered flow, readable state")
        .await;
    if recovered.resumes {
        let resumed = delivery(store).resume(lost).expect("resumed");
        assert!(resumed.await, "the resumed task runs");
    }
    recovered
}

#[tokio::test(start_paused = true)]
async fn each_boundary_hands_the_store_the_input_of_the_step_that_begins() {
    let (store, trips) = instance();
    let handle = trips
        .tasks
        .submit_in_cluster(Passport::new("trip-1".to_owned()), |p| {
            trips.execute_trip(p)
        })
        .await
        .expect("submitted");
    assert_eq!(handle.await.into_result().expect("completed"), 11);
    assert_eq!(
        store.calls.entries(),
        [
            r#"submitted trip payload="trip-1" info=0"#,
            "persist 0 in=- info=0",
            "persist 1 in=5 info=1 0=5",
            r#"persist 2 in="card-5" info=11 0=5 1="card-5""#,
            "ended completed, 3 steps",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_claimant_cleans_up_the_lost_step_then_runs_it_again_from_its_input_and_goes_on() {
    let (store, trips) = instance();
    let recovered = claim(
        &store,
        lost_in_pay(TaskId::new(), "trip-1", CancelReason::owner_lost("api-1")),
    )
    .await;
    assert!(recovered.resumes);
    assert!(
        matches!(&recovered.cleanup, RecordedCleanup::Completed { step, .. } if step == "pay"),
        "{recovered:?}"
    );
    assert!(recovered.compensations.is_empty(), "{recovered:?}");
    store.calls.wait_for("ended completed, 3 steps").await;
    // `book` completed before the loss and never runs again; `pay` begins a second time,
    // with its persisted input and the runtime info it began with.
    assert_eq!(
        trips.journal.entries(),
        [
            "unpay trip-1 (its instance `api-1` was lost)",
            "pay 5 (info 1)",
            "ship card-5 (info 11)",
        ]
    );
    assert_eq!(
        store.calls.entries(),
        [
            "persist 1 in=5 info=1 0=5",
            r#"persist 2 in="card-5" info=11 0=5 1="card-5""#,
            "ended completed, 3 steps",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_task_lost_before_its_first_step_is_resumed_from_it_with_the_state_its_submission_recorded(
) {
    // On `api-1`: the submission records the payload and the info as `Default` made it,
    // before `submit_in_cluster` returns.
    let (lost_store, lost_trips) = instance();
    let id = TaskId::new();
    let handle = lost_trips
        .tasks
        .submit_in_cluster(Passport::new("trip-1".to_owned()).with_id(id), |p| {
            lost_trips.execute_trip(p)
        })
        .await
        .expect("submitted");
    assert_eq!(
        lost_store.calls.entries(),
        [r#"submitted trip payload="trip-1" info=0"#]
    );
    let (payload, info) = lost_store.submission.lock().unwrap().clone().unwrap();
    // `api-1` is lost before the task's first boundary: its record names no step.
    drop(handle);
    let (store, trips) = instance();
    let lost = LostTask::new(id, "trip", CancelReason::owner_lost("api-1"))
        .before_first_step()
        .with_state(payload, info);
    let recovered = claim(&store, lost).await;
    assert!(recovered.resumes, "{recovered:?}");
    assert_eq!(recovered.cleanup, RecordedCleanup::NoStepInProgress);
    assert!(recovered.compensations.is_empty(), "{recovered:?}");
    store.calls.wait_for("ended completed, 3 steps").await;
    // Every step once, from the first, with the submitted state; no cleanup (no step had
    // begun).
    assert_eq!(
        trips.journal.entries(),
        ["book trip-1", "pay 5 (info 1)", "ship card-5 (info 11)"]
    );
    assert_eq!(
        store.calls.entries(),
        [
            "persist 0 in=- info=0",
            "persist 1 in=5 info=1 0=5",
            r#"persist 2 in="card-5" info=11 0=5 1="card-5""#,
            "ended completed, 3 steps",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_task_lost_before_its_first_step_after_a_cancel_had_won_it_is_not_resumed() {
    let (store, trips) = instance();
    let lost = LostTask::new(TaskId::new(), "trip", CancelReason::from("user left"))
        .before_first_step()
        .with_state(Some(br#""trip-1""#.to_vec()), Some(b"0".to_vec()));
    let recovered = claim(&store, lost).await;
    assert!(!recovered.resumes, "{recovered:?}");
    assert_eq!(recovered.cleanup, RecordedCleanup::NoStepInProgress);
    assert!(trips.journal.entries().is_empty(), "nothing runs");
    assert!(store.calls.entries().is_empty(), "nothing runs");
}

#[tokio::test(start_paused = true)]
async fn a_resumed_task_that_fails_compensates_the_steps_completed_before_and_after_the_loss() {
    let (store, trips) = instance();
    claim(
        &store,
        lost_in_pay(TaskId::new(), "fail", CancelReason::owner_lost("api-1")),
    )
    .await;
    store.calls.wait_for("ended failed at ship, 2 steps").await;
    assert_eq!(
        trips.journal.entries(),
        [
            "unpay fail (its instance `api-1` was lost)",
            "pay 5 (info 1)",
            "ship card-5 (info 11)",
            "refund card-5",
            "unbook 5",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_resumed_task_is_cancelled_from_the_store_and_compensated_in_reverse_order() {
    let (store, trips) = instance();
    let id = TaskId::new();
    claim(
        &store,
        lost_in_pay(id, "wait", CancelReason::owner_lost("api-1")),
    )
    .await;
    trips.gate.arrived().await;
    // A cancel decided in the store (from any instance) reaches the resumed task here.
    let delivered = delivery(&store).cancel(id, "user left".into(), CancelSource::Request);
    assert_eq!(
        delivered,
        task_manager_core::Delivered::Applied(task_manager_core::CancelStatus::Requested)
    );
    store
        .calls
        .wait_for("ended cancelled at ship (cancelled: user left), 2 steps")
        .await;
    assert_eq!(
        trips.journal.entries(),
        [
            "unpay wait (its instance `api-1` was lost)",
            "pay 5 (info 1)",
            "ship card-5 (info 11)",
            "unship (cancelled: user left)",
            "refund card-5",
            "unbook 5",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_resumed_task_lost_again_is_resumed_again_by_the_next_claimant() {
    let (store_b, trips_b) = instance();
    let id = TaskId::new();
    claim(
        &store_b,
        lost_in_pay(id, "wait", CancelReason::owner_lost("api-1")),
    )
    .await;
    trips_b.gate.arrived().await;
    // B loses its lease in `ship`: its task is abandoned there, no cleanup runs on B.
    assert_eq!(
        delivery(&store_b).abandon_all(CancelReason::owner_lost("api-2")),
        1
    );
    // C claims it from the boundary B recorded last.
    let boundary = store_b.last_boundary.lock().unwrap().clone().expect("kept");
    assert_eq!(boundary.index, 2);
    let (store_c, trips_c) = instance();
    let lost = LostTask::new(id, "trip", CancelReason::owner_lost("api-2"))
        .at_step(boundary.index, "ship")
        .with_state(boundary.payload, boundary.info)
        .with_input(boundary.input)
        .with_outputs(boundary.outputs);
    let recovered = claim(&store_c, lost).await;
    assert!(recovered.resumes);
    trips_c.gate.arrived().await;
    trips_c.gate.open();
    store_c.calls.wait_for("ended completed, 3 steps").await;
    assert_eq!(
        trips_b.journal.entries(),
        [
            "unpay wait (its instance `api-1` was lost)",
            "pay 5 (info 1)",
            "ship card-5 (info 11)",
        ]
    );
    assert!(!store_b.calls.contains("ended"), "B tells nothing more");
    // Neither `book` nor `pay` runs again: `ship`'s cleanup for B's attempt, then `ship`.
    assert_eq!(
        trips_c.journal.entries(),
        [
            "unship (its instance `api-2` was lost)",
            "ship card-5 (info 11)",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_task_lost_after_a_cancel_had_won_it_is_cleaned_up_and_compensated_not_resumed() {
    let (store, trips) = instance();
    let recovered = claim(
        &store,
        lost_in_pay(TaskId::new(), "trip-1", CancelReason::from("user left")),
    )
    .await;
    assert!(!recovered.resumes);
    assert_eq!(recovered.compensations.len(), 1, "{recovered:?}");
    assert_eq!(
        trips.journal.entries(),
        ["unpay trip-1 (cancelled: user left)", "unbook 5"]
    );
    assert!(store.calls.entries().is_empty(), "nothing runs again");
}

#[tokio::test(start_paused = true)]
async fn a_task_whose_input_does_not_read_back_is_cleaned_up_and_compensated_not_resumed() {
    let (store, trips) = instance();
    let lost = lost_in_pay(TaskId::new(), "trip-1", CancelReason::owner_lost("api-1"))
        .with_input(Some(b"\"not a number\"".to_vec()));
    let recovered = claim(&store, lost).await;
    assert!(!recovered.resumes);
    assert_eq!(
        trips.journal.entries(),
        ["unpay trip-1 (its instance `api-1` was lost)", "unbook 5"]
    );
    assert!(store.calls.entries().is_empty(), "nothing runs again");
}

#[tokio::test(start_paused = true)]
async fn a_cancel_that_wins_while_the_lost_step_is_cleaned_up_compensates_and_runs_nothing_again() {
    let (store, trips) = instance();
    // Lost in `ship` (step 2) on `api-1`, after `book` returned 5 and `pay` "card-5".
    let lost = LostTask::new(TaskId::new(), "trip", CancelReason::owner_lost("api-1"))
        .at_step(2, "ship")
        .with_state(Some(br#""hold""#.to_vec()), Some(b"11".to_vec()))
        .with_input(Some(br#""card-5""#.to_vec()))
        .with_outputs(vec![(0, b"5".to_vec()), (1, br#""card-5""#.to_vec())]);
    let cleanup = tokio::spawn(
        delivery(&store)
            .recover(lost.clone())
            .expect("a registered flow, readable state"),
    );
    trips.cleanup_gate.arrived().await;
    // A user's cancel wins in the store while `ship`'s cleanup runs: the store does not
    // hand the task back once the cleanup is done, it has the completed steps compensated.
    trips.cleanup_gate.open();
    let recovered = cleanup.await.expect("the cleanup ran");
    assert!(recovered.resumes, "the flow would have resumed it");
    assert!(recovered.compensations.is_empty(), "{recovered:?}");
    let mut user = lost;
    user.reason = CancelReason::from("user left");
    let compensations = task_manager_support::soon(
        "the compensations",
        delivery(&store)
            .compensate(user)
            .expect("a registered flow, readable state"),
    )
    .await;
    assert!(
        matches!(
            compensations.as_slice(),
            [
                Compensation::Completed { step: "pay", .. },
                Compensation::Completed { step: "book", .. }
            ]
        ),
        "{compensations:?}"
    );
    // The lost attempt's cleanup once, with `OwnerLost`, then the compensations, last
    // first; neither `ship` nor its cleanup runs again, and nothing reaches the store.
    assert_eq!(
        trips.journal.entries(),
        [
            "unship (its instance `api-1` was lost)",
            "refund card-5",
            "unbook 5",
        ]
    );
    assert!(store.calls.entries().is_empty(), "nothing runs again");
}
