//! The fixture of the HTTP tests: a two-step flow whose steps and cleanups wait at gates the
//! test opens, a journal of what ran, and a server on 127.0.0.1 (port 0) with the task routes
//! under `/tasks` and two starting routes under `/jobs`.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::IntoFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use task_manager_axum::{
    accepted, cancel_on_disconnect, Authorize, EventHub, SubmitRejection, TaskRoutes,
};
use task_manager_core::{
    flow, Addon, CancelReason, HasTaskManager, Passport, Task, TaskId, TaskManager,
};
use tokio::sync::{Notify, Semaphore};

/// Bounds every wait of a test: a broken test fails within this instead of hanging.
pub async fn soon<F: IntoFuture>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(20), future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// What ran, in order; tests wait for entries.
#[derive(Default)]
pub struct Journal {
    entries: Mutex<Vec<String>>,
    changed: Notify,
}

impl Journal {
    pub fn record(&self, entry: String) {
        self.entries.lock().unwrap().push(entry);
        self.changed.notify_waiters();
    }

    pub fn entries(&self) -> Vec<String> {
        self.entries.lock().unwrap().clone()
    }

    pub fn count(&self, entry: &str) -> usize {
        self.entries().iter().filter(|e| *e == entry).count()
    }

    pub fn contains(&self, entry: &str) -> bool {
        self.count(entry) > 0
    }

    pub async fn wait_for(&self, entry: &str) {
        soon(entry, async {
            loop {
                let changed = self.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if self.contains(entry) {
                    return;
                }
                changed.await;
            }
        })
        .await
    }
}

/// Records `entry` when dropped before `done()`: proves a step's future was dropped mid-way.
struct DroppedMidway<'a> {
    journal: &'a Journal,
    entry: Option<String>,
}

impl DroppedMidway<'_> {
    fn done(mut self) {
        self.entry = None;
    }
}

impl Drop for DroppedMidway<'_> {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            self.journal.record(entry);
        }
    }
}

/// The gates: each step and each cleanup takes one permit before it ends.
pub struct Script {
    pub journal: Journal,
    pub steps: Semaphore,
    pub cleanups: Semaphore,
}

/// How a job behaves.
#[derive(Debug, Default)]
pub struct Mode {
    pub panic_in_prepare: bool,
}

#[derive(HasTaskManager)]
pub struct Service {
    pub tasks: TaskManager,
    pub script: Arc<Script>,
}

#[flow(name = job)]
impl Service {
    #[step(cancel = undo_prepare)]
    async fn prepare(&self, task: &mut Task<Mode>) -> Result<u32, Infallible> {
        let id = task.id();
        let guard = DroppedMidway {
            journal: &self.script.journal,
            entry: Some(format!("{id} prepare dropped")),
        };
        self.script.journal.record(format!("{id} prepare entered"));
        if task.payload().panic_in_prepare {
            guard.done();
            panic!("prepare failed on purpose");
        }
        self.script.steps.acquire().await.unwrap().forget();
        guard.done();
        task.set_progress(1, 2);
        Ok(1)
    }

    #[step(cancel = undo_query)]
    async fn query(&self, task: &mut Task<Mode>, rows: u32) -> Result<u32, Infallible> {
        let id = task.id();
        let guard = DroppedMidway {
            journal: &self.script.journal,
            entry: Some(format!("{id} query dropped")),
        };
        self.script.journal.record(format!("{id} query entered"));
        self.script.steps.acquire().await.unwrap().forget();
        guard.done();
        task.set_progress(2, 2);
        Ok(rows + 1)
    }

    async fn undo_prepare(&self, task: &mut Task<Mode>, reason: CancelReason) {
        self.cleanup("prepare", task.id(), reason).await;
    }

    async fn undo_query(&self, task: &mut Task<Mode>, reason: CancelReason) {
        self.cleanup("query", task.id(), reason).await;
    }
}

