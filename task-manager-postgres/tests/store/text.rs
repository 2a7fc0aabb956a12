//! Reasons, messages and names are user input: quotes, SQL, backslashes, unicode and NUL
//! come back byte for byte, through the record and through delivery.

use std::collections::HashMap;
use std::time::Duration;

use task_manager_core::{CancelReason, CancelSource, CancelStatus, TaskId};
use task_manager_postgres::{
    CleanupRecord, ConnectError, Ended, EndingRecord, NewTask, PgCluster, StoreError,
};

use crate::support::{fresh_schema, join, next_cancel, url};

fn hostile_texts() -> Vec<String> {
    vec![
        String::new(),
        "it's".to_owned(),
        "\"double\" and 'single' quotes".to_owned(),
        "'); DROP TABLE tasks; --".to_owned(),
        "back\\slash \\0 \\x00 $1 $$ %s".to_owned(),
        "\0".to_owned(),
        "nul\0in the middle\0".to_owned(),
        "\0\0leading NULs".to_owned(),
        "unicode: ünïcødé, 日本語, עברית, e\u{301}, \u{1F680}\u{200D}".to_owned(),
        "line\nbreak\r\ttab".to_owned(),
        "x".repeat(20_000) + "\0end",
    ]
}

#[tokio::test]
async fn reasons_round_trip_byte_for_byte() {
    let schema = fresh_schema("reasons").await;
    let (a, b) = (join(&schema, "a").await, join(&schema, "b").await);
    let mut cancels = a.listen().await.unwrap();
    let mut sent = HashMap::new();
    for text in hostile_texts() {
        let id = TaskId::new();
        a.insert(NewTask::new(id, "query")).await.unwrap();
        let reason = CancelReason::from(text);
        assert_eq!(
            b.request_cancel(id, &reason, CancelSource::Request)
                .await
                .unwrap(),
            CancelStatus::Requested
        );
        let record = b.status(id).await.unwrap().unwrap();
        assert_eq!(record.cancel.unwrap().reason, reason);
        sent.insert(id, reason);
    }
    while !sent.is_empty() {
        let (cancel, _) = next_cancel(&mut cancels).await;
        let reason = sent
            .remove(&cancel.id)
            .expect("a cancel sent once, delivered once");
        assert_eq!(cancel.reason, reason);
    }
}

#[tokio::test]
async fn messages_round_trip_byte_for_byte() {
    let schema = fresh_schema("messages").await;
    let a = join(&schema, "a").await;
    for text in hostile_texts() {
        for ending in [
            EndingRecord::new(
                Ended::Failed {
                    step: "send".into(),
                    error: text.clone(),
                },
                1,
            ),
            EndingRecord::new(
                Ended::Panicked {
                    step: "send".into(),
                    message: text.clone(),
                },
                1,
            )
            .with_cleanup(CleanupRecord::Panicked {
                step: "send".into(),
                message: text.clone(),
            }),
        ] {
            let id = TaskId::new();
            a.insert(NewTask::new(id, "query")).await.unwrap();
            a.record_ending(id, &ending).await.unwrap();
            assert_eq!(a.status(id).await.unwrap().unwrap().ending, Some(ending));
        }
    }
    let id = TaskId::new();
    a.insert(NewTask::new(id, "query")).await.unwrap();
    let timed_out = EndingRecord::new(
        Ended::Cancelled {
            step: Some("send".into()),
        },
        0,
    )
    .with_cleanup(CleanupRecord::TimedOut {
        step: "send".into(),
        after: Duration::from_secs(5),
    });
    a.request_cancel(id, &CancelReason::Shutdown, CancelSource::Shutdown)
        .await
        .unwrap();
    a.record_ending(id, &timed_out).await.unwrap();
    assert_eq!(a.status(id).await.unwrap().unwrap().ending, Some(timed_out));
}

#[tokio::test]
async fn names_hold_anything_but_nul() {
    let schema = fresh_schema("names").await;
    // An instance named with quotes and unicode owns tasks and receives its cancels (its
    // channel's name is derived, not quoted).
    let odd = "api-'1'; \"ü\" \u{1F680} \\";
    let owner = join(&schema, odd).await;
    let other = join(&schema, "b").await;
    let mut cancels = owner.listen().await.unwrap();
    let id = TaskId::new();
    let flow = "flow 'with' \"quotes\"";
    owner.insert(NewTask::new(id, flow)).await.unwrap();
    owner.begin_step(id, 0, "step ü").await.unwrap();
    other
        .request_cancel(id, &"stop".into(), CancelSource::Request)
        .await
        .unwrap();
    let (cancel, _) = next_cancel(&mut cancels).await;
    assert_eq!(cancel.id, id);
    let record = other.status(id).await.unwrap().unwrap();
    assert_eq!(
        (record.instance.as_str(), record.flow.as_str()),
        (odd, flow)
    );
    assert_eq!(record.step, Some(("step ü".to_owned(), 0)));

    // NUL: refused, with a typed error, before anything is sent.
    match owner.insert(NewTask::new(TaskId::new(), "a\0b")).await {
        Err(StoreError::Nul { field, value }) => {
            assert_eq!((field, value.as_str()), ("flow name", "a\\0b"))
        }
        other => panic!("expected Nul, got {other:?}"),
    }
    assert!(matches!(
        owner.begin_step(id, 1, "s\0").await,
        Err(StoreError::Nul { .. })
    ));
    assert!(matches!(
        PgCluster::connect(url())
            .instance("a\0b")
            .schema(&schema)
            .await,
        Err(ConnectError::InvalidInstance { .. })
    ));
}
