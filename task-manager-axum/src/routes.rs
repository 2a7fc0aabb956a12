//! The routes: snapshot, status, cancel, events.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::stream::{self, Stream};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::{Deserialize, Serialize};
use task_manager_core::{CancelStatus, TaskId, TaskManager};

use crate::authorize::{Action, Authorize};
use crate::error::ApiError;
use crate::events::{EventHub, Subscription, Watch};
use crate::json::{cancel_status_word, CancelView, CleanupView, EventView, StatusView};

/// The largest `DELETE` body the routes read, unless [`TaskRoutes::body_limit`] says otherwise.
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024;

/// The reason a `DELETE` without one cancels with.
pub const DEFAULT_CANCEL_REASON: &str = "cancelled over HTTP";

/// How often an event stream checks that its task is still registered, in case it subscribed
/// in the instant between the task's last event and its leaving the registry.
pub const DEFAULT_RECHECK: Duration = Duration::from_secs(1);

/// The routes of [`task_routes`], with their settings.
///
/// ```
/// use task_manager_axum::{BearerToken, EventHub, TaskRoutes};
/// use task_manager_core::TaskManager;
///
/// let hub = EventHub::new();
/// let manager = TaskManager::builder().addon(hub.clone()).build()?;
/// let app: axum::Router = axum::Router::new().nest(
///     "/tasks",
///     TaskRoutes::new(manager, BearerToken::new("s3cret"))
///         .events(hub)
///         .body_limit(4096)
///         .into_router(),
/// );
/// # Ok::<(), task_manager_core::ConfigError>(())
/// ```
pub struct TaskRoutes {
    manager: TaskManager,
    authorize: Arc<dyn Authorize>,
    events: Option<EventHub>,
    body_limit: usize,
    recheck: Duration,
}

impl std::fmt::Debug for TaskRoutes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskRoutes")
            .field("events", &self.events.is_some())
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

impl TaskRoutes {
    /// The routes for `manager`, every request checked by `authorize`; no event stream
    /// (`GET /{id}/events` answers `501`) until [`events`](Self::events) gives a hub.
    pub fn new(manager: TaskManager, authorize: impl Authorize) -> Self {
        TaskRoutes {
            manager,
            authorize: Arc::new(authorize),
            events: None,
            body_limit: DEFAULT_BODY_LIMIT,
            recheck: DEFAULT_RECHECK,
        }
    }

    /// Serve `GET /{id}/events` from this hub, which must be installed on the manager
    /// (`TaskManager::builder().addon(hub.clone())`).
    pub fn events(mut self, hub: EventHub) -> Self {
        self.events = Some(hub);
        self
    }

    /// The largest request body read, in bytes; a larger one is refused with `413`.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// How often an event stream checks that its task is still registered
    /// ([`DEFAULT_RECHECK`]); a stream whose task has left without its last event reaching
    /// the stream ends with an event `ended`.
    pub fn recheck(mut self, every: Duration) -> Self {
        self.recheck = every.max(Duration::from_millis(1));
        self
    }

    /// The router, to nest under a prefix. Its routes:
    ///
    /// | route | answer |
    /// | --- | --- |
    /// | `GET /` | `200 {"tasks": [status, ...]}`: the tasks the request may see |
    /// | `GET /{id}` | `200` the status; `404` unknown id; `400` malformed id |
    /// | `DELETE /{id}` | the cancel's answer, `{"id", "status"}`: `202` requested, `200` already requested, `409` already finished, `404` not found |
    /// | `DELETE /{id}?wait=true` | waits for the task's end: `200` with `"cleanup"` for a task being cancelled |
    /// | `GET /{id}/events` | `text/event-stream` of the task's events, ending with `finished` |
    /// | `GET /events` | `text/event-stream` of every task's events (those the request may see), without end |
    /// | `GET /board` | the board: one HTML page listing the running tasks live, with a cancel button each |
    ///
    /// The reason is `{"reason": "..."}` (`Content-Type: application/json`) or `?reason=`;
    /// without one, [`DEFAULT_CANCEL_REASON`]. Errors are `{"error": code, "message": ...}`:
    /// `400` a malformed id, query or body, `403` refused by the hook (nothing changed), `413`
    /// a body over the limit, `415` a body that is not JSON.
    ///
    /// The board is asked about with [`Action::List`]. A browser's address bar cannot send
    /// an `Authorization` header, so `GET /board?token=T` is checked as if it carried
    /// `Authorization: Bearer T`; the page then sends that header on its own requests (the
    /// snapshot, `GET /events` read with `fetch`, `DELETE`) and removes the token from the
    /// address bar. A token in a URL can end up in a proxy's log: use it on loopback or
    /// behind TLS.
    pub fn into_router<S>(self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let shared = Arc::new(Shared {
            manager: self.manager,
            authorize: self.authorize,
            events: self.events,
            body_limit: self.body_limit,
            recheck: self.recheck,
        });
        Router::new()
            .route("/", get(list))
            .route("/{id}", get(status).delete(cancel))
            .route("/{id}/events", get(events))
            .route("/events", get(all_events))
            .route("/board", get(board))
            .with_state(shared)
    }
}

