//! Leases, fencing and claims (`src/lease.rs`, `src/claim.rs`), in one process: an owner
//! whose lease expired is fenced out of its records, exactly one live instance claims each
//! of its unfinished tasks, and each claimed record ends as its state allows. Leases are
//! expired by the test itself (an explicit update of `leases`), never waited out.

use std::collections::HashSet;

use task_manager_core::{CancelReason, CancelSource, CancelStatus, Progress, TaskId};
use task_manager_postgres::{
    CleanupRecord, Ended, EndingRecord, LeaseRenewal, NewTask, PgCluster, Seal, StoreError,
    TaskState,
};

use crate::support::{admin, fresh_schema, join};

/// An instance of `schema` that holds a lease (taken explicitly: no manager is attached).
async fn leased(schema: &str, instance: &str) -> PgCluster {
    let cluster = join(schema, instance).await;
    match cluster.renew_lease().await {
        Ok(LeaseRenewal::Taken(_)) => cluster,
        other => panic!("{instance}: expected a lease taken, got {other:?}"),
    }
}

/// Expires every lease `instance` holds, now: what a dead instance's leases come to after
/// their time, without waiting for it.
async fn expire(schema: &str, instance: &str) {
    admin()
        .await
        .execute(
            &format!(
                "UPDATE \"{schema}\".leases SET expires_at = now() - interval '1 second' \
                 WHERE instance = $1"
            ),
            &[&instance],
        )
        .await
        .expect("expiring a lease");
}

/// The claim columns of a record: (instance, lease, fence, lost instance).
async fn claim_columns(schema: &str, id: TaskId) -> (String, Option<i64>, i32, Option<String>) {
    let row = admin()
        .await
        .query_one(
            &format!(
                "SELECT instance, lease, fence, lost_instance FROM \"{schema}\".tasks \
                 WHERE id = $1::text::uuid"
            ),
            &[&id.to_string()],
        )
        .await
        .expect("reading the claim columns");
    (row.get(0), row.get(1), row.get(2), row.get(3))
}

#[tokio::test]
async fn a_claimed_task_ends_cancelled_by_the_loss_of_its_owner_and_the_owner_is_fenced_out() {
    let schema = fresh_schema("lease_fence").await;
    let a = leased(&schema, "a").await;
    let id = TaskId::new();
    a.insert(NewTask::new(id, "query")).await.unwrap();
    assert!(a.begin_step(id, 1, "send").await.unwrap());
    expire(&schema, "a").await;
    // The replacement takes the same name, as a restarted process does: only the lease
    // tells the old owner from the new one.
    let replacement = leased(&schema, "a").await;
    let claimed = replacement.claim_expired().await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        (claimed[0].id, claimed[0].lost_instance.as_str()),
        (id, "a")
    );
    assert_eq!(
        (claimed[0].step.as_deref(), claimed[0].fence),
        (Some("send"), 1)
    );

    let record = replacement.status(id).await.unwrap().unwrap();
    assert_eq!(record.state, TaskState::Finished);
    let cancel = record.cancel.clone().expect("the claim's cancel");
    assert_eq!(cancel.reason, CancelReason::owner_lost("a"));
    assert_eq!(cancel.source, CancelSource::OwnerLost);
    let ending = record.ending.clone().expect("an ending");
    assert_eq!(
        ending.ended,
        Ended::Cancelled {
            step: Some("send".into())
        }
    );
    assert_eq!(
        ending.cleanup,
        Some(CleanupRecord::Lost {
            step: "send".into()
        })
    );

    // Every write of the old owner carries its old lease, and is refused as fenced.
    let fenced = |result: Result<(), StoreError>, what: &str| match result {
        Err(StoreError::Fenced { id: refused, owner }) => {
            assert_eq!((refused, owner.as_str()), (id, "a"), "{what}")
        }
        other => panic!("{what}: expected Fenced, got {other:?}"),
    };
    fenced(
        a.begin_step(id, 2, "more").await.map(drop),
        "a step boundary",
    );
    fenced(
        a.set_progress(id, Progress { done: 1, total: 2 }).await,
        "progress",
    );
    fenced(a.seal(id).await.map(drop), "a seal");
    fenced(
        a.record_ending(id, &EndingRecord::new(Ended::Completed, 2))
            .await,
        "an ending",
    );
    assert_eq!(replacement.status(id).await.unwrap().unwrap(), record);
    // A later cancel finds the claim's decision.
    let answer = replacement
        .request_cancel(id, &"too late".into(), CancelSource::Request)
        .await
        .unwrap();
    assert_eq!(answer, CancelStatus::AlreadyRequested);

    // The old owner learns that its lease is gone, for good, and takes a new one.
    match a.renew_lease().await.unwrap() {
        LeaseRenewal::Lost { lost, taken, .. } => assert!(taken > lost),
        other => panic!("expected the lease lost, got {other:?}"),
    }
}

