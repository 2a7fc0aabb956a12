//! `GET /tasks/board` and `GET /tasks/events` over real HTTP: the page behind the hook (the
//! token may come in the query), and every task's events on one stream, only those the
//! request may see.

mod common;

use axum::http::HeaderMap;
use common::{client, serve, soon, start_job};
use task_manager_axum::{Action, BearerToken};
use task_manager_core::TaskId;

#[tokio::test]
async fn the_board_is_behind_the_hook_and_takes_the_token_from_its_query() {
    let server = serve(BearerToken::new("t0ken")).await;
    let get = |path: &str| client().get(server.url(path));
    let refused = soon("the board", get("/tasks/board").send()).await.unwrap();
    assert_eq!(refused.status(), 403);
    let wrong = soon("the board", get("/tasks/board?token=nope").send())
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    let unknown = soon("the board", get("/tasks/board?tokn=t0ken").send())
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    for request in [
        get("/tasks/board?token=t0ken"),
        get("/tasks/board").bearer_auth("t0ken"),
    ] {
        let page = soon("the board", request.send()).await.unwrap();
        assert_eq!(page.status(), 200);
        assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
        let html = page.text().await.unwrap();
        assert!(html.starts_with("<!doctype html>"));
        // Self-contained: nothing is loaded from elsewhere.
        for outside in ["http://", "https://", "<link", "src="] {
            assert!(!html.contains(outside), "the page refers to {outside}");
        }
    }
}

#[tokio::test]
async fn the_stream_of_all_tasks_carries_each_visible_task_events() {
    // Everyone may list; only the task `seen` may be seen.
    let seen = TaskId::new();
    let hidden = TaskId::new();
    let server = serve(move |_: &HeaderMap, action: Action| match action {
        Action::See(id) => id == seen,
        _ => true,
    })
    .await;
    let mut response = soon(
        "the stream",
        client().get(server.url("/tasks/events")).send(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    start_job(&server, hidden).await;
    start_job(&server, seen).await;
    let mut text = String::new();
    while !text.contains("event: step_started") {
        let chunk = soon("an event", response.chunk()).await.unwrap().unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(text.contains(&seen.to_string()), "{text}");
    assert!(!text.contains(&hidden.to_string()), "{text}");
    assert_eq!(server.hub.subscribers(), 1);
    drop(response);
    // Both tasks go on; let them end so the server stops cleanly.
    server.release_steps(4);
    server
        .journal()
        .wait_for(&format!("{seen} query entered"))
        .await;
}
