//! The store against a real PostgreSQL: one test binary, so that the throwaway server is
//! started once (see `support.rs`), one file per feature.

mod cancel;
mod claim_races;
mod claimant_compensations;
mod cluster_status;
mod connect_errors;
mod crash;
mod crash_explorer;
mod crash_storm;
mod delivery;
mod leases;
mod limits;
mod migrations;
mod nodes;
mod processes;
mod purge;
mod records;
mod restart;
mod resume;
mod resume_storm;
mod storm;
mod support;
mod text;
mod writes;
