//! Helpers for the user's own route that starts a flow: wait for the result, cancelling with
//! [`CLIENT_DISCONNECTED`] if the client goes away, or answer `202 Accepted` at once.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use task_manager_core::{Outcome, TaskHandle, TaskId};

use crate::error::ApiError;

/// The reason a task is cancelled with when the request waiting for it goes away
/// (`CancelReason::Requested("client disconnected")`).
pub const CLIENT_DISCONNECTED: &str = "client disconnected";

/// Waits for the task of `handle`; if this future is dropped first (axum drops a handler's
/// future when its client disconnects), the task is cancelled with [`CLIENT_DISCONNECTED`]
/// and detached: the interrupted step's cleanup still runs to its end on the runtime, after
/// the response is gone, and the task then leaves the registry.
///
/// Without it, dropping the `TaskHandle` would cancel too, with `CancelReason::HandleDropped`;
/// this says why.
///
/// ```
/// use axum::{extract::State, Json};
/// use std::sync::Arc;
/// use task_manager_axum::{cancel_on_disconnect, SubmitRejection};
/// use task_manager_core::{flow, HasTaskManager, Passport, Task, TaskManager};
///
/// #[derive(HasTaskManager)]
/// struct Service { tasks: TaskManager }
///
/// #[flow(name = report)]
/// impl Service {
///     #[step]
///     async fn build(&self, _task: &mut Task<u32>) -> Result<String, std::io::Error> {
///         Ok("done".into())
///     }
/// }
///
/// async fn run_report(State(service): State<Arc<Service>>) -> Result<Json<String>, SubmitRejection> {
///     let handle = service.execute_report(Passport::new(7))?;
///     let outcome = cancel_on_disconnect(handle).await;
///     Ok(Json(format!("{}", outcome.ending())))
/// }
/// ```
pub fn cancel_on_disconnect<T, E, R>(handle: TaskHandle<T, E, R>) -> CancelOnDisconnect<T, E, R> {
    CancelOnDisconnect {
        handle: Some(handle),
    }
}

/// The future of [`cancel_on_disconnect`]: the task's [`Outcome`], or, dropped before it,
/// a cancel with [`CLIENT_DISCONNECTED`].
#[must_use = "dropping it cancels the task with \"client disconnected\"; await it"]
pub struct CancelOnDisconnect<T, E, R> {
    handle: Option<TaskHandle<T, E, R>>,
}

impl<T, E, R> CancelOnDisconnect<T, E, R> {
    /// The task's id.
    pub fn id(&self) -> Option<TaskId> {
        self.handle.as_ref().map(TaskHandle::id)
    }
}

impl<T, E, R> std::fmt::Debug for CancelOnDisconnect<T, E, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelOnDisconnect")
            .field("id", &self.id())
            .finish()
    }
}

impl<T, E, R> Future for CancelOnDisconnect<T, E, R> {
    type Output = Outcome<T, E, R>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(handle) = self.handle.as_mut() else {
            panic!("CancelOnDisconnect polled after it returned the outcome");
        };
        let outcome = std::task::ready!(Pin::new(handle).poll(cx));
        self.handle = None;
        Poll::Ready(outcome)
    }
}

impl<T, E, R> Drop for CancelOnDisconnect<T, E, R> {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            // The first reason wins: a task already ending keeps its own.
            handle.cancel(CLIENT_DISCONNECTED);
            handle.detach();
        }
    }
}

/// `202 Accepted` for a task started in the background: a `Location` header pointing at its
/// status (`{base}/{id}`) and the body `{"id": "...", "location": "..."}`.
///
/// ```
/// use axum::response::IntoResponse;
/// use task_manager_axum::Accepted;
/// use task_manager_core::TaskId;
///
/// let id = TaskId::new();
/// let response = Accepted::new(id, "/tasks").into_response();
/// assert_eq!(response.status(), 202);
/// assert_eq!(response.headers()["location"], format!("/tasks/{id}").as_str());
/// ```
#[derive(Debug, Clone)]
pub struct Accepted {
    id: TaskId,
    location: String,
}

#[derive(Serialize)]
struct AcceptedBody<'a> {
    id: String,
    location: &'a str,
}

impl Accepted {
    /// The answer for task `id`, whose status is served under `base` (the prefix the task
    /// routes are nested at, such as `/tasks`).
    pub fn new(id: TaskId, base: &str) -> Self {
        Accepted {
            id,
            location: format!("{}/{id}", base.trim_end_matches('/')),
        }
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The `Location`.
    pub fn location(&self) -> &str {
        &self.location
    }
}

impl IntoResponse for Accepted {
    fn into_response(self) -> Response {
        let Ok(location) = HeaderValue::from_str(&self.location) else {
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "bad_location",
                format!(
                    "the location {:?} is not a valid header value",
                    self.location
                ),
            )
            .into_response();
        };
        let body = AcceptedBody {
            id: self.id.to_string(),
            location: &self.location,
        };
        (
            StatusCode::ACCEPTED,
            [(header::LOCATION, location)],
            Json(body),
        )
            .into_response()
    }
}

/// Lets the task of `handle` run on in the background (detached: it is no longer cancelled
/// when a handle drops; cancel it by id) and answers `202 Accepted` with its `Location` under
/// `base`.
///
/// ```
/// use axum::{extract::State, response::IntoResponse};
/// use std::sync::Arc;
/// use task_manager_axum::{accepted, SubmitRejection};
/// use task_manager_core::{flow, HasTaskManager, Passport, Task, TaskManager};
///
/// #[derive(HasTaskManager)]
/// struct Service { tasks: TaskManager }
///
/// #[flow(name = export)]
/// impl Service {
///     #[step]
///     async fn write(&self, _task: &mut Task<u32>) -> Result<(), std::io::Error> { Ok(()) }
/// }
///
/// async fn start_export(State(service): State<Arc<Service>>) -> Result<impl IntoResponse, SubmitRejection> {
///     Ok(accepted(service.execute_export(Passport::new(7))?, "/tasks"))
/// }
/// ```
pub fn accepted<T, E, R>(handle: TaskHandle<T, E, R>, base: &str) -> Accepted {
    let answer = Accepted::new(handle.id(), base);
    handle.detach();
    answer
}