impl Service {
    async fn cleanup(&self, step: &str, id: TaskId, reason: CancelReason) {
        let journal = &self.script.journal;
        journal.record(format!("{id} cleanup {step} started: {reason}"));
        self.script.cleanups.acquire().await.unwrap().forget();
        journal.record(format!("{id} cleanup {step} done"));
    }
}

#[derive(Deserialize)]
struct Start {
    id: String,
    #[serde(default)]
    panic: bool,
}

fn passport(start: &Start) -> Passport<Mode> {
    let id = TaskId::parse(&start.id).expect("the test sends a valid id");
    Passport::new(Mode {
        panic_in_prepare: start.panic,
    })
    .with_id(id)
}

/// `POST /jobs?id=`: 202 at once.
async fn start_accepted(
    State(service): State<Arc<Service>>,
    Query(start): Query<Start>,
) -> Result<impl IntoResponse, SubmitRejection> {
    Ok(accepted(service.execute_job(passport(&start))?, "/tasks"))
}

/// `POST /jobs/wait?id=`: the outcome, cancelled if the client goes away.
async fn start_and_wait(
    State(service): State<Arc<Service>>,
    Query(start): Query<Start>,
) -> Result<impl IntoResponse, SubmitRejection> {
    let outcome = cancel_on_disconnect(service.execute_job(passport(&start))?).await;
    Ok(Json(serde_json::json!({
        "id": outcome.id().to_string(),
        "completed": outcome.is_completed(),
        "ending": outcome.ending().to_string(),
    })))
}

pub struct Server {
    pub base: String,
    pub service: Arc<Service>,
    pub hub: EventHub,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn journal(&self) -> &Journal {
        &self.service.script.journal
    }

    /// Lets `n` more steps finish.
    pub fn release_steps(&self, n: usize) {
        self.service.script.steps.add_permits(n);
    }

    /// Lets `n` more cleanups finish.
    pub fn release_cleanups(&self, n: usize) {
        self.service.script.cleanups.add_permits(n);
    }
}

/// A server on 127.0.0.1, port 0, with these routes and a body limit of 1,024 bytes.
pub async fn serve(authorize: impl Authorize) -> Server {
    serve_with(authorize, None, Router::new()).await
}

/// The same, with one more add-on on the manager and more routes beside the fixture's.
pub async fn serve_with(
    authorize: impl Authorize,
    addon: Option<Arc<dyn Addon>>,
    more: Router,
) -> Server {
    let hub = EventHub::new();
    let mut builder = TaskManager::builder().addon(hub.clone());
    if let Some(addon) = addon {
        builder = builder.addon(addon);
    }
    let tasks = builder.build().unwrap();
    let service = Arc::new(Service {
        tasks: tasks.clone(),
        script: Arc::new(Script {
            journal: Journal::default(),
            steps: Semaphore::new(0),
            cleanups: Semaphore::new(0),
        }),
    });
    let app = Router::new()
        .nest(
            "/tasks",
            TaskRoutes::new(tasks, authorize)
                .events(hub.clone())
                .body_limit(1024)
                .into_router(),
        )
        .route("/jobs", post(start_accepted))
        .route("/jobs/wait", post(start_and_wait))
        .with_state(Arc::clone(&service))
        .merge(more);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(axum::serve(listener, app).into_future());
    Server {
        base: format!("http://{address}"),
        service,
        hub,
    }
}

/// A fresh client: its own connection pool, so each is another connection.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().build().unwrap()
}

/// `POST /jobs?id=` and check the 202.
pub async fn start_job(server: &Server, id: TaskId) {
    let response = soon(
        "the start",
        client().post(server.url(&format!("/jobs?id={id}"))).send(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(
        response.headers()["location"],
        format!("/tasks/{id}").as_str()
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["id"], id.to_string());
    server
        .journal()
        .wait_for(&format!("{id} prepare entered"))
        .await;
}
