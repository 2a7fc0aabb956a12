//! A task's outcome kept in the cluster's store and read back typed (`run/claim.rs`,
//! `clustered_outcome.rs`), against a store in memory that records what each seal carried:
//! a flow with `on_owner_lost = resume` hands its output to the seal; a seal after which
//! nothing runs (a completed task; a failed one whose flow declares no compensation) carries
//! the ending, and the runner then tells no ending of its own, unless a local cancel won the
//! task's cell after that seal; the generated `<flow>_outcome` reads a record back as the
//! flow's output type, or says why it cannot, naming the task. The real store is
//! `task-manager-postgres` (`tests/store/resume.rs`, `resume_storm.rs`, `writes.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use task_manager_core::{
    flow, CancelDelivery, Cluster, ClusterEnding, ClusterError, ClusterErrorKind, ClusterFuture,
    ClusterOutcome, ClusterSeal, ClusterTaskEnded, ClusterTaskState, ClusterTaskStatus, Ending,
    HasTaskManager, OutcomeErrorKind, OutcomeRecord, Passport, Sealing, Task, TaskId, TaskManager,
};
use task_manager_support::{Gate, Journal};

/// What the store heard (each seal with what it carried, each ending), the records it
/// answers `outcome` with, and a gate each seal passes first when one is set.
#[derive(Clone, Default)]
struct Store {
    calls: Journal,
    records: Arc<Mutex<HashMap<TaskId, OutcomeRecord>>>,
    seal_gate: Arc<Mutex<Option<Gate>>>,
}

