//! Task records: one per id across the cluster, written by the owner through the task's
//! life, read by anyone, purged after the retention time.

use std::time::Duration;

use task_manager_core::{CancelReason, CancelSource, CancelStatus, Progress, TaskId};
use task_manager_postgres::{
    CleanupRecord, Ended, EndingRecord, Listing, NewTask, Seal, StoreError, TaskState,
};

use crate::support::{admin, fresh_schema, join};

#[tokio::test]
async fn an_id_is_refused_a_second_time_on_any_instance() {
    let schema = fresh_schema("duplicate").await;
    let (a, b) = (join(&schema, "a").await, join(&schema, "b").await);
    let id = TaskId::new();
    a.insert(NewTask::new(id, "query")).await.unwrap();
    for (who, again) in [("b", &b), ("a", &a)] {
        match again.insert(NewTask::new(id, "other").queued()).await {
            Err(StoreError::DuplicateId { id: refused }) => assert_eq!(refused, id),
            other => panic!("{who}: expected DuplicateId, got {other:?}"),
        }
    }
    let record = b.status(id).await.unwrap().unwrap();
    assert_eq!(
        (record.instance.as_str(), record.flow.as_str()),
        ("a", "query")
    );
}

#[tokio::test]
async fn a_record_follows_its_task_from_queue_to_end() {
    let schema = fresh_schema("lifecycle").await;
    let (a, b) = (join(&schema, "a").await, join(&schema, "b").await);
    let id = TaskId::new();
    a.insert(NewTask::new(id, "query").queued()).await.unwrap();
    let queued = b.status(id).await.unwrap().unwrap();
    assert_eq!(queued.state, TaskState::Queued);
    assert_eq!((queued.step.clone(), queued.started_at), (None, None));

    assert!(a.begin_step(id, 0, "prepare").await.unwrap());
    a.set_progress(id, Progress { done: 3, total: 7 })
        .await
        .unwrap();
    let running = b.status(id).await.unwrap().unwrap();
    assert_eq!(running.state, TaskState::Running);
    assert_eq!(running.step, Some(("prepare".to_owned(), 0)));
    assert_eq!(running.progress, Some(Progress { done: 3, total: 7 }));
    assert!(running.started_at.is_some());

    assert!(a.begin_step(id, 1, "send").await.unwrap());
    // Completed: the seal and the final record in one update.
    a.record_ending(id, &EndingRecord::new(Ended::Completed, 2))
        .await
        .unwrap();
    let finished = b.status(id).await.unwrap().unwrap();
    assert_eq!(finished.state, TaskState::Finished);
    assert_eq!(
        finished.ending,
        Some(EndingRecord::new(Ended::Completed, 2))
    );
    assert_eq!(finished.steps_completed, 2);
    assert!(finished.ended_at >= finished.started_at);
    assert!(finished.cancel.is_none());

    // Listings, from any instance.
    let other = TaskId::new();
    b.insert(NewTask::new(other, "upload")).await.unwrap();
    let of_a: Vec<_> = b
        .list(&Listing::new().instance("a"))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(of_a, [id]);
    let running: Vec<_> = a
        .list(&Listing::new().states(&[TaskState::Running, TaskState::Queued]))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(running, [other]);
    let uploads = a
        .list(&Listing::new().flow("upload").limit(5))
        .await
        .unwrap();
    assert_eq!(uploads.len(), 1);
    assert_eq!(a.list(&Listing::new()).await.unwrap().len(), 2);
}

#[tokio::test]
async fn only_the_owner_writes_its_record() {
    let schema = fresh_schema("owner").await;
    let (a, b) = (join(&schema, "a").await, join(&schema, "b").await);
    let id = TaskId::new();
    a.insert(NewTask::new(id, "query")).await.unwrap();
    let not_owner = |result: Result<(), StoreError>| match result {
        Err(StoreError::NotOwner { owner, .. }) => assert_eq!(owner, "a"),
        other => panic!("expected NotOwner, got {other:?}"),
    };
    not_owner(b.begin_step(id, 0, "prepare").await.map(drop));
    not_owner(b.seal(id).await.map(drop));
    not_owner(
        b.record_ending(id, &EndingRecord::new(Ended::Completed, 0))
            .await,
    );
    not_owner(b.set_progress(id, Progress { done: 1, total: 2 }).await);

    let unknown = TaskId::new();
    assert!(matches!(
        a.seal(unknown).await,
        Err(StoreError::NotFound { id }) if id == unknown
    ));
    assert!(a.status(unknown).await.unwrap().is_none());
}