#[tokio::test]
async fn two_instances_claiming_at_once_take_each_task_exactly_once_and_end_it_by_its_state() {
    let schema = fresh_schema("lease_race").await;
    let a = leased(&schema, "a").await;
    let b = leased(&schema, "b").await;
    let c = leased(&schema, "c").await;
    // Four kinds of unfinished records: queued, running a step, cancelling (a cancel won),
    // finishing (the owner sealed); and finished ones, which no claim touches.
    let mut by_kind: Vec<(TaskId, &str)> = Vec::new();
    for n in 0..250 {
        let id = TaskId::new();
        let kind = ["queued", "running", "cancelling", "finishing", "finished"][n % 5];
        a.insert(NewTask::new(id, "query").queued()).await.unwrap();
        if kind != "queued" {
            assert!(a.begin_step(id, 0, "prepare").await.unwrap());
        }
        match kind {
            "cancelling" => {
                let answer = b
                    .request_cancel(id, &"user left".into(), CancelSource::Request)
                    .await
                    .unwrap();
                assert_eq!(answer, CancelStatus::Requested);
            }
            "finishing" => assert_eq!(a.seal(id).await.unwrap(), Seal::Sealed),
            "finished" => a
                .record_ending(id, &EndingRecord::new(Ended::Completed, 1))
                .await
                .unwrap(),
            _ => {}
        }
        by_kind.push((id, kind));
    }
    expire(&schema, "a").await;
    let (by_b, by_c) = tokio::join!(b.claim_expired(), c.claim_expired());
    let (by_b, by_c) = (by_b.unwrap(), by_c.unwrap());
    let ids = |claimed: &[task_manager_postgres::ClaimedTask]| -> HashSet<TaskId> {
        claimed.iter().map(|task| task.id).collect()
    };
    let (ids_b, ids_c) = (ids(&by_b), ids(&by_c));
    assert!(ids_b.is_disjoint(&ids_c), "a task claimed twice");
    let unfinished: HashSet<TaskId> = by_kind
        .iter()
        .filter(|(_, kind)| *kind != "finished")
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(&ids_b | &ids_c, unfinished);
    // Claiming again finds nothing.
    assert!(b.claim_expired().await.unwrap().is_empty());

    for (id, kind) in by_kind {
        let record = b.status(id).await.unwrap().unwrap();
        assert_eq!(record.state, TaskState::Finished, "{kind}");
        let ending = record.ending.clone().unwrap();
        let (instance, lease, fence, lost) = claim_columns(&schema, id).await;
        if kind == "finished" {
            assert_eq!((instance.as_str(), fence, lost), ("a", 0, None));
            assert_eq!(ending.ended, Ended::Completed);
            continue;
        }
        let claimant = if ids_b.contains(&id) { &b } else { &c };
        assert_eq!(
            (instance.as_str(), lease, fence, lost.as_deref()),
            (claimant.instance(), claimant.lease_id(), 1, Some("a")),
            "{kind}"
        );
        let reason = record.cancel.as_ref().map(|cancel| cancel.reason.clone());
        match kind {
            "queued" => {
                assert_eq!(ending.ended, Ended::Cancelled { step: None });
                assert_eq!(ending.cleanup, Some(CleanupRecord::NoStepInProgress));
                assert_eq!(reason, Some(CancelReason::owner_lost("a")));
            }
            "running" | "cancelling" => {
                let lost_step = CleanupRecord::Lost {
                    step: "prepare".into(),
                };
                assert_eq!(
                    ending.ended,
                    Ended::Cancelled {
                        step: Some("prepare".into())
                    }
                );
                assert_eq!(ending.cleanup, Some(lost_step));
                let expected = if kind == "running" {
                    CancelReason::owner_lost("a")
                } else {
                    CancelReason::from("user left")
                };
                assert_eq!(reason, Some(expected), "{kind}");
            }
            "finishing" => {
                match &ending.ended {
                    Ended::Failed { step, error } => {
                        assert_eq!(step, "prepare");
                        assert!(
                            error.contains("`a` was lost after the task sealed"),
                            "{error}"
                        );
                    }
                    other => panic!("expected failed, got {other:?}"),
                }
                assert_eq!((reason, ending.cleanup), (None, None));
            }
            _ => unreachable!(),
        }
    }
}

#[tokio::test]
async fn a_live_lease_is_never_claimed_and_an_instance_whose_lease_expired_claims_nothing() {
    let schema = fresh_schema("lease_live").await;
    let a = leased(&schema, "a").await;
    let b = leased(&schema, "b").await;
    let (of_a, of_b) = (TaskId::new(), TaskId::new());
    a.insert(NewTask::new(of_a, "query")).await.unwrap();
    b.insert(NewTask::new(of_b, "query")).await.unwrap();
    assert!(
        b.claim_expired().await.unwrap().is_empty(),
        "a's lease is live"
    );
    // A record written without a lease (the store's own API, no manager) is never claimed.
    let unleased = join(&schema, "c").await;
    let of_c = TaskId::new();
    unleased.insert(NewTask::new(of_c, "query")).await.unwrap();
    expire(&schema, "a").await;
    expire(&schema, "c").await;
    // `a` cannot claim while its own lease is expired, not even its own task.
    assert!(a.claim_expired().await.unwrap().is_empty());
    assert_eq!(
        b.claim_expired()
            .await
            .unwrap()
            .iter()
            .map(|task| task.id)
            .collect::<Vec<_>>(),
        [of_a]
    );
    for id in [of_b, of_c] {
        assert_ne!(
            b.status(id).await.unwrap().unwrap().state,
            TaskState::Finished
        );
    }
}

