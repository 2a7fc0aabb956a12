//! `GET /tasks/{id}/events` over real HTTP: a task's events as server-sent events, ending with
//! its outcome; the hub forgets a subscriber when its stream ends.

mod common;

use common::{client, serve, soon, start_job, Server};
use serde_json::Value;
use task_manager_axum::AllowAll;
use task_manager_core::TaskId;

/// The stream's events as (name, data), read until the body ends.
struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    async fn open(server: &Server, id: TaskId) -> SseReader {
        // The answer's head arrives once the handler has subscribed.
        let response = soon(
            "the stream's head",
            client()
                .get(server.url(&format!("/tasks/{id}/events")))
                .send(),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        SseReader {
            response,
            buffer: String::new(),
        }
    }

    /// The next event, or `None` at the end of the body.
    async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event: ") {
                        name = Some(value.to_owned());
                    } else if let Some(value) = line.strip_prefix("data: ") {
                        data.push_str(value);
                    }
                }
                match name {
                    Some(name) => return Some((name, serde_json::from_str(&data).unwrap())),
                    None => continue, // a keep-alive comment
                }
            }
            let chunk = soon("the next event", self.response.chunk())
                .await
                .unwrap()?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    async fn all(mut self) -> Vec<(String, Value)> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            events.push(event);
        }
        events
    }
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(name, _)| name.as_str()).collect()
}

#[tokio::test]
async fn the_stream_of_a_completed_task_ends_with_its_outcome() {
    let server = serve(AllowAll).await;
    let id = TaskId::new();
    start_job(&server, id).await;
    let stream = SseReader::open(&server, id).await;
    assert_eq!(server.hub.subscribers(), 1);
    server.release_steps(2);
    let events = stream.all().await;
    assert_eq!(
        names(&events),
        [
            "progress",
            "step_finished",
            "step_started",
            "progress",
            "step_finished",
            "finished"
        ],
        "{events:?}"
    );
    let (_, progress) = &events[0];
    assert_eq!(
        (&progress["done"], &progress["total"]),
        (&1.into(), &2.into())
    );
    let (_, prepared) = &events[1];
    assert_eq!(prepared["id"], id.to_string());
    assert_eq!(prepared["flow"], "job");
    assert_eq!(prepared["step"], "prepare");
    assert_eq!(prepared["end"], "completed");
    let (_, last) = events.last().unwrap();
    assert_eq!(last["ending"]["kind"], "completed");
    assert!(last["duration_ms"].as_f64().unwrap() >= 0.0);
    // The stream ended: its subscription is gone.
    assert_eq!(server.hub.subscribers(), 0);
}

#[tokio::test]
async fn the_stream_of_a_cancelled_task_says_why_and_how_the_cleanup_went() {
    let server = serve(AllowAll).await;
    let id = TaskId::new();
    start_job(&server, id).await;
    let stream = SseReader::open(&server, id).await;
    server.release_cleanups(1);
    let response = client()
        .delete(server.url(&format!("/tasks/{id}?reason=user+left")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let events = stream.all().await;
    assert_eq!(
        names(&events),
        [
            "cancel_requested",
            "step_finished",
            "cleanup_started",
            "cleanup_finished",
            "finished"
        ],
        "{events:?}"
    );
    assert_eq!(events[0].1["reason"]["message"], "user left");
    assert_eq!(events[0].1["by"], "request");
    assert_eq!(events[1].1["end"], "cancelled");
    assert_eq!(events[3].1["cleanup"]["kind"], "completed");
    let ending = &events[4].1["ending"];
    assert_eq!(ending["kind"], "cancelled");
    assert_eq!(ending["step"], "prepare");
    assert_eq!(ending["steps_completed"], 0);
    assert_eq!(ending["reason"]["kind"], "requested");
    assert_eq!(ending["reason"]["message"], "user left");
    assert_eq!(server.hub.subscribers(), 0);
}

#[tokio::test]
async fn a_client_that_leaves_the_stream_unsubscribes() {
    let server = serve(AllowAll).await;
    let id = TaskId::new();
    start_job(&server, id).await;
    let stream = SseReader::open(&server, id).await;
    assert_eq!(server.hub.subscribers(), 1);
    drop(stream);
    // The server notices the closed connection when it next writes: the next event.
    server.release_steps(1);
    server
        .journal()
        .wait_for(&format!("{id} query entered"))
        .await;
    soon("the unsubscription", async {
        while server.hub.subscribers() != 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    server.release_cleanups(1);
    let cancellation = server.service.tasks.cancel(id, "end of test");
    soon("the task's end", cancellation).await;
}

#[tokio::test]
async fn without_a_hub_the_stream_is_501() {
    use std::future::IntoFuture;
    let tasks = task_manager_core::TaskManager::new();
    let app = axum::Router::new().nest("/tasks", task_manager_axum::task_routes(tasks, AllowAll));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, app).into_future());
    let response = client()
        .get(format!("{base}/tasks/{}/events", TaskId::new()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 501);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "events_not_enabled");
}

#[tokio::test]
async fn a_stream_whose_task_left_unseen_ends_with_ended() {
    use std::future::IntoFuture;
    use std::time::Duration;
    // The routes' hub is not installed on the manager: the stream hears nothing, and its
    // periodic check (every 10 ms here) finds the task gone.
    let server = serve(AllowAll).await;
    let tasks = server.service.tasks.clone();
    let app = axum::Router::new().nest(
        "/tasks",
        task_manager_axum::TaskRoutes::new(tasks, AllowAll)
            .events(task_manager_axum::EventHub::new())
            .recheck(Duration::from_millis(10))
            .into_router(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, app).into_future());

    let id = TaskId::new();
    start_job(&server, id).await;
    let response = client()
        .get(format!("{base}/tasks/{id}/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let stream = SseReader {
        response,
        buffer: String::new(),
    };
    server.release_cleanups(1);
    soon(
        "the task's end",
        server.service.tasks.cancel(id, "end of test"),
    )
    .await;
    let events = stream.all().await;
    assert_eq!(names(&events), ["ended"], "{events:?}");
    assert_eq!(events[0].1["id"], id.to_string());
}
