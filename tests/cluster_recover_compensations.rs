//! A flow with `#[flow(on_owner_lost = cancel)]` whose steps declare compensations
//! (`run/recover.rs`), against a store in memory: the outputs of the completed compensated
//! steps are handed to the store with each later step boundary, and the claimant of a lost
//! task runs, after the interrupted step's cleanup, the compensations of the completed steps
//! from those outputs, in reverse step order, each once per claim, a panic caught. The real
//! store is `task-manager-postgres` (`tests/store/crash.rs`).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use task_manager_core::{
    flow, CancelDelivery, CancelReason, Cluster, ClusterError, ClusterFuture, Compensation,
    HasTaskManager, LostTask, Passport, RecordedCleanup, Recovered, Task, TaskId, TaskManager,
};
use task_manager_support::Journal;

#[derive(Clone, Default)]
struct Store {
    calls: Journal,
    delivery: Arc<Mutex<Option<CancelDelivery>>>,
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
        ended,
        request_cancel,
        ended_cleanup
    );
    fn persist_step(
        &self,
        _id: TaskId,
        index: usize,
        _step: &'static str,
        _payload: Option<Vec<u8>>,
        _info: Option<Vec<u8>>,
        outputs: Vec<(usize, Vec<u8>)>,
    ) -> ClusterFuture<Result<(), ClusterError>> {
        let outputs: Vec<String> = outputs
            .into_iter()
            .map(|(index, bytes)| format!(" {index}={}", String::from_utf8(bytes).unwrap()))
            .collect();
        self.calls
            .record(format!("persist {index}{}", outputs.concat()));
        Box::pin(async { Ok(()) })
    }
}

#[derive(HasTaskManager)]
struct Orders {
    tasks: TaskManager,
    journal: Journal,
}

#[flow(name = order, on_owner_lost = cancel)]
impl Orders {
    #[step(compensate = unreserve)]
    async fn reserve(&self, _task: &mut Task<String, u32>) -> Result<u32, Infallible> {
        Ok(5)
    }

    #[step]
    async fn check(&self, _task: &mut Task<String, u32>, seats: u32) -> Result<u32, Infallible> {
        Ok(seats)
    }

    #[step(compensate = refund)]
    async fn charge(
        &self,
        _task: &mut Task<String, u32>,
        _seats: u32,
    ) -> Result<String, Infallible> {
        Ok("card-1".to_owned())
    }

    #[step(cancel = unship)]
    async fn ship(&self, _task: &mut Task<String, u32>, _charge: String) -> Result<(), Infallible> {
        Ok(())
    }

    async fn unreserve(&self, task: &mut Task<String, u32>, seats: u32) {
        self.journal
            .record(format!("unreserve {seats} of {}", task.payload()));
    }

    async fn refund(&self, task: &mut Task<String, u32>, charge: String) -> Result<(), String> {
        if task.payload() == "boom" {
            panic!("the refund failed");
        }
        self.journal.record(format!("refund {charge}"));
        Ok(())
    }

    async fn unship(&self, task: &mut Task<String, u32>, reason: CancelReason) {
        self.journal
            .record(format!("unship {} ({reason})", task.payload()));
    }
}

/// The same steps, no compensation declared.
#[derive(HasTaskManager)]
struct Plain {
    tasks: TaskManager,
    journal: Journal,
}

#[flow(name = plain, on_owner_lost = cancel)]
impl Plain {
    #[step]
    async fn reserve(&self, _task: &mut Task<String, u32>) -> Result<u32, Infallible> {
        Ok(5)
    }

    #[step(cancel = unship)]
    async fn ship(&self, _task: &mut Task<String, u32>, _seats: u32) -> Result<(), Infallible> {
        Ok(())
    }

    async fn unship(&self, _task: &mut Task<String, u32>, _reason: CancelReason) {
        self.journal.record("unship");
    }
}

fn manager(store: &Store) -> TaskManager {
    TaskManager::builder()
        .cluster(store.clone())
        .build()
        .expect("builds")
}

fn orders(store: &Store) -> Arc<Orders> {
    let orders = Arc::new(Orders {
        tasks: manager(store),
        journal: Journal::new(),
    });
    orders.register_order();
    orders
}

fn delivery(store: &Store) -> CancelDelivery {
    store.delivery.lock().unwrap().clone().expect("attached")
}

/// A task of `flow` lost at step `step` (or between steps), with these persisted outputs.
fn lost(
    flow: &str,
    step: Option<(usize, &str)>,
    payload: &str,
    outputs: &[(usize, &str)],
) -> LostTask {
    let lost = LostTask::new(TaskId::new(), flow, CancelReason::owner_lost("api-1"))
        .with_state(
            Some(format!("{payload:?}").into_bytes()),
            Some(b"0".to_vec()),
        )
        .with_outputs(
            outputs
                .iter()
                .map(|(index, json)| (*index, json.as_bytes().to_vec()))
                .collect(),
        );
    match step {
        Some((index, name)) => lost.at_step(index, name),
        None => lost,
    }
}

async fn recover(store: &Store, lost: LostTask) -> Recovered {
    delivery(store)
        .recover(lost)
        .expect("a registered flow, readable state")
        .await
}

