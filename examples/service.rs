//! A web service whose requests run the seed's two-step flow (prepare, then send the query),
//! with the task routes of `task-manager-axum` under `/tasks`, guarded by a bearer token, and
//! their live board at `/tasks/board?token=demo-token`.
//!
//! `cargo run --example service` serves on 127.0.0.1:3000 and prints `curl` commands and the
//! board's address;
//! `cargo run --example service -- --smoke` serves on a free port, makes a few requests to
//! itself (start, status, snapshot, events, a refused request, a cancel that waits for the
//! cleanup, a request that waits for its result, the board's page, the Prometheus metrics at
//! `/metrics`),
//! prints what it got and exits.

use std::convert::Infallible;
use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;
use task_manager_axum::{
    accepted, cancel_on_disconnect, BearerToken, EventHub, SubmitRejection, TaskRoutes,
};
use task_manager_core::{flow, CancelReason, HasTaskManager, Passport, Task, TaskManager};
use task_manager_metrics::TaskMetrics;

const TOKEN: &str = "demo-token";

/// The request: a query and how long each step pretends to work.
#[derive(Debug, Deserialize)]
pub struct Query {
    pub sql: String,
    #[serde(default = "default_work_ms")]
    pub work_ms: u64,
}

fn default_work_ms() -> u64 {
    300
}

/// What the steps learn: the id the database gave the prepared statement.
#[derive(Debug, Default)]
pub struct QueryInfo {
    pub statement: Option<String>,
}

pub type QueryTask = Task<Query, QueryInfo>;

#[derive(HasTaskManager)]
pub struct Queries {
    pub tasks: TaskManager,
}

#[flow(name = query)]
impl Queries {
    #[step(cancel = release_statement)]
    async fn prepare(&self, task: &mut QueryTask) -> Result<String, Infallible> {
        let work = Duration::from_millis(task.payload().work_ms);
        tokio::time::sleep(work).await;
        let statement = format!("stmt-{}", task.id());
        task.info_mut().statement = Some(statement.clone());
        task.set_progress(1, 2);
        Ok(statement)
    }

    #[step(cancel = abort_query)]
    async fn send(
        &self,
        task: &mut QueryTask,
        statement: String,
    ) -> Result<Vec<String>, Infallible> {
        tokio::time::sleep(Duration::from_millis(task.payload().work_ms)).await;
        task.set_progress(2, 2);
        Ok(vec![format!(
            "{statement}: {} -> 3 rows",
            task.payload().sql
        )])
    }

    async fn release_statement(&self, task: &mut QueryTask, reason: CancelReason) {
        println!(
            "  [cleanup] prepare of {} stopped ({reason}): nothing prepared yet",
            task.id()
        );
    }

    async fn abort_query(&self, task: &mut QueryTask, reason: CancelReason) {
        // An async cleanup: tell the server to stop the statement.
        tokio::time::sleep(Duration::from_millis(20)).await;
        println!(
            "  [cleanup] send of {} stopped ({reason}): aborted {:?} on the server",
            task.id(),
            task.info().statement
        );
    }
}

/// `POST /queries`: start at once, answer 202 with the task's `Location`.
async fn start_query(
    State(queries): State<Arc<Queries>>,
    Json(query): Json<Query>,
) -> Result<impl IntoResponse, SubmitRejection> {
    Ok(accepted(
        queries.execute_query(Passport::new(query))?,
        "/tasks",
    ))
}

/// `POST /queries/wait`: answer with the rows; a client that leaves cancels its task.
async fn run_query(
    State(queries): State<Arc<Queries>>,
    Json(query): Json<Query>,
) -> Result<impl IntoResponse, SubmitRejection> {
    let outcome = cancel_on_disconnect(queries.execute_query(Passport::new(query))?).await;
    let id = outcome.id().to_string();
    Ok(match outcome.into_result() {
        Ok(rows) => Json(serde_json::json!({ "id": id, "rows": rows })),
        Err(error) => Json(serde_json::json!({ "id": id, "error": error.to_string() })),
    })
}

fn app(queries: Arc<Queries>, hub: EventHub, prometheus: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(move || async move { prometheus.render() }))
        .nest(
            "/tasks",
            TaskRoutes::new(queries.tasks.clone(), BearerToken::new(TOKEN))
                .events(hub)
                .into_router(),
        )
        .route("/queries", post(start_query))
        .route("/queries/wait", post(run_query))
        .with_state(queries)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let smoke = std::env::args().any(|arg| arg == "--smoke");
    let hub = EventHub::new();
    let queries = Arc::new(Queries {
        tasks: TaskManager::builder()
            .addon(hub.clone())
            .addon(TaskMetrics::new())
            .build()?,
    });
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    let address = if smoke {
        "127.0.0.1:0"
    } else {
        "127.0.0.1:3000"
    };
    let listener = tokio::net::TcpListener::bind(address).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(
        axum::serve(listener, app(Arc::clone(&queries), hub, prometheus)).into_future(),
    );
    if !smoke {
        println!("serving on {base}; the task routes need `Authorization: Bearer {TOKEN}`");
        println!("  the board (live tasks, cancel buttons): {base}/tasks/board?token={TOKEN}");
        println!("  curl -s -X POST {base}/queries -H 'content-type: application/json' -d '{{\"sql\": \"select 1\", \"work_ms\": 20000}}'");
        println!("  curl -s {base}/tasks -H 'authorization: Bearer {TOKEN}'");
        println!("  curl -s {base}/tasks/ID -H 'authorization: Bearer {TOKEN}'");
        println!("  curl -sN {base}/tasks/ID/events -H 'authorization: Bearer {TOKEN}'");
        println!("  curl -s -X DELETE '{base}/tasks/ID?wait=true&reason=user+left' -H 'authorization: Bearer {TOKEN}'");
        println!("  curl -s {base}/metrics");
        println!("  curl -s -X POST {base}/queries/wait -H 'content-type: application/json' -d '{{\"sql\": \"select 2\"}}'");
        server.await??;
        return Ok(());
    }
    smoke_test(&base).await?;
    assert!(queries.tasks.is_empty(), "every task has left the registry");
    println!("smoke test passed");
    Ok(())
}

