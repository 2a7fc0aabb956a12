//! The queue add-on: bounded concurrency per flow, a bounded and cancellable priority queue
//! in front of it, and named resources that single steps wait for.
//!
//! The public [`Limit`](crate::Limit) (permits, queue capacity, max wait) is a value beside
//! the flow's description (`limit.rs`); this folder is what runs it.
//!
//! * `config`: the limits and resources given to [`TaskManagerBuilder`](crate::TaskManagerBuilder)
//!   (`builder.rs`), checked into the manager's lines (it reports [`ConfigError`](crate::ConfigError)s).
//! * `table`: one manager's lines (by flow name) and resources (by name).
//! * `permits`: the priority-ordered, bounded semaphore everything above is made of; its
//!   invariants are written at its top.
//! * `line`: its waiting line (priority levels of arrival-ordered deques).
//! * `wait`: the waits themselves, raced against the task's cancel flag and deadline exactly
//!   as a step is: the admission wait the runner spawns around a task's body, and
//!   [`acquire`], which the runner awaits for a step's resource. Neither knows the runner.
//!
//! * `cluster_wait`: the same two waits in a cluster-wide line, when the manager's store
//!   shares limits (`Cluster::shares_limits`): the store keeps the line, the task waits for
//!   its answer raced against its cancel and deadline as here.
//!
//! Cost for a flow that uses none of it: at submission three plain reads (the flow's static
//! limit and resource list, the manager's table being empty); nothing per step. See
//! `table.rs`.

mod cluster_wait;
mod config;
mod line;
mod permits;
mod table;
mod wait;

pub(crate) use cluster_wait::{acquire_in_cluster, run_cluster_admitted};
pub(crate) use config::QueueConfig;
pub(crate) use permits::{Abandonments, Entry, Full, Permit};
pub(crate) use table::Queues;
pub(crate) use wait::{acquire, cancel, run_admitted, WaitLimits};

use crate::shared::TaskShared;

/// The permit of a task admitted by its flow's limit, held for the task's whole run.
pub(crate) type TaskPermit = Permit<TaskShared>;
/// The permit of a step's resource, held for the step and its cleanup: one of this
/// manager's, or one of its cluster's when the store shares limits (carried by a permit of
/// its own line, `Permit::carrying`, so that both are one pointer).
pub(crate) type ResourcePermit = Permit<TaskShared>;