impl Cluster for Store {
    fn attach(&self, _delivery: CancelDelivery) -> Result<(), ClusterError> {
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
    fn seal_with(
        &self,
        _id: TaskId,
        sealing: Sealing,
    ) -> ClusterFuture<Result<ClusterSeal, ClusterError>> {
        let output = sealing.output.as_ref().map_or_else(
            || "-".to_owned(),
            |b| String::from_utf8_lossy(b).into_owned(),
        );
        let ending = sealing
            .ending
            .as_ref()
            .map_or_else(|| "-".to_owned(), |e| format!("{:?}", e.ended));
        self.calls.record(format!(
            "seal {:?} output={output} ending={ending}",
            sealing.sealed
        ));
        let gate = self.seal_gate.lock().unwrap().clone();
        let ended = sealing.ending.is_some();
        Box::pin(async move {
            if let Some(gate) = gate {
                gate.pass().await;
            }
            Ok(if ended {
                ClusterSeal::SealedEnded
            } else {
                ClusterSeal::Sealed
            })
        })
    }
    fn ended(&self, _id: TaskId, ending: ClusterEnding) {
        self.calls.record(format!(
            "ended {:?} replaces_seal={}",
            ending.ended, ending.replaces_seal
        ));
    }
    fn outcome(
        &self,
        id: TaskId,
        _wait: bool,
    ) -> ClusterFuture<Result<Option<OutcomeRecord>, ClusterError>> {
        let record = self.records.lock().unwrap().get(&id).cloned();
        Box::pin(async move { Ok(record) })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Receipt {
    seats: u32,
    to: String,
}

#[derive(HasTaskManager)]
struct Trips {
    tasks: TaskManager,
    journal: Journal,
}

#[flow(name = trip, on_owner_lost = resume)]
impl Trips {
    #[step]
    async fn book(&self, task: &mut Task<String>) -> Result<u32, String> {
        if task.payload() == "fail" {
            return Err("no seats".to_owned());
        }
        Ok(5)
    }

    #[step]
    async fn ship(&self, task: &mut Task<String>, seats: u32) -> Result<Receipt, String> {
        Ok(Receipt {
            seats,
            to: task.payload().clone(),
        })
    }
}

#[flow(name = order)]
impl Trips {
    #[step(compensate = unreserve)]
    async fn reserve(&self, _task: &mut Task<String>) -> Result<u32, String> {
        Ok(1)
    }

    #[step]
    async fn charge(&self, _task: &mut Task<String>, _held: u32) -> Result<(), String> {
        Err("card declined".to_owned())
    }

    async fn unreserve(&self, _task: &mut Task<String>, held: u32) {
        self.journal.record(format!("unreserve {held}"));
    }
}

fn instance() -> (Store, Arc<Trips>) {
    let store = Store::default();
    let trips = Arc::new(Trips {
        tasks: TaskManager::builder()
            .cluster(store.clone())
            .build()
            .expect("builds"),
        journal: Journal::new(),
    });
    (store, trips)
}

#[tokio::test(start_paused = true)]
async fn a_completed_task_keeps_its_output_with_its_seal_which_carries_its_ending() {
    let (store, trips) = instance();
    let handle = trips
        .tasks
        .submit_in_cluster(Passport::new("oslo".to_owned()), |p| trips.execute_trip(p))
        .await
        .expect("submitted");
    let receipt = handle.await.into_result().expect("completed");
    assert_eq!(
        receipt,
        Receipt {
            seats: 5,
            to: "oslo".to_owned()
        }
    );
    // One seal, with the output as JSON and the ending: no ending told after it.
    assert_eq!(
        store.calls.entries(),
        [
            r#"seal Completed { steps_completed: 2 } output={"seats":5,"to":"oslo"} ending=Completed"#
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failure_with_nothing_to_run_after_it_is_ended_by_its_seal_and_one_with_compensations_is_not(
) {
    let (store, trips) = instance();
    let failed = trips
        .tasks
        .submit_in_cluster(Passport::new("fail".to_owned()), |p| trips.execute_trip(p))
        .await
        .expect("submitted")
        .await;
    assert!(matches!(
        failed.ending(),
        Ending::Failed { step: "book", .. }
    ));
    // A flow without compensations: the seal carries `Failed` at the step, no output.
    assert_eq!(
        store.calls.entries(),
        [r#"seal Failed output=- ending=Failed { step: "book" }"#]
    );

    let (store, trips) = instance();
    let failed = trips
        .tasks
        .submit_in_cluster(Passport::new("o".to_owned()), |p| trips.execute_order(p))
        .await
        .expect("submitted")
        .await;
    assert!(matches!(
        failed.ending(),
        Ending::Failed { step: "charge", .. }
    ));
    // Its compensation runs after the seal: the ending is told once it ran.
    assert_eq!(trips.journal.entries(), ["unreserve 1"]);
    assert_eq!(
        store.calls.entries(),
        [
            "seal Failed output=- ending=-",
            r#"ended Failed { step: "charge" } replaces_seal=false"#
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_local_cancel_that_wins_the_cell_after_the_seal_replaces_the_sealed_ending() {
    let (store, trips) = instance();
    let gate = Gate::new();
    *store.seal_gate.lock().unwrap() = Some(gate.clone());
    let passport = Passport::new("bergen".to_owned());
    let id = passport.id();
    let handle = trips
        .tasks
        .submit_in_cluster(passport, |p| trips.execute_trip(p))
        .await
        .expect("submitted");
    // The store's seal (with the ending) is under way; this instance's own cancel wins the
    // task's cell meanwhile.
    gate.arrived().await;
    let cancellation = trips.tasks.cancel(id, "user left");
    assert_eq!(
        cancellation.status(),
        task_manager_core::CancelStatus::Requested
    );
    gate.open();
    let outcome = handle.await;
    assert!(
        matches!(outcome.ending(), Ending::Cancelled { step: None, .. }),
        "{:?}",
        outcome.ending()
    );
    let calls = store.calls.entries();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls[0].ends_with("ending=Completed"),
        "the seal carried Completed: {calls:?}"
    );
    // The ending the task had replaces the one its seal carried.
    assert!(
        calls[1].starts_with(
            "ended Cancelled { step: None, reason: Requested(\"user left\"), source: Request }"
        ) && calls[1].ends_with("replaces_seal=true"),
        "{calls:?}"
    );
}

fn finished(id: TaskId, flow: &str, ended: ClusterTaskEnded) -> ClusterTaskStatus {
    ClusterTaskStatus::new(
        id,
        flow,
        "api-1",
        ClusterTaskState::Finished,
        SystemTime::now(),
    )
    .with_ending(ended, None)
}

#[tokio::test(start_paused = true)]
async fn the_generated_outcome_reads_the_record_as_the_flows_output_or_says_why_not() {
    let (store, trips) = instance();
    let [kept, other, not_kept, wrong, running, failed, unknown] =
        std::array::from_fn(|n| TaskId::from_u128(n as u128 + 1));
    {
        let mut records = store.records.lock().unwrap();
        let mut put = |id, status, output: Option<&str>| {
            records.insert(
                id,
                OutcomeRecord::new(status, output.map(|o| o.as_bytes().to_vec())),
            );
        };
        let completed = ClusterTaskEnded::Completed;
        put(
            kept,
            finished(kept, "trip", completed.clone()),
            Some(r#"{"seats":2,"to":"rome"}"#),
        );
        put(other, finished(other, "order", completed.clone()), None);
        put(
            not_kept,
            finished(not_kept, "trip", completed.clone()),
            None,
        );
        put(wrong, finished(wrong, "trip", completed), Some("17"));
        put(
            running,
            ClusterTaskStatus::new(
                running,
                "trip",
                "api-2",
                ClusterTaskState::Running,
                SystemTime::now(),
            ),
            None,
        );
        put(
            failed,
            finished(
                failed,
                "trip",
                ClusterTaskEnded::Failed {
                    step: Some("book".to_owned()),
                    error: None,
                },
            ),
            None,
        );
    }
    let rome = Receipt {
        seats: 2,
        to: "rome".to_owned(),
    };
    assert_eq!(
        trips.trip_outcome(kept).await.expect("read"),
        ClusterOutcome::Completed(rome.clone())
    );
    assert_eq!(
        trips
            .tasks
            .outcome_in_cluster::<Receipt>(kept)
            .await
            .expect("read")
            .into_output(),
        Some(rome)
    );
    assert_eq!(
        trips.trip_outcome(failed).await.expect("read"),
        ClusterOutcome::Failed {
            step: Some("book".to_owned()),
            error: None
        }
    );
    assert_eq!(trips.try_trip_outcome(running).await.expect("read"), None);
    let kind = |error: task_manager_core::OutcomeError, id: TaskId| {
        assert_eq!(error.id, id);
        assert!(
            error.to_string().starts_with(&format!("task {id}: ")),
            "{error}"
        );
        error.kind
    };
    assert_eq!(
        kind(trips.trip_outcome(other).await.unwrap_err(), other),
        OutcomeErrorKind::OtherFlow {
            expected: "trip",
            found: "order".to_owned()
        }
    );
    assert_eq!(
        kind(trips.trip_outcome(not_kept).await.unwrap_err(), not_kept),
        OutcomeErrorKind::NotKept {
            flow: "trip".to_owned()
        }
    );
    assert_eq!(
        kind(trips.trip_outcome(wrong).await.unwrap_err(), wrong),
        OutcomeErrorKind::WrongType {
            flow: "trip".to_owned(),
            type_name: std::any::type_name::<Receipt>()
        }
    );
    assert_eq!(
        kind(trips.trip_outcome(unknown).await.unwrap_err(), unknown),
        OutcomeErrorKind::NotFound
    );

    // A manager without a cluster has no record to read.
    let alone = TaskManager::new();
    let error = alone.outcome_in_cluster::<u32>(kept).await.unwrap_err();
    assert!(
        matches!(&error.kind, OutcomeErrorKind::Cluster(e) if e.kind == ClusterErrorKind::Unsupported),
        "{error:?}"
    );
}