#[tokio::test]
async fn a_panicked_step_seals_first_then_records_its_cleanup() {
    let schema = fresh_schema("panicked").await;
    let (a, b) = (join(&schema, "a").await, join(&schema, "b").await);
    let id = TaskId::new();
    a.insert(NewTask::new(id, "query")).await.unwrap();
    a.begin_step(id, 0, "prepare").await.unwrap();
    assert_eq!(a.seal(id).await.unwrap(), Seal::Sealed);
    // Sealed: a cancel now changes nothing, and a step boundary is refused.
    let reason = CancelReason::from("too late");
    assert_eq!(
        b.request_cancel(id, &reason, CancelSource::Request)
            .await
            .unwrap(),
        CancelStatus::AlreadyFinished
    );
    assert!(!a.begin_step(id, 1, "send").await.unwrap());
    assert_eq!(
        b.status(id).await.unwrap().unwrap().state,
        TaskState::Finishing
    );

    let ending = EndingRecord::new(
        Ended::Panicked {
            step: "prepare".into(),
            message: "index out of bounds".into(),
        },
        0,
    )
    .with_cleanup(CleanupRecord::Completed {
        step: "prepare".into(),
        duration: Duration::from_micros(1234),
    });
    a.record_ending(id, &ending).await.unwrap();
    let record = b.status(id).await.unwrap().unwrap();
    assert_eq!(record.ending, Some(ending));
    assert!(record.cancel.is_none());
}

#[tokio::test]
async fn the_ending_must_agree_with_who_decided_it() {
    let schema = fresh_schema("agree").await;
    let (a, b) = (join(&schema, "a").await, join(&schema, "b").await);
    let reason = CancelReason::from("stop");

    // A cancel won: only a Cancelled ending is accepted.
    let cancelled = TaskId::new();
    a.insert(NewTask::new(cancelled, "query")).await.unwrap();
    b.request_cancel(cancelled, &reason, CancelSource::Request)
        .await
        .unwrap();
    match a
        .record_ending(cancelled, &EndingRecord::new(Ended::Completed, 1))
        .await
    {
        Err(StoreError::Refused {
            state: TaskState::Cancelling,
            ..
        }) => {}
        other => panic!("expected Refused, got {other:?}"),
    }
    let ending = EndingRecord::new(Ended::Cancelled { step: None }, 1)
        .with_cleanup(CleanupRecord::NoStepInProgress);
    a.record_ending(cancelled, &ending).await.unwrap();
    // Once recorded, the ending stays.
    match a.record_ending(cancelled, &ending).await {
        Err(StoreError::Refused {
            state: TaskState::Finished,
            ..
        }) => {}
        other => panic!("expected Refused, got {other:?}"),
    }

    // No cancel won: a Cancelled ending is refused.
    let running = TaskId::new();
    a.insert(NewTask::new(running, "query")).await.unwrap();
    match a
        .record_ending(
            running,
            &EndingRecord::new(Ended::Cancelled { step: None }, 0),
        )
        .await
    {
        Err(StoreError::Refused {
            state: TaskState::Running,
            ..
        }) => {}
        other => panic!("expected Refused, got {other:?}"),
    }
}

#[tokio::test]
async fn finished_records_are_purged_after_the_retention_time() {
    let schema = fresh_schema("purge").await;
    let a = task_manager_postgres::PgCluster::connect(crate::support::url())
        .instance("a")
        .schema(&schema)
        .keep_finished(Duration::from_secs(3600))
        .await
        .unwrap();
    let (old_finished, new_finished, old_running) = (TaskId::new(), TaskId::new(), TaskId::new());
    for id in [old_finished, new_finished, old_running] {
        a.insert(NewTask::new(id, "query")).await.unwrap();
    }
    for id in [old_finished, new_finished] {
        a.record_ending(id, &EndingRecord::new(Ended::Completed, 1))
            .await
            .unwrap();
    }
    // Age two records by two hours, as if they had been written then.
    let admin = admin().await;
    for id in [old_finished, old_running] {
        admin
            .execute(
                &format!(
                    "UPDATE \"{schema}\".tasks
                        SET submitted_at = submitted_at - interval '2 hours',
                            ended_at = ended_at - interval '2 hours'
                      WHERE id = $1::text::uuid"
                ),
                &[&id.to_string()],
            )
            .await
            .unwrap();
    }
    assert_eq!(a.purge_finished().await.unwrap(), 1);
    assert!(a.status(old_finished).await.unwrap().is_none());
    assert!(a.status(new_finished).await.unwrap().is_some());
    assert!(
        a.status(old_running).await.unwrap().is_some(),
        "unfinished records stay"
    );
    // A shorter retention, given on the call.
    assert_eq!(
        a.purge_finished_older_than(Duration::ZERO).await.unwrap(),
        1
    );
    assert!(a.status(new_finished).await.unwrap().is_none());
    // A purged task is unknown to a cancel.
    assert_eq!(
        a.request_cancel(old_finished, &"late".into(), CancelSource::Request)
            .await
            .unwrap(),
        CancelStatus::NotFound
    );
}
