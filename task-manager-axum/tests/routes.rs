//! The task routes over real HTTP on 127.0.0.1: status, snapshot, cancel from another
//! connection, and every refusal (400, 403, 404, 409, 413, 415), each leaving the task as it was.

mod common;

use common::{client, serve, soon, start_job};
use serde_json::{json, Value};
use task_manager_axum::{Action, AllowAll, BearerToken};
use task_manager_core::TaskId;

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

#[tokio::test]
async fn status_and_snapshot_of_a_running_task_then_its_result() {
    let server = serve(AllowAll).await;
    let id = TaskId::new();
    let waiting = tokio::spawn(
        client()
            .post(server.url(&format!("/jobs/wait?id={id}")))
            .send(),
    );
    server
        .journal()
        .wait_for(&format!("{id} prepare entered"))
        .await;

    let response = client()
        .get(server.url(&format!("/tasks/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let status = json_of(response).await;
    assert_eq!(status["id"], id.to_string());
    assert_eq!(status["flow"], "job");
    assert_eq!(status["step"], "prepare");
    assert_eq!(status["step_index"], 0);
    assert_eq!(status["state"], json!({"kind": "running"}));

    let response = client().get(server.url("/tasks")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let list = json_of(response).await;
    let tasks = list["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["id"], id.to_string());
    assert!(tasks[0]["elapsed_ms"].as_f64().unwrap() >= 0.0);

    server.release_steps(2);
    let response = soon("the result", waiting).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let result = json_of(response).await;
    assert_eq!(result["completed"], true);
    // The outcome reaches the handler after the id has left the registry.
    let response = client()
        .get(server.url(&format!("/tasks/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert!(server.service.tasks.is_empty());
}

#[tokio::test]
async fn cancel_from_another_connection_answers_each_typed_status() {
    let server = serve(AllowAll).await;
    let id = TaskId::new();
    start_job(&server, id).await;
    let url = server.url(&format!("/tasks/{id}"));

    // Requested: 202, with the reason from the body.
    let response = client()
        .delete(&url)
        .json(&json!({"reason": "user left"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(
        json_of(response).await,
        json!({"id": id.to_string(), "status": "requested"})
    );
    server
        .journal()
        .wait_for(&format!(
            "{id} cleanup prepare started: cancelled: user left"
        ))
        .await;
    assert!(server.journal().contains(&format!("{id} prepare dropped")));

    // AlreadyRequested: 200; the first reason stays.
    let response = client()
        .delete(format!("{url}?reason=again"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await["status"], "already_requested");
    let status = json_of(client().get(&url).send().await.unwrap()).await;
    assert_eq!(status["state"], json!({"kind": "cancelling"}));

    // Let the cleanup end, and wait (in process) for the task to leave the registry.
    server.release_cleanups(1);
    let cancellation = server.service.tasks.cancel(id, "in-process wait");
    let cleanup = soon("the task's end", cancellation).await.unwrap();
    assert_eq!(cleanup.step(), Some("prepare"));
    assert_eq!(
        server
            .journal()
            .count(&format!("{id} cleanup prepare done")),
        1
    );
    assert!(!server.journal().contains(&format!("{id} query entered")));

    // NotFound: the task has ended and left the registry.
    let response = client().delete(&url).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(json_of(response).await["status"], "not_found");
    assert!(server.service.tasks.is_empty());
}

#[tokio::test]
async fn cancel_with_wait_reports_the_cleanup_once_it_has_run() {
    let server = serve(AllowAll).await;
    let id = TaskId::new();
    start_job(&server, id).await;
    let waiting = tokio::spawn(
        client()
            .delete(server.url(&format!("/tasks/{id}?wait=true&reason=stop")))
            .send(),
    );
    server
        .journal()
        .wait_for(&format!("{id} cleanup prepare started: cancelled: stop"))
        .await;
    assert!(!waiting.is_finished());
    server.release_cleanups(1);
    let response = soon("the wait", waiting).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let answer = json_of(response).await;
    assert_eq!(answer["status"], "requested");
    assert_eq!(answer["cleanup"]["kind"], "completed");
    assert!(server.service.tasks.is_empty());
}

#[tokio::test]
async fn cancelling_a_task_whose_ending_is_decided_is_409() {
    let server = serve(AllowAll).await;
    let id = TaskId::new();
    // `prepare` panics: the task's ending is decided while its cleanup (gated) runs.
    let response = client()
        .post(server.url(&format!("/jobs?id={id}&panic=true")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    server
        .journal()
        .wait_for(&format!("{id} cleanup prepare started: the step panicked"))
        .await;
    let url = server.url(&format!("/tasks/{id}"));
    let status = json_of(client().get(&url).send().await.unwrap()).await;
    assert_eq!(status["state"], json!({"kind": "finishing"}));
    let response = client().delete(&url).send().await.unwrap();
    assert_eq!(response.status(), 409);
    assert_eq!(json_of(response).await["status"], "already_finished");
    server.release_cleanups(1);
}

#[tokio::test]
async fn unknown_and_malformed_ids() {
    let server = serve(AllowAll).await;
    let unknown = TaskId::new();
    for response in [
        client()
            .get(server.url(&format!("/tasks/{unknown}")))
            .send()
            .await
            .unwrap(),
        client()
            .get(server.url(&format!("/tasks/{unknown}/events")))
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(response.status(), 404);
        assert_eq!(json_of(response).await["error"], "not_found");
    }
    let response = client()
        .delete(server.url(&format!("/tasks/{unknown}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(server.hub.subscribers(), 0);

    for response in [
        client()
            .get(server.url("/tasks/not-a-uuid"))
            .send()
            .await
            .unwrap(),
        client()
            .delete(server.url("/tasks/not-a-uuid"))
            .send()
            .await
            .unwrap(),
        client()
            .get(server.url("/tasks/not-a-uuid/events"))
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(response.status(), 400);
        let body = json_of(response).await;
        assert_eq!(body["error"], "malformed_id");
        assert!(
            body["message"].as_str().unwrap().contains("not-a-uuid"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn refused_requests_get_403_and_change_nothing() {
    let server = serve(BearerToken::new("t0ken")).await;
    let id = TaskId::new();
    start_job(&server, id).await;
    let url = server.url(&format!("/tasks/{id}"));
    for token in [None, Some("Bearer wrong"), Some("Basic t0ken")] {
        let with = |request: reqwest::RequestBuilder| match token {
            Some(token) => request.header("authorization", token),
            None => request,
        };
        for request in [
            with(client().get(server.url("/tasks"))),
            with(client().get(&url)),
            with(client().get(format!("{url}/events"))),
            with(client().delete(&url).json(&json!({"reason": "intruder"}))),
            with(client().delete(format!("{url}?wait=true"))),
        ] {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 403);
            assert_eq!(json_of(response).await["error"], "forbidden");
        }
    }
    // Nothing changed: the task runs on, no cleanup began, nobody subscribed.
    let response = client()
        .get(&url)
        .bearer_auth("t0ken")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await["state"], json!({"kind": "running"}));
    assert_eq!(server.hub.subscribers(), 0);
    assert!(server
        .journal()
        .entries()
        .iter()
        .all(|e| !e.contains("cleanup")));

    server.release_cleanups(1);
    let response = client()
        .delete(format!("{url}?wait=true"))
        .bearer_auth("t0ken")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await["status"], "requested");
}

#[tokio::test]
async fn the_hook_decides_per_action_and_per_task() {
    let server = serve(
        |headers: &axum::http::HeaderMap, action: Action| match action {
            Action::Cancel(_) => headers.contains_key("x-admin"),
            Action::List | Action::See(_) => true,
            _ => false,
        },
    )
    .await;
    let id = TaskId::new();
    start_job(&server, id).await;
    let url = server.url(&format!("/tasks/{id}"));
    assert_eq!(client().get(&url).send().await.unwrap().status(), 200);
    assert_eq!(client().delete(&url).send().await.unwrap().status(), 403);
    server.release_cleanups(1);
    let response = client()
        .delete(format!("{url}?wait=true"))
        .header("x-admin", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // A hook that hides one task leaves it out of the snapshot.
    let server = serve(move |_: &axum::http::HeaderMap, action: Action| {
        !matches!(action, Action::See(seen) if seen == id)
    })
    .await;
    let other = TaskId::new();
    start_job(&server, id).await;
    start_job(&server, other).await;
    let list = json_of(client().get(server.url("/tasks")).send().await.unwrap()).await;
    let ids: Vec<&str> = list["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| task["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [other.to_string()]);
    server.release_cleanups(2);
    soon(
        "the cleanups",
        server.service.tasks.cancel_all("end of test").finished(),
    )
    .await;
    assert!(server.service.tasks.is_empty());
}

#[tokio::test]
async fn oversized_and_malformed_bodies_are_refused_and_change_nothing() {
    let server = serve(AllowAll).await;
    let id = TaskId::new();
    start_job(&server, id).await;
    let url = server.url(&format!("/tasks/{id}"));

    let oversized = json!({"reason": "x".repeat(2048)});
    let response = client().delete(&url).json(&oversized).send().await.unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(json_of(response).await["error"], "body_too_large");

    let response = client()
        .delete(&url)
        .header("content-type", "text/plain")
        .body("user left")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    assert_eq!(json_of(response).await["error"], "not_json");

    for body in [
        r#"{"reason": "#,
        r#"{"reason": 7}"#,
        r#"{"why": "x"}"#,
        "[]",
    ] {
        let response = client()
            .delete(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(json_of(response).await["error"], "malformed_body");
    }

    let response = client()
        .delete(format!("{url}?reason=a"))
        .json(&json!({"reason": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(json_of(response).await["error"], "reason_twice");

    for query in ["wait=maybe", "force=true"] {
        let response = client()
            .delete(format!("{url}?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
        assert_eq!(json_of(response).await["error"], "malformed_query");
    }

    let status = json_of(client().get(&url).send().await.unwrap()).await;
    assert_eq!(status["state"], json!({"kind": "running"}));
    assert!(server
        .journal()
        .entries()
        .iter()
        .all(|e| !e.contains("cleanup")));

    server.release_cleanups(1);
    let response = client()
        .delete(format!("{url}?wait=true"))
        .header("content-type", "application/json; charset=utf-8")
        .body(r#"{"reason": "done testing"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(server.journal().contains(&format!(
        "{id} cleanup prepare started: cancelled: done testing"
    )));
}
