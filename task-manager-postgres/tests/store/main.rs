//! The store against a real PostgreSQL: one test binary, so that the throwaway server is
//! started once (see `support.rs`), one file per feature.

mod cancel;
mod connect_errors;
mod delivery;
mod migrations;
mod records;
mod support;
mod text;
