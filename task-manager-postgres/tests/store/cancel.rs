//! A cancel from any instance is decided by one conditional update against the owner's own
//! seal: one answer per request, exactly one winner, and the record agrees.

use task_manager_core::{CancelReason, CancelSource, CancelStatus, TaskId};
use task_manager_postgres::{Ended, EndingRecord, NewTask, Seal, TaskState};

use crate::support::{fresh_schema, join};

#[tokio::test]
async fn every_answer_of_the_single_answer_rule() {
    let schema = fresh_schema("answers").await;
    let (a, b) = (join(&schema, "a").await, join(&schema, "b").await);
    let first = CancelReason::from("first");
    let second = CancelReason::from("second");

    // Unknown id.
    assert_eq!(
        b.request_cancel(TaskId::new(), &first, CancelSource::Request)
            .await
            .unwrap(),
        CancelStatus::NotFound
    );

    // Requested, then AlreadyRequested: the first reason stands.
    let id = TaskId::new();
    a.insert(NewTask::new(id, "query")).await.unwrap();
    a.begin_step(id, 0, "prepare").await.unwrap();
    assert_eq!(
        b.request_cancel(id, &first, CancelSource::Request)
            .await
            .unwrap(),
        CancelStatus::Requested
    );
    assert_eq!(
        a.request_cancel(id, &second, CancelSource::CancelAll)
            .await
            .unwrap(),
        CancelStatus::AlreadyRequested
    );
    let record = a.status(id).await.unwrap().unwrap();
    assert_eq!(record.state, TaskState::Cancelling);
    let cancel = record.cancel.unwrap();
    assert_eq!(
        (cancel.reason, cancel.source, cancel.requested_by.as_str()),
        (first.clone(), CancelSource::Request, "b")
    );
    // A cancelled task stays "already requested" once its ending is recorded.
    a.record_ending(
        id,
        &EndingRecord::new(
            Ended::Cancelled {
                step: Some("prepare".into()),
            },
            0,
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        b.request_cancel(id, &second, CancelSource::Request)
            .await
            .unwrap(),
        CancelStatus::AlreadyRequested
    );

    // A queued task is cancellable.
    let queued = TaskId::new();
    a.insert(NewTask::new(queued, "query").queued())
        .await
        .unwrap();
    assert_eq!(
        b.request_cancel(queued, &CancelReason::Timeout, CancelSource::Timeout)
            .await
            .unwrap(),
        CancelStatus::Requested
    );

    // Sealed, then finished by itself: AlreadyFinished both times.
    let done = TaskId::new();
    a.insert(NewTask::new(done, "query")).await.unwrap();
    assert_eq!(a.seal(done).await.unwrap(), Seal::Sealed);
    assert_eq!(
        b.request_cancel(done, &first, CancelSource::Request)
            .await
            .unwrap(),
        CancelStatus::AlreadyFinished
    );
    a.record_ending(done, &EndingRecord::new(Ended::Completed, 1))
        .await
        .unwrap();
    assert_eq!(
        b.request_cancel(done, &first, CancelSource::Request)
            .await
            .unwrap(),
        CancelStatus::AlreadyFinished
    );
    assert!(a.status(done).await.unwrap().unwrap().cancel.is_none());
}

#[tokio::test]
async fn a_seal_after_a_cancel_learns_the_winning_reason() {
    let schema = fresh_schema("seal_loses").await;
    let (a, b) = (join(&schema, "a").await, join(&schema, "b").await);
    let id = TaskId::new();
    a.insert(NewTask::new(id, "query")).await.unwrap();
    let reason = CancelReason::QueueWaitExceeded {
        max_wait: std::time::Duration::from_millis(1500),
    };
    b.request_cancel(id, &reason, CancelSource::MaxWait)
        .await
        .unwrap();
    match a.seal(id).await.unwrap() {
        Seal::CancelWon(cancel) => {
            assert_eq!(cancel.reason, reason);
            assert_eq!(cancel.source, CancelSource::MaxWait);
            assert_eq!(cancel.requested_by, "b");
        }
        Seal::Sealed => panic!("the seal won after the cancel"),
    }
    // A step boundary after the cancel writes nothing.
    assert!(!a.begin_step(id, 1, "send").await.unwrap());
}

/// The owner seals while two other instances cancel, each on its own connection, at once.
/// Every round: exactly one wins; the losers' answers name the winner's kind; the record
/// says the same, before and after the ending is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seal_and_two_cancels_racing_have_exactly_one_winner() {
    const ROUNDS: usize = 300;
    let schema = fresh_schema("race").await;
    let (a, b, c) = (
        join(&schema, "a").await,
        join(&schema, "b").await,
        join(&schema, "c").await,
    );
    let (by_b, by_c) = (CancelReason::from("from b"), CancelReason::from("from c"));
    let mut wins = [0usize; 3];
    for round in 0..ROUNDS {
        let id = TaskId::new();
        a.insert(NewTask::new(id, "race")).await.unwrap();
        let (seal, from_b, from_c) = tokio::join!(
            a.seal(id),
            b.request_cancel(id, &by_b, CancelSource::Request),
            c.request_cancel(id, &by_c, CancelSource::Request),
        );
        let (seal, from_b, from_c) = (seal.unwrap(), from_b.unwrap(), from_c.unwrap());
        let record = a.status(id).await.unwrap().unwrap();
        let context = format!("round {round}: {seal:?} {from_b:?} {from_c:?} {record:?}");
        let winner = match (&seal, from_b, from_c) {
            (Seal::Sealed, CancelStatus::AlreadyFinished, CancelStatus::AlreadyFinished) => {
                assert_eq!(record.state, TaskState::Finishing, "{context}");
                assert!(record.cancel.is_none(), "{context}");
                0
            }
            (Seal::CancelWon(won), CancelStatus::Requested, CancelStatus::AlreadyRequested) => {
                assert_eq!(won.reason, by_b, "{context}");
                assert_eq!(
                    record.cancel.as_ref().map(|c| &c.reason),
                    Some(&by_b),
                    "{context}"
                );
                1
            }
            (Seal::CancelWon(won), CancelStatus::AlreadyRequested, CancelStatus::Requested) => {
                assert_eq!(won.reason, by_c, "{context}");
                assert_eq!(
                    record.cancel.as_ref().map(|c| &c.reason),
                    Some(&by_c),
                    "{context}"
                );
                2
            }
            _ => panic!("not exactly one winner, or answers that disagree: {context}"),
        };
        wins[winner] += 1;
        // The owner ends the task as the decision says, and the final record agrees.
        let ended = if winner == 0 {
            Ended::Completed
        } else {
            Ended::Cancelled { step: None }
        };
        a.record_ending(id, &EndingRecord::new(ended.clone(), 0))
            .await
            .unwrap();
        let last = a.status(id).await.unwrap().unwrap();
        assert_eq!(last.state, TaskState::Finished);
        assert_eq!(last.ending.map(|e| e.ended), Some(ended));
        assert_eq!(last.cancel.is_some(), winner != 0);
    }
    println!(
        "{ROUNDS} rounds: seal won {}, b won {}, c won {}",
        wins[0], wins[1], wins[2]
    );
}