fn steps(compensations: &[Compensation]) -> Vec<(&'static str, bool)> {
    compensations
        .iter()
        .map(|compensation| (compensation.step(), compensation.is_completed()))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn each_boundary_hands_the_store_the_outputs_of_the_completed_compensated_steps() {
    let store = Store::default();
    let orders = orders(&store);
    let handle = orders
        .tasks
        .submit_in_cluster(Passport::new("order-7".to_owned()), |p| {
            orders.execute_order(p)
        })
        .await
        .expect("submitted");
    handle.await.into_result().expect("completed");
    assert_eq!(
        store.calls.entries(),
        [
            "persist 0",
            "persist 1 0=5",
            "persist 2 0=5",
            r#"persist 3 0=5 2="card-1""#,
        ]
    );
    assert!(orders.journal.entries().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_claimant_runs_the_cleanup_then_the_compensations_in_reverse_order_each_once() {
    let store = Store::default();
    let orders = orders(&store);
    let recovered = recover(
        &store,
        lost(
            "order",
            Some((3, "ship")),
            "order-7",
            &[(0, "5"), (2, r#""card-1""#)],
        ),
    )
    .await;
    assert!(
        matches!(&recovered.cleanup, RecordedCleanup::Completed { step, .. } if step == "ship"),
        "{recovered:?}"
    );
    assert_eq!(
        steps(&recovered.compensations),
        [("charge", true), ("reserve", true)]
    );
    assert_eq!(
        orders.journal.entries(),
        [
            "unship order-7 (its instance `api-1` was lost)",
            "refund card-1",
            "unreserve 5 of order-7",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn an_output_listed_twice_is_compensated_once() {
    let store = Store::default();
    let orders = orders(&store);
    let recovered = recover(
        &store,
        lost(
            "order",
            Some((3, "ship")),
            "order-7",
            &[(0, "5"), (0, "5"), (2, r#""card-1""#)],
        ),
    )
    .await;
    assert_eq!(recovered.compensations.len(), 2, "{recovered:?}");
    assert_eq!(orders.journal.entries().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_compensation_is_caught_and_recorded_and_the_others_still_run() {
    let store = Store::default();
    let orders = orders(&store);
    let recovered = recover(
        &store,
        lost(
            "order",
            Some((3, "ship")),
            "boom",
            &[(0, "5"), (2, r#""card-1""#)],
        ),
    )
    .await;
    assert!(
        matches!(
            &recovered.compensations[..],
            [Compensation::Panicked { step: "charge", message }, Compensation::Completed { step: "reserve", .. }]
                if message == "the refund failed"
        ),
        "{recovered:?}"
    );
    assert_eq!(
        orders.journal.entries(),
        [
            "unship boom (its instance `api-1` was lost)",
            "unreserve 5 of boom"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_task_lost_between_steps_has_no_cleanup_but_its_completed_steps_compensated() {
    let store = Store::default();
    let orders = orders(&store);
    let recovered = recover(
        &store,
        lost("order", None, "order-7", &[(0, "5"), (2, r#""card-1""#)]),
    )
    .await;
    assert_eq!(recovered.cleanup, RecordedCleanup::NoStepInProgress);
    assert_eq!(
        steps(&recovered.compensations),
        [("charge", true), ("reserve", true)]
    );
    assert_eq!(
        orders.journal.entries(),
        ["refund card-1", "unreserve 5 of order-7"]
    );
}

#[tokio::test(start_paused = true)]
async fn no_compensation_runs_without_a_declared_one_or_a_completed_step() {
    let store = Store::default();
    let plain = Arc::new(Plain {
        tasks: manager(&store),
        journal: Journal::new(),
    });
    plain.register_plain();
    let handle = plain
        .tasks
        .submit_in_cluster(Passport::new("x".to_owned()), |p| plain.execute_plain(p))
        .await
        .expect("submitted");
    handle.await.into_result().expect("completed");
    assert_eq!(store.calls.entries(), ["persist 0", "persist 1"]);
    // Outputs the store lists for steps that declare no compensation run nothing.
    let recovered = recover(&store, lost("plain", Some((1, "ship")), "x", &[(0, "5")])).await;
    assert!(recovered.compensations.is_empty(), "{recovered:?}");
    assert_eq!(plain.journal.entries(), ["unship"]);
    // A flow with compensations, lost in its first step: nothing completed, nothing undone.
    let orders = orders(&store);
    let recovered = recover(&store, lost("order", Some((0, "reserve")), "x", &[])).await;
    assert_eq!(
        recovered.cleanup,
        RecordedCleanup::NotDeclared {
            step: "reserve".into()
        }
    );
    assert!(recovered.compensations.is_empty(), "{recovered:?}");
    assert!(orders.journal.entries().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_output_is_recorded_as_a_failed_compensation() {
    let store = Store::default();
    let orders = orders(&store);
    let recovered = recover(
        &store,
        lost(
            "order",
            None,
            "order-7",
            &[(0, "not json"), (2, r#""card-1""#)],
        ),
    )
    .await;
    assert!(
        matches!(
            &recovered.compensations[..],
            [Compensation::Completed { step: "charge", .. }, Compensation::Failed { step: "reserve", error }]
                if error.contains("could not be read back")
        ),
        "{recovered:?}"
    );
    assert_eq!(orders.journal.entries(), ["refund card-1"]);
}

/// "Once" is per claim: a claimant lost mid-compensation recorded nothing of them, so the
/// next claimant, handed the same record, runs the cleanup and every compensation again.
#[tokio::test(start_paused = true)]
async fn a_second_claim_of_the_same_record_runs_every_compensation_again() {
    let store = Store::default();
    let orders = orders(&store);
    let record = lost("order", None, "order-7", &[(0, "5"), (2, r#""card-1""#)]);
    recover(&store, record.clone()).await;
    recover(&store, record).await;
    assert_eq!(
        orders.journal.entries(),
        [
            "refund card-1",
            "unreserve 5 of order-7",
            "refund card-1",
            "unreserve 5 of order-7",
        ]
    );
}
