//! axum routes for a [`TaskManager`](task_manager_core::TaskManager): the snapshot, one
//! task's status, cancel by id (typed answer, optional wait for the cleanup), a server-sent
//! event stream per task, an authorization hook deciding who may see or cancel which task,
//! and helpers for the user's own route that starts a flow.
//!
//! ```no_run
//! use task_manager_axum::{BearerToken, EventHub, TaskRoutes};
//! use task_manager_core::TaskManager;
//!
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! let hub = EventHub::new();
//! let manager = TaskManager::builder().addon(hub.clone()).build()?;
//! let app = axum::Router::new().nest(
//!     "/tasks",
//!     TaskRoutes::new(manager.clone(), BearerToken::new("s3cret")).events(hub).into_router(),
//! );
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! Starting a flow stays the user's route; [`cancel_on_disconnect`] and [`accepted`] are the
//! two usual shapes (wait for the result, or answer `202` at once).

mod authorize;
mod error;
mod events;
pub mod json;
mod routes;
mod start;

pub use authorize::{Action, AllowAll, Authorize, BearerToken};
pub use error::{ApiError, SubmitRejection};
pub use events::{EventHub, Subscription, Watch, DEFAULT_SUBSCRIBER_CAPACITY};
pub use routes::{
    task_routes, TaskRoutes, DEFAULT_BODY_LIMIT, DEFAULT_CANCEL_REASON, DEFAULT_RECHECK,
};
pub use start::{
    accepted, cancel_on_disconnect, Accepted, CancelOnDisconnect, CLIENT_DISCONNECTED,
};
