//! Cancels reach the instance that owns the task: by NOTIFY while its listener is
//! connected, by the re-scan after it reconnects (NOTIFY is lost while it is away), and by
//! the periodic backstop scan.

use std::time::Duration;

use task_manager_core::{CancelReason, CancelSource, CancelStatus, TaskId};
use task_manager_postgres::{CancelEvent, NewTask, PgCluster, StoreError, TaskState};

use crate::support::{admin, fresh_schema, join, next_cancel, next_event, url_with, DEADLINE};

/// Joins with no backstop scan in the test's time: what arrives came by NOTIFY or by the
/// scan after a (re)connect.
async fn join_without_backstop(url: &str, schema: &str, instance: &str) -> PgCluster {
    PgCluster::connect(url)
        .instance(instance)
        .schema(schema)
        .rescan_every(Duration::from_secs(3600))
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .await
        .unwrap_or_else(|e| panic!("joining as `{instance}`: {e}"))
}

#[tokio::test]
async fn a_cancel_reaches_its_owner_and_no_other_instance() {
    let schema = fresh_schema("to_owner").await;
    let url = crate::support::url();
    let a = join_without_backstop(url, &schema, "a").await;
    let b = join_without_backstop(url, &schema, "b").await;
    let c = join_without_backstop(url, &schema, "c").await;
    let (mut to_a, mut to_b) = (a.listen().await.unwrap(), b.listen().await.unwrap());
    let (of_a, of_b) = (TaskId::new(), TaskId::new());
    a.insert(NewTask::new(of_a, "query")).await.unwrap();
    b.insert(NewTask::new(of_b, "query")).await.unwrap();

    let reason = CancelReason::from("user left");
    assert_eq!(
        c.request_cancel(of_a, &reason, CancelSource::Request)
            .await
            .unwrap(),
        CancelStatus::Requested
    );
    let (cancel, _) = next_cancel(&mut to_a).await;
    assert_eq!(
        (
            cancel.id,
            &cancel.reason,
            cancel.source,
            cancel.requested_by.as_str()
        ),
        (of_a, &reason, CancelSource::Request, "c")
    );
    // The listener marks it taken right after handing it over.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let record = c.status(of_a).await.unwrap().unwrap();
        if record.cancel.unwrap().delivered_at.is_some() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never marked taken");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // B's stream holds nothing of A's: its first cancel is its own task's.
    c.request_cancel(of_b, &reason, CancelSource::Request)
        .await
        .unwrap();
    let (cancel, _) = next_cancel(&mut to_b).await;
    assert_eq!(cancel.id, of_b);
}

