//! The JSON error every route and helper answers with: `{"error": "<code>", "message": "..."}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use task_manager_core::SubmitError;

/// An HTTP error with a stable machine-readable `code` and a sentence for people.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable snake-case code (`malformed_id`, `not_found`, `forbidden`, ...).
    pub code: &'static str,
    /// What was wrong, for people.
    pub message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'static str,
    message: &'a str,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn forbidden() -> Self {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this request may not do that",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code,
            message: &self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

/// A refused submission as a response, so a handler can `?` an `execute_*` call:
/// a duplicate id is `409 Conflict`, a full queue or a manager shutting down
/// `503 Service Unavailable`, anything else `500`; the body names the task and the cause.
///
/// ```
/// use task_manager_axum::SubmitRejection;
/// use task_manager_core::{SubmitError, TaskId};
///
/// fn submit() -> Result<(), SubmitError> {
///     Err(SubmitError::DuplicateId { id: TaskId::new(), flow: "query" })
/// }
/// async fn handler() -> Result<&'static str, SubmitRejection> {
///     submit()?;
///     Ok("started")
/// }
/// ```
#[derive(Debug)]
pub struct SubmitRejection(pub SubmitError);

impl From<SubmitError> for SubmitRejection {
    fn from(error: SubmitError) -> Self {
        SubmitRejection(error)
    }
}

impl IntoResponse for SubmitRejection {
    fn into_response(self) -> Response {
        let (status, code) = match &self.0 {
            SubmitError::DuplicateId { .. } => (StatusCode::CONFLICT, "duplicate_id"),
            SubmitError::QueueFull { .. } => (StatusCode::SERVICE_UNAVAILABLE, "queue_full"),
            SubmitError::ShuttingDown { .. } => (StatusCode::SERVICE_UNAVAILABLE, "shutting_down"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "submit_refused"),
        };
        ApiError::new(status, code, self.0.to_string()).into_response()
    }
}
