//! Tools for testing flows (feature `testing`): the [cancellation explorer](CancelExplorer),
//! which cancels a flow at every one of its await points in turn and checks the contract at
//! each.
//!
//! Enable the feature for tests only:
//!
//! ```toml
//! [dev-dependencies]
//! task-manager-core = { version = "0.1", features = ["testing"] }
//! ```

mod explorer;
pub(crate) mod recorder;

pub use explorer::{AwaitPoint, CancelExplorer, Case, ExploreError, ExploreReport, PointReport};