#[tokio::test]
async fn a_cancel_made_while_the_listener_is_away_is_delivered_when_it_is_back() {
    // A database of this test's own, so that refusing connections to it stops no other test.
    let database = format!("tm_listener_away_{}", std::process::id());
    let admin = admin().await;
    for statement in [
        format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
        format!("CREATE DATABASE {database}"),
    ] {
        admin.batch_execute(&statement).await.unwrap();
    }
    let url = url_with(None, Some(&database));
    let a = join_without_backstop(&url, "task_manager", "a").await;
    let b = join_without_backstop(&url, "task_manager", "b").await;
    let id = TaskId::new();
    a.insert(NewTask::new(id, "query")).await.unwrap();
    let mut cancels = a.listen().await.unwrap();

    // Cut A's listening connection, and keep it from coming back.
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {database} ALLOW_CONNECTIONS false"
        ))
        .await
        .unwrap();
    let killed: bool = admin
        .query_one(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity
              WHERE datname = $1 AND application_name = 'tm-listen a'",
            &[&database],
        )
        .await
        .expect("A's listener has a backend")
        .get(0);
    assert!(killed);
    // The loss, then a failed reconnection: both typed, both "unavailable".
    for _ in 0..2 {
        match next_event(&mut cancels).await {
            CancelEvent::Error(error) => assert!(error.is_unavailable(), "{error:?}"),
            other => panic!("expected an error while the listener is away, got {other:?}"),
        }
    }

    // The cancel commits while nobody listens: its NOTIFY is lost.
    assert_eq!(
        b.request_cancel(id, &"while away".into(), CancelSource::Request)
            .await
            .unwrap(),
        CancelStatus::Requested
    );
    admin
        .batch_execute(&format!("ALTER DATABASE {database} ALLOW_CONNECTIONS true"))
        .await
        .unwrap();

    // Back: first the reconnection, then the cancel, found by the re-scan.
    let (cancel, before) = next_cancel(&mut cancels).await;
    assert_eq!(cancel.id, id);
    assert_eq!(cancel.reason, CancelReason::from("while away"));
    assert!(
        matches!(
            before.last(),
            Some(CancelEvent::Listening { reconnects: 1 })
        ),
        "{before:?}"
    );
    assert!(
        before.iter().all(|event| match event {
            CancelEvent::Error(error) => error.is_unavailable(),
            _ => true,
        }),
        "{before:?}"
    );

    drop((cancels, a, b));
    admin
        .batch_execute(&format!("DROP DATABASE {database} WITH (FORCE)"))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_backstop_scan_finds_a_cancel_whose_notification_was_lost() {
    let schema = fresh_schema("backstop").await;
    let a = PgCluster::connect(crate::support::url())
        .instance("a")
        .schema(&schema)
        .rescan_every(Duration::from_millis(50))
        .await
        .unwrap();
    let mut cancels = a.listen().await.unwrap();
    let id = TaskId::new();
    a.insert(NewTask::new(id, "query")).await.unwrap();
    // A cancel written without its NOTIFY, as if the notification had been lost.
    admin()
        .await
        .execute(
            &format!(
                "UPDATE \"{schema}\".tasks
                    SET state = 'cancelling', cancel_kind = 'shutdown', cancel_source = 'shutdown',
                        cancel_by = 'b', cancel_requested_at = now()
                  WHERE id = $1::text::uuid"
            ),
            &[&id.to_string()],
        )
        .await
        .unwrap();
    let (cancel, _) = next_cancel(&mut cancels).await;
    assert_eq!((cancel.id, cancel.reason), (id, CancelReason::Shutdown));
}

#[tokio::test]
async fn one_listener_per_instance() {
    let schema = fresh_schema("one_listener").await;
    let a = join(&schema, "a").await;
    let first = a.listen().await.unwrap();
    assert!(matches!(
        a.clone().listen().await,
        Err(StoreError::AlreadyListening { instance }) if instance == "a"
    ));
    drop(first);
    // Cancels made while nobody listened wait in the store for the next listener.
    let id = TaskId::new();
    a.insert(NewTask::new(id, "query")).await.unwrap();
    a.request_cancel(id, &"queued up".into(), CancelSource::Request)
        .await
        .unwrap();
    let mut second = a.listen().await.unwrap();
    let (cancel, _) = next_cancel(&mut second).await;
    assert_eq!(cancel.id, id);
}

#[tokio::test]
async fn the_store_reconnects_after_its_connection_is_cut() {
    let schema = fresh_schema("store_reconnect").await;
    let a = join(&schema, "store-cut").await;
    let id = TaskId::new();
    a.insert(NewTask::new(id, "query")).await.unwrap();
    let killed: bool = admin()
        .await
        .query_one(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity
              WHERE application_name = 'task-manager store-cut'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(killed);
    // The first statement may meet the dead connection (a typed error); the next reconnects.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match a.status(id).await {
            Ok(record) => {
                assert_eq!(record.unwrap().state, TaskState::Running);
                break;
            }
            Err(error) => assert!(error.is_unavailable(), "{error:?}"),
        }
        assert!(tokio::time::Instant::now() < deadline, "no reconnection");
    }
    // The reconnected store has its statements again.
    assert_eq!(
        a.request_cancel(id, &"after the cut".into(), CancelSource::Request)
            .await
            .unwrap(),
        CancelStatus::Requested
    );
}