/// The routes for `manager`, every request checked by `authorize`, without the event stream;
/// see [`TaskRoutes`] for the table of routes and for the stream.
///
/// ```
/// use task_manager_axum::{task_routes, AllowAll};
/// use task_manager_core::TaskManager;
///
/// let app: axum::Router = axum::Router::new().nest("/tasks", task_routes(TaskManager::new(), AllowAll));
/// ```
pub fn task_routes<S>(manager: TaskManager, authorize: impl Authorize) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    TaskRoutes::new(manager, authorize).into_router()
}

struct Shared {
    manager: TaskManager,
    authorize: Arc<dyn Authorize>,
    events: Option<EventHub>,
    body_limit: usize,
    recheck: Duration,
}

impl Shared {
    fn check(&self, headers: &HeaderMap, action: Action) -> Result<(), ApiError> {
        if self.authorize.authorize(headers, action) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }
}

fn parse_id(text: &str) -> Result<TaskId, ApiError> {
    TaskId::parse(text).map_err(|error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_id",
            format!("the task id is not valid: {error}"),
        )
    })
}

fn not_found(id: TaskId) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no running task has id {id}: it never existed, or it has already ended"),
    )
}

#[derive(Serialize)]
struct TaskList {
    tasks: Vec<StatusView>,
}

async fn list(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<TaskList>, ApiError> {
    shared.check(&headers, Action::List)?;
    let tasks = shared
        .manager
        .snapshot()
        .iter()
        .filter(|entry| shared.authorize.authorize(&headers, Action::See(entry.id)))
        .map(StatusView::of_snapshot)
        .collect();
    Ok(Json(TaskList { tasks }))
}

async fn status(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<StatusView>, ApiError> {
    let id = parse_id(&id)?;
    shared.check(&headers, Action::See(id))?;
    match shared.manager.status(id) {
        Some(status) => Ok(Json(StatusView::new(id, &status))),
        None => Err(not_found(id)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelQuery {
    #[serde(default)]
    wait: bool,
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    reason: Option<String>,
}

async fn cancel(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    shared.check(&headers, Action::Cancel(id))?;
    let query = Query::<CancelQuery>::try_from_uri(&uri).map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_query",
            format!(
                "the query is not valid (it takes `wait=true|false` and `reason=...`): {}",
                rejection.body_text()
            ),
        )
    })?;
    let body = read_body(body, shared.body_limit).await?;
    let from_body = parse_cancel_body(&headers, &body)?;
    let reason = match (from_body, query.0.reason) {
        (Some(_), Some(_)) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "reason_twice",
                "the reason is given both in the body and in the query: give it once",
            ))
        }
        (Some(reason), None) | (None, Some(reason)) => reason,
        (None, None) => DEFAULT_CANCEL_REASON.to_owned(),
    };
    let cancellation = shared.manager.cancel(id, reason);
    let answer = cancellation.status();
    let code = match answer {
        CancelStatus::Requested if !query.0.wait => StatusCode::ACCEPTED,
        CancelStatus::Requested | CancelStatus::AlreadyRequested => StatusCode::OK,
        CancelStatus::AlreadyFinished => StatusCode::CONFLICT,
        CancelStatus::NotFound => StatusCode::NOT_FOUND,
    };
    let cleanup = if query.0.wait && answer.is_cancelling() {
        cancellation.await.as_ref().map(CleanupView::new)
    } else {
        None
    };
    let view = CancelView {
        id: id.to_string(),
        status: cancel_status_word(answer),
        cleanup,
    };
    Ok((code, Json(view)).into_response())
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is larger than {limit} bytes"),
        )),
        Err(error) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "body_unreadable",
            format!("the body could not be read: {error}"),
        )),
    }
}