/// Requests to itself over loopback; fails loudly if an answer is not the expected one.
async fn smoke_test(base: &str) -> Result<(), Box<dyn std::error::Error>> {
    let client = reqwest::Client::new();
    let auth = format!("Bearer {TOKEN}");

    // 1. Start a long query: 202, its id and Location.
    let response = client
        .post(format!("{base}/queries"))
        .json(&serde_json::json!({ "sql": "select * from big", "work_ms": 60_000 }))
        .send()
        .await?;
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str()?.to_owned();
    let started: serde_json::Value = response.json().await?;
    println!("1. POST /queries -> 202, Location: {location}, {started}");

    // 2. Its events (from the moment the stream's head arrives: it is subscribed by then)
    //    and its status; if its first step had not begun yet, the stream says when it does.
    let mut events = client
        .get(format!("{base}{location}/events"))
        .header("authorization", &auth)
        .send()
        .await?;
    assert_eq!(events.status(), 200);
    let mut seen = String::new();
    let status: serde_json::Value = client
        .get(format!("{base}{location}"))
        .header("authorization", &auth)
        .send()
        .await?
        .json()
        .await?;
    println!("2. GET {location} -> {status}");
    if status["step"].is_null() {
        while !seen.contains("event: step_started") {
            let chunk = events
                .chunk()
                .await?
                .ok_or("the event stream ended early")?;
            seen.push_str(std::str::from_utf8(&chunk)?);
        }
        println!("   GET {location}/events -> the step began");
    }

    // 3. The snapshot.
    let list: serde_json::Value = client
        .get(format!("{base}/tasks"))
        .header("authorization", &auth)
        .send()
        .await?
        .json()
        .await?;
    println!(
        "3. GET /tasks -> {} running",
        list["tasks"].as_array().map_or(0, Vec::len)
    );

    // 4. Without the token: 403, and nothing changes.
    let refused = client.delete(format!("{base}{location}")).send().await?;
    assert_eq!(refused.status(), 403);
    println!(
        "4. DELETE {location} without the token -> {}",
        refused.status()
    );

    // 5. Cancel it and wait for the cleanup.
    let response = client
        .delete(format!("{base}{location}?wait=true"))
        .header("authorization", &auth)
        .json(&serde_json::json!({ "reason": "the user left" }))
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await?;
    assert_eq!(answer["status"], "requested");
    println!("5. DELETE {location}?wait=true -> {answer}");
    while !seen.contains("event: finished") {
        let chunk = events
            .chunk()
            .await?
            .ok_or("the event stream ended before `finished`")?;
        seen.push_str(std::str::from_utf8(&chunk)?);
    }
    let finished = seen
        .split("\n\n")
        .find(|block| block.starts_with("event: finished"))
        .unwrap_or_default();
    println!(
        "   the stream's last event: {}",
        finished.replace('\n', " ")
    );

    // 6. Cancelling it again: it has ended and left the registry.
    let response = client
        .delete(format!("{base}{location}"))
        .header("authorization", &auth)
        .send()
        .await?;
    assert_eq!(response.status(), 404);
    println!("6. DELETE {location} again -> {}", response.status());

    // 7. A short query, waiting for its rows.
    let response = client
        .post(format!("{base}/queries/wait"))
        .json(&serde_json::json!({ "sql": "select 1", "work_ms": 10 }))
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let rows: serde_json::Value = response.json().await?;
    assert!(rows["rows"].is_array(), "{rows}");
    println!("7. POST /queries/wait -> {rows}");

    // 8. The board: the page with the token in its query, refused without it.
    let board = client
        .get(format!("{base}/tasks/board?token={TOKEN}"))
        .send()
        .await?;
    assert_eq!(board.status(), 200);
    assert!(board.text().await?.contains("<title>Tasks</title>"));
    let refused = client.get(format!("{base}/tasks/board")).send().await?;
    assert_eq!(refused.status(), 403);
    println!("8. GET /tasks/board?token=... -> 200 (the page); without the token -> 403");

    // 9. The metrics: one task cancelled, one completed.
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let finished: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("task_manager_tasks_finished_total"))
        .collect();
    for ending in ["cancelled", "completed"] {
        let label = format!("ending=\"{ending}\"");
        let line = finished
            .iter()
            .find(|line| line.contains(&label))
            .ok_or_else(|| format!("no {ending} count in /metrics:\n{text}"))?;
        assert!(line.ends_with(" 1"), "{line}");
    }
    println!("9. GET /metrics -> {}", finished.join("; "));
    Ok(())
}
