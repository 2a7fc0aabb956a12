//! Helpers shared by the integration tests and the examples.

pub mod panics;
pub mod soak;
