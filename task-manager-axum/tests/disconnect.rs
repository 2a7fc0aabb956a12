//! A client that disconnects in the middle of a step of the flow its request started: axum
//! drops the handler's future, `cancel_on_disconnect` cancels the task with "client
//! disconnected", the step stops, its cleanup runs to its end after the response is gone,
//! and the registry empties.

mod common;

use common::{client, serve, soon};
use task_manager_axum::{AllowAll, CLIENT_DISCONNECTED};
use task_manager_core::TaskId;

#[tokio::test]
async fn a_client_disconnecting_mid_step_cancels_its_task_and_the_cleanup_runs_to_its_end() {
    let server = serve(AllowAll).await;
    let id = TaskId::new();
    // Watch the task's events in process, to see how it ends.
    let mut events = server.hub.subscribe(id);
    let request = tokio::spawn(
        client()
            .post(server.url(&format!("/jobs/wait?id={id}")))
            .send(),
    );
    let journal = server.journal();
    journal.wait_for(&format!("{id} prepare entered")).await;
    server.release_steps(1);
    journal.wait_for(&format!("{id} query entered")).await;

    // The client goes away in the middle of `query`: its connection closes.
    request.abort();
    assert!(request.await.unwrap_err().is_cancelled());

    journal
        .wait_for(&format!(
            "{id} cleanup query started: cancelled: {CLIENT_DISCONNECTED}"
        ))
        .await;
    assert!(journal.contains(&format!("{id} query dropped")));
    // The cleanup is still running (gated) although the request is long gone; let it end.
    assert!(server.service.tasks.contains(id));
    server.release_cleanups(1);
    journal.wait_for(&format!("{id} cleanup query done")).await;

    let finished = soon("the task's last event", async {
        loop {
            let event = events
                .next()
                .await
                .expect("the stream ends with `finished`");
            if event.is_finished() {
                return event;
            }
        }
    })
    .await;
    let finished = serde_json::to_value(&finished).unwrap();
    assert_eq!(finished["ending"]["kind"], "cancelled");
    assert_eq!(finished["ending"]["step"], "query");
    assert_eq!(finished["ending"]["steps_completed"], 1);
    assert_eq!(finished["ending"]["reason"]["message"], CLIENT_DISCONNECTED);

    // Wait (in process) for the task to leave the registry: the cancel below finds it being
    // cancelled, or already gone.
    soon(
        "the task's end",
        server.service.tasks.cancel(id, "end of test"),
    )
    .await;
    assert!(server.service.tasks.is_empty());
    assert_eq!(journal.count(&format!("{id} cleanup query done")), 1);
    assert!(!journal.contains(&format!(
        "{id} cleanup prepare started: cancelled: {CLIENT_DISCONNECTED}"
    )));
}
