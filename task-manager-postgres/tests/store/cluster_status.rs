//! `status_in_cluster` and `snapshot_in_cluster` through the manager, across OS processes: a
//! task running on instance A, seen from instance B in each state (queued, running a step,
//! cancelling, finished), and an unknown id. Each read follows the write it must see: A's
//! `flush` (its queued step boundaries and endings applied) or a state the store decides
//! (a cancel), so no wait is a sleep.

use task_manager_core::TaskId;

use crate::nodes::{hex, Node};
use crate::support::fresh_schema;

/// B's answer to `status TAG ID`: its words (`STATE STEP DONE INSTANCE ENDED`, or `none`).
fn status(node: &mut Node, tag: &str, id: TaskId) -> String {
    node.send(&format!("status {tag} {id}"));
    node.answer(&format!("status {tag}")).join(" ")
}

/// B's answer to `snapshot TAG`: `ID:STATE:INSTANCE` per unfinished task.
fn snapshot(node: &mut Node, tag: &str) -> Vec<String> {
    node.send(&format!("snapshot {tag}"));
    let words = node.answer(&format!("snapshot {tag}"));
    assert!(
        !words.first().is_some_and(|w| w.starts_with("error:")),
        "snapshot failed: {words:?}"
    );
    words.into_iter().filter(|w| !w.is_empty()).collect()
}

#[test]
fn a_task_on_a_seen_from_b_in_each_state() {
    let schema = tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(fresh_schema("p_status"));
    // A's flow takes one task at a time (cluster-wide): the second one queues.
    let mut a = Node::start_with(&schema, "a", "limit=1");
    let mut b = Node::start_with(&schema, "b", "limit=1");

    let running = TaskId::new();
    let queued = TaskId::new();
    a.submit(running, true, 0);
    assert_eq!(a.answer(&format!("submitted {running}")), ["ok"]);
    a.wait_line(|l| l == format!("began {running} 0"));
    a.submit(queued, true, 0);
    assert_eq!(a.answer(&format!("submitted {queued}")), ["ok"]);
    a.wait_line(|l| l == format!("queued {queued}"));
    a.flush();

    // Unknown id.
    assert_eq!(status(&mut b, "unknown", TaskId::new()), "none");
    // Queued: no step yet.
    assert_eq!(status(&mut b, "queued", queued), "Queued - 0 a -");
    // Running its first step.
    assert_eq!(status(&mut b, "running", running), "Running s0:0 0 a -");
    // Running its second step (after A's boundary write).
    a.open(running, 0);
    a.wait_line(|l| l == format!("began {running} 1"));
    a.flush();
    assert_eq!(status(&mut b, "step1", running), "Running s1:1 1 a -");
    let listed = snapshot(&mut b, "both");
    assert_eq!(
        listed,
        [format!("{running}:Running:a"), format!("{queued}:Queued:a")]
    );

    // Cancelling: the store decided B's cancel; A's cleanup holds at its gate.
    b.cancel(running, "seen from b");
    assert_eq!(b.answer(&format!("cancel {running}")), ["Requested"]);
    a.wait_line(|l| l == format!("cleanup {running} 1"));
    assert_eq!(
        status(&mut b, "cancelling", running),
        "Cancelling s1:1 1 a -"
    );

    // Finished, cancelled; the queued task then runs.
    a.open(running, 101);
    a.wait_line(|l| l == format!("ended {running} cancelled s1 {}", hex("seen from b")));
    a.wait_line(|l| l == format!("began {queued} 0"));
    a.flush();
    assert_eq!(
        status(&mut b, "finished", running),
        "Finished s1:1 1 a Cancelled"
    );
    assert_eq!(snapshot(&mut b, "one"), [format!("{queued}:Running:a")]);

    // Finished by itself.
    a.release(queued);
    a.wait_line(|l| l == format!("ended {queued} completed - -"));
    a.flush();
    // The step named is the last boundary the store took before the ending was decided:
    // the boundary writes are queued, and one that arrives after the seal is not applied
    // (a decided record never changes but for its ending). The steps completed are exact.
    let words: Vec<String> = status(&mut b, "completed", queued)
        .split(' ')
        .map(str::to_owned)
        .collect();
    assert_eq!(
        [&words[0], &words[2], &words[3], &words[4]],
        ["Finished", "3", "a", "Completed"],
        "{words:?}"
    );
    assert!(snapshot(&mut b, "none").is_empty());
}

/// A task its runtime dropped is recorded `failed` with no step (what the owner's final
/// record writes for `EndedAs::Dropped`); its record stays readable, and a manager reads it
/// as a failure with no step.
#[tokio::test]
async fn a_task_dropped_by_its_runtime_stays_readable() {
    use task_manager_core::{Cluster, ClusterTaskEnded, ClusterTaskState};
    use task_manager_postgres::{Ended, NewTask};

    let schema = fresh_schema("p_status_dropped").await;
    let a = crate::support::join(&schema, "a").await;
    let id = TaskId::new();
    a.insert(NewTask::new(id, "probe"))
        .await
        .expect("inserting");
    // As `record_final` writes a dropped task's ending (see `owner.rs`).
    crate::support::admin()
        .await
        .execute(
            &format!(
                "UPDATE \"{schema}\".tasks SET state = 'finished', ended_at = now(),
                        ending = 'failed', ending_step = NULL, ending_message = $2
                  WHERE id = $1::text::uuid"
            ),
            &[&id.to_string(), &&b"dropped by its runtime"[..]],
        )
        .await
        .expect("ending the record");
    let record = a
        .status(id)
        .await
        .expect("the record reads")
        .expect("a record");
    let ending = record.ending.expect("an ending");
    assert_eq!(
        ending.ended,
        Ended::Failed {
            step: String::new(),
            error: "dropped by its runtime".into()
        }
    );
    let status = Cluster::status(&a, id)
        .await
        .expect("the store reads")
        .expect("a record");
    assert_eq!(status.state, ClusterTaskState::Finished);
    assert_eq!(
        status.ended,
        Some(ClusterTaskEnded::Failed {
            step: None,
            error: Some("dropped by its runtime".into())
        })
    );
}
