//! The compensations an instance runs for a task it claimed from a lost one are recorded
//! with the task's ending (`src/recover.rs`, migration 5): which ran, in which order, and
//! how each ended, readable from any instance (`PgCluster::status`, and the manager's
//! `status_in_cluster`), as the report of a task that ends in one process lists them.
//! Instances are managers in this process; the owner's lease is expired by the test before
//! the claimant joins, so that the claimant's own first claim (right after it attaches)
//! takes the task.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use task_manager_core::{
    flow, CancelReason, HasTaskManager, Passport, RecordedCompensation, Task, TaskManager,
};
use task_manager_postgres::{CleanupRecord, Ended, PgCluster, TaskState};
use tokio::sync::Notify;

use crate::support::{admin, fresh_schema, url};

#[derive(HasTaskManager)]
struct Trips {
    tasks: TaskManager,
    instance: &'static str,
    in_last_step: Arc<Notify>,
    journal: Arc<Mutex<Vec<String>>>,
}

impl Trips {
    fn mark(&self, what: String) {
        self.journal
            .lock()
            .unwrap()
            .push(format!("{}: {what}", self.instance));
    }
}

#[flow(name = trip, on_owner_lost = cancel)]
impl Trips {
    #[step(compensate = unbook)]
    async fn book(&self, _task: &mut Task<u32>) -> Result<u32, Infallible> {
        Ok(2)
    }

    #[step(compensate = refund)]
    async fn pay(&self, _task: &mut Task<u32>, seats: u32) -> Result<String, Infallible> {
        Ok(format!("card-{seats}"))
    }

    #[step]
    async fn check(&self, _task: &mut Task<u32>, charge: String) -> Result<String, Infallible> {
        Ok(charge)
    }

    #[step(cancel = unship, compensate = recall)]
    async fn ship(&self, _task: &mut Task<u32>, _charge: String) -> Result<(), Infallible> {
        self.in_last_step.notify_one();
        std::future::pending::<()>().await;
        Ok(())
    }

    async fn unship(&self, _task: &mut Task<u32>, reason: CancelReason) {
        self.mark(format!("unship ({reason})"));
    }

    async fn recall(&self, _task: &mut Task<u32>, _shipped: ()) {
        self.mark("recall".into());
    }

    async fn refund(&self, task: &mut Task<u32>, charge: String) -> Result<(), String> {
        self.mark(format!("refund {charge}"));
        if *task.payload() == 1 {
            panic!("the bank is down");
        }
        Err(format!("{charge} was already refunded"))
    }

    async fn unbook(&self, _task: &mut Task<u32>, seats: u32) {
        self.mark(format!("unbook {seats}"));
    }
}

async fn instance(
    schema: &str,
    name: &'static str,
    journal: &Arc<Mutex<Vec<String>>>,
) -> (PgCluster, Arc<Trips>) {
    let cluster = PgCluster::connect(url())
        .instance(name)
        .schema(schema)
        .lease(Duration::from_secs(600), Duration::from_secs(300))
        .await
        .unwrap_or_else(|e| panic!("joining as `{name}`: {e}"));
    let tasks = TaskManager::builder()
        .cluster(cluster.clone())
        .build()
        .expect("builds");
    let trips = Arc::new(Trips {
        tasks,
        instance: name,
        in_last_step: Arc::default(),
        journal: Arc::clone(journal),
    });
    trips.register_trip();
    (cluster, trips)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_claimants_compensations_are_recorded_with_the_ending_in_the_order_they_ran() {
    let schema = fresh_schema("claimant_compensations").await;
    let journal = Arc::default();
    let (_a, owner) = instance(&schema, "a", &journal).await;
    // Payload 0: the refund returns `Err`; payload 1: it panics.
    let mut handles = Vec::new();
    for payload in [0_u32, 1] {
        let handle = owner
            .tasks
            .submit_in_cluster(Passport::new(payload), |p| owner.execute_trip(p))
            .await
            .expect("submitted");
        owner.in_last_step.notified().await;
        handles.push(handle);
    }
    admin()
        .await
        .execute(
            &format!(
                "UPDATE \"{schema}\".leases SET expires_at = now() - interval '1 second' \
                 WHERE instance = 'a'"
            ),
            &[],
        )
        .await
        .expect("expiring a's lease");
    let (b, claimant) = instance(&schema, "b", &journal).await;
    for (payload, handle) in (0_u32..).zip(&handles) {
        let id = handle.id();
        let record = loop {
            let record = b.status(id).await.expect("read").expect("a record");
            if record.state == TaskState::Finished {
                break record;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let ending = record.ending.expect("ended");
        assert_eq!(
            ending.ended,
            Ended::Cancelled {
                step: Some("ship".into())
            }
        );
        assert!(
            matches!(&ending.cleanup, Some(CleanupRecord::Completed { step, .. }) if step == "ship"),
            "{:?}",
            ending.cleanup
        );
        // Last step first; `check` declares none, `ship` had not completed.
        let refund_failed = |compensation: &RecordedCompensation| match compensation {
            RecordedCompensation::Failed { step, error } if payload == 0 => {
                step == "pay" && error == "card-2 was already refunded"
            }
            RecordedCompensation::Panicked { step, message } if payload == 1 => {
                step == "pay" && message == "the bank is down"
            }
            _ => false,
        };
        match &ending.compensations[..] {
            [refund, RecordedCompensation::Completed { step, .. }]
                if refund_failed(refund) && step == "book" => {}
            other => panic!("{id}: recorded {other:?}"),
        }
        // The same, through a manager, from any instance.
        for tasks in [&owner.tasks, &claimant.tasks] {
            let status = tasks
                .status_in_cluster(id)
                .await
                .expect("read")
                .expect("a record");
            assert_eq!(status.compensations, ending.compensations);
        }
    }
    let mut ran = journal.lock().unwrap().clone();
    ran.sort();
    assert_eq!(
        ran,
        [
            "b: refund card-2",
            "b: refund card-2",
            "b: unbook 2",
            "b: unbook 2",
            "b: unship (its instance `a` was lost)",
            "b: unship (its instance `a` was lost)",
        ]
    );
}