/// The reason in a `DELETE` body: none for an empty body; a JSON body must say it is JSON.
fn parse_cancel_body(headers: &HeaderMap, body: &[u8]) -> Result<Option<String>, ApiError> {
    if body.is_empty() {
        return Ok(None);
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not_json",
            "the body must be JSON, `{\"reason\": \"...\"}`, sent with `Content-Type: application/json`",
        ));
    }
    let parsed: CancelBody = serde_json::from_slice(body).map_err(|error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_body",
            format!("the body is not `{{\"reason\": \"...\"}}`: {error}"),
        )
    })?;
    Ok(parsed.reason)
}

async fn events(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    shared.check(&headers, Action::See(id))?;
    let Some(hub) = &shared.events else {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "events_not_enabled",
            "this service serves no event stream (give the routes an EventHub)",
        ));
    };
    // Subscribe first, then look: a task still registered after the subscription is made
    // either delivers its `Finished` to it or is caught by the periodic check.
    let subscription = hub.subscribe(id);
    if !shared.manager.contains(id) {
        return Err(not_found(id));
    }
    let stream = event_stream(subscription, shared.manager.clone(), shared.recheck);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// The board's page, with everything inline (no build step, nothing fetched from elsewhere).
const BOARD_HTML: &str = include_str!("board.html");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BoardQuery {
    token: Option<String>,
}

async fn board(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    mut headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = Query::<BoardQuery>::try_from_uri(&uri).map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_query",
            format!(
                "the query is not valid (it takes `token=...`): {}",
                rejection.body_text()
            ),
        )
    })?;
    if let Some(token) = query.0.token {
        let value = header::HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_query",
                "the token holds characters a header cannot carry",
            )
        })?;
        headers.insert(header::AUTHORIZATION, value);
    }
    shared.check(&headers, Action::List)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        BOARD_HTML,
    )
        .into_response())
}

async fn all_events(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    shared.check(&headers, Action::List)?;
    let Some(hub) = &shared.events else {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "events_not_enabled",
            "this service serves no event stream (give the routes an EventHub)",
        ));
    };
    let watch = hub.watch();
    let stream = watch_stream(watch, Arc::clone(&shared), headers);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// Every event the request may see; ends with `lagged` if the watch fell behind.
fn watch_stream(
    watch: Watch,
    shared: Arc<Shared>,
    headers: HeaderMap,
) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    stream::unfold(Some(watch), move |watch| {
        let shared = Arc::clone(&shared);
        let headers = headers.clone();
        async move {
            let mut watch = watch?;
            loop {
                let Some(view) = watch.next().await else {
                    let data = serde_json::json!({
                        "message": "this stream fell behind and was dropped: reload the snapshot and reconnect"
                    });
                    let event = Event::default().event("lagged").data(data.to_string());
                    return Some((Ok(event), None));
                };
                let visible = TaskId::parse(&view.id)
                    .is_ok_and(|id| shared.authorize.authorize(&headers, Action::See(id)));
                if visible {
                    return Some((Ok(sse_event(&view)), Some(watch)));
                }
            }
        }
    })
}

struct Streaming {
    subscription: Subscription,
    manager: TaskManager,
    recheck: tokio::time::Interval,
    done: bool,
}

fn sse_event(view: &EventView) -> Event {
    let data = serde_json::to_string(view).unwrap_or_else(|error| {
        format!("{{\"error\":\"unserializable\",\"message\":\"{error}\"}}")
    });
    Event::default().event(view.kind_name()).data(data)
}

fn closing_event(name: &'static str, id: TaskId, message: &str) -> Event {
    let data = serde_json::json!({ "id": id.to_string(), "message": message });
    Event::default().event(name).data(data.to_string())
}

fn event_stream(
    subscription: Subscription,
    manager: TaskManager,
    every: Duration,
) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    let state = Streaming {
        subscription,
        manager,
        recheck: tokio::time::interval(every),
        done: false,
    };
    stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        let id = state.subscription.id();
        let event = loop {
            tokio::select! {
                biased;
                next = state.subscription.next() => match next {
                    Some(view) => {
                        state.done = view.is_finished();
                        break sse_event(&view);
                    }
                    None => {
                        state.done = true;
                        break closing_event("lagged", id, "this stream fell behind the task's events and was closed; the task goes on");
                    }
                },
                _ = state.recheck.tick() => {
                    if state.manager.contains(id) {
                        continue;
                    }
                    // The task has left the registry: its last event, if it was told to this
                    // subscription, is waiting.
                    if let Some(view) = state.subscription.try_next() {
                        state.done = view.is_finished();
                        break sse_event(&view);
                    }
                    state.done = true;
                    break closing_event("ended", id, "the task has ended; its last event came before this stream subscribed");
                }
            }
        };
        Some((Ok(event), state))
    })
}