#[tokio::test]
async fn a_paused_owner_whose_tasks_were_claimed_by_its_replacement_writes_nothing_more() {
    use task_manager_core::{Cluster, TaskManager};
    let schema = fresh_schema("lease_stale").await;
    // The paused owner: attached to a manager, so that its writes are queued as a running
    // instance's are, and holding the lease its manager took.
    let stale = join(&schema, "a").await;
    let _manager = TaskManager::builder()
        .cluster(stale.clone())
        .build()
        .expect("builds");
    let id = TaskId::new();
    Cluster::reserve(&stale, id).await.expect("reserved");
    let lease = stale
        .lease_id()
        .expect("the reservation waited for the lease");
    expire(&schema, "a").await;
    // Its replacement, under the same name, claims the task.
    let replacement = leased(&schema, "a").await;
    assert_eq!(replacement.claim_expired().await.unwrap().len(), 1);
    let claimed = replacement.status(id).await.unwrap().unwrap();
    // The stale owner wakes and goes on writing, with its old lease: every write matches
    // nothing, including naming the task's flow, which no state of the record refuses.
    assert_eq!(stale.lease_id(), Some(lease));
    Cluster::submitted(&stale, id, "renamed", false);
    Cluster::step_began(&stale, id, 3, "late");
    stale.flush().await;
    assert_eq!(replacement.status(id).await.unwrap().unwrap(), claimed);
    assert_eq!(claimed.flow, "");
}

#[tokio::test]
async fn a_task_lost_after_sealing_ends_as_its_seal_said_completed_or_failed() {
    use task_manager_core::{Cluster, ClusterTaskEnded, ClusterTaskState, SealedAs};

    let schema = fresh_schema("lease_sealed_as").await;
    let a = leased(&schema, "a").await;
    let b = leased(&schema, "b").await;
    // Sealed by the runner's seal (core's `seal_as`), then lost before the ending is
    // recorded: one after its three steps returned, one after its second step failed, and
    // one sealed by the store's own `seal`, which says nothing.
    let (completed, failed, unsaid) = (TaskId::new(), TaskId::new(), TaskId::new());
    for id in [completed, failed, unsaid] {
        a.insert(NewTask::new(id, "query")).await.unwrap();
        assert!(a.begin_step(id, 0, "prepare").await.unwrap());
        assert!(a.begin_step(id, 1, "send").await.unwrap());
    }
    assert!(a.begin_step(completed, 2, "receive").await.unwrap());
    let sealed = Cluster::seal_as(&a, completed, SealedAs::Completed { steps_completed: 3 });
    assert_eq!(
        sealed.await.unwrap(),
        task_manager_core::ClusterSeal::Sealed
    );
    let sealed = Cluster::seal_as(&a, failed, SealedAs::Failed);
    assert_eq!(
        sealed.await.unwrap(),
        task_manager_core::ClusterSeal::Sealed
    );
    assert_eq!(a.seal(unsaid).await.unwrap(), Seal::Sealed);
    expire(&schema, "a").await;
    let claimed = b.claim_expired().await.unwrap();
    assert_eq!(claimed.len(), 3);
    assert!(claimed.iter().all(|task| !task.recovering));

    // Sealed completed: the claim records it completed, all its steps, no cleanup, no cancel.
    let record = b.status(completed).await.unwrap().unwrap();
    assert_eq!(record.state, TaskState::Finished);
    let ending = record.ending.clone().expect("an ending");
    assert_eq!(ending.ended, Ended::Completed);
    assert_eq!((ending.steps_completed, ending.cleanup), (3, None));
    assert_eq!((record.steps_completed, record.cancel), (3, None));
    // What `status_in_cluster` reads.
    let status = Cluster::status(&b, completed).await.unwrap().unwrap();
    assert_eq!(status.state, ClusterTaskState::Finished);
    assert_eq!(status.ended, Some(ClusterTaskEnded::Completed));
    assert_eq!((status.steps_completed, status.cleanup), (3, None));

    // Sealed failed, or sealed without saying: `failed` as before, naming the lost instance
    // (the step's error is the user's value: the store never had it).
    for id in [failed, unsaid] {
        let record = b.status(id).await.unwrap().unwrap();
        let ending = record.ending.clone().expect("an ending");
        match &ending.ended {
            Ended::Failed { step, error } => {
                assert_eq!(step, "send");
                assert!(
                    error.contains("`a` was lost after the task sealed"),
                    "{error}"
                );
            }
            other => panic!("expected failed, got {other:?}"),
        }
        assert_eq!((ending.steps_completed, ending.cleanup), (1, None));
        assert_eq!(record.cancel, None);
    }
}
