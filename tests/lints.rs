//! The code `#[flow]` and `#[derive(HasTaskManager)]` write raises no warning in the user's
//! crate, even under pedantic clippy (`cargo clippy --all-targets` checks this file).

#![deny(warnings, clippy::all, clippy::pedantic)]

use std::sync::Arc;

use task_manager_core::{flow, CancelReason, HasTaskManager, Passport, Task, TaskManager};

/// What the steps learn.
#[derive(Debug, Default)]
pub struct Info {
    /// Set by `prepare`.
    pub request: Option<u32>,
}

/// The task context of the flow, by alias.
pub type QueryTask = Task<String, Info>;

/// A manager struct, as a user writes it.
#[derive(HasTaskManager)]
pub struct Queries {
    tasks: TaskManager,
}

/// The error of the flow.
#[derive(Debug, PartialEq, Eq)]
pub struct QueryError;

/// A `Result` alias, as crates often have.
pub type QueryResult<T> = Result<T, QueryError>;

#[flow(name = query, timeout = "1m 30s")]
impl Queries {
    #[step(cancel = abort_prepare)]
    async fn prepare(&self, task: &mut QueryTask) -> Result<usize, QueryError> {
        task.info_mut().request = Some(7);
        Ok(task.payload().len())
    }

    #[cfg(any())]
    #[step]
    async fn audit(&self, _task: &mut QueryTask, length: usize) -> Result<usize, QueryError> {
        Ok(length)
    }

    #[step]
    async fn send(&self, _task: &mut QueryTask, length: usize) -> Result<(), QueryError> {
        if length == 0 {
            return Err(QueryError);
        }
        Ok(())
    }

    #[step(cancel = abort_fetch)]
    async fn fetch(&self, task: &mut QueryTask) -> QueryResult<Vec<u32>> {
        tokio::task::yield_now().await;
        Ok(task.info().request.into_iter().collect())
    }

    async fn abort_prepare(&self, _task: &mut QueryTask, _reason: CancelReason) {}

    async fn abort_fetch(&self, _task: &mut QueryTask, _reason: CancelReason) {}
}

#[tokio::test(start_paused = true)]
async fn the_linted_flow_runs() {
    let queries = Arc::new(Queries {
        tasks: TaskManager::new(),
    });
    let handle = queries
        .execute_query(Passport::new("SELECT 1".to_owned()))
        .expect("submitted");
    assert_eq!(handle.await.into_result().expect("completed"), [7]);
}

/// A second flow on the same struct, whose first step carries a `#[cfg]` (the generated
/// code then starts from a unit output).
#[flow(name = ping)]
impl Queries {
    #[cfg(test)]
    #[step]
    async fn ping(&self, _task: &mut Task) -> Result<(), QueryError> {
        Ok(())
    }

    #[step]
    async fn pong(&self, _task: &mut Task) -> Result<&'static str, QueryError> {
        Ok("pong")
    }
}

#[tokio::test(start_paused = true)]
async fn the_linted_flow_with_a_cfg_first_step_runs() {
    let queries = Arc::new(Queries {
        tasks: TaskManager::new(),
    });
    let handle = queries.execute_ping(Passport::new(())).expect("submitted");
    assert_eq!(handle.await.into_result().expect("completed"), "pong");
}

/// A third flow, with the queue add-on's keys (and a `#[cfg]`-ed out step that needs a
/// resource: its entry in the flow's resource list goes with it).
#[flow(name = limited, limit = 2, queue = 10u16, max_wait = "5s", cleanup_timeout = "1s")]
impl Queries {
    #[step]
    async fn plan(&self, _task: &mut Task) -> Result<(), QueryError> {
        Ok(())
    }

    #[cfg(any())]
    #[step(resource = "gpu")]
    async fn render(&self, _task: &mut Task) -> Result<(), QueryError> {
        Ok(())
    }

    #[step(cancel = abort_store, resource = "db")]
    async fn store(&self, _task: &mut Task) -> Result<&'static str, QueryError> {
        tokio::task::yield_now().await;
        Ok("stored")
    }

    async fn abort_store(&self, _task: &mut Task, _reason: CancelReason) {}
}

#[tokio::test(start_paused = true)]
async fn the_linted_limited_flow_runs() {
    let queries = Arc::new(Queries {
        tasks: TaskManager::builder()
            .resource("db", 1)
            .build()
            .expect("a valid configuration"),
    });
    let handle = queries
        .execute_limited(Passport::new(()))
        .expect("submitted");
    assert_eq!(handle.await.into_result().expect("completed"), "stored");
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the query failed")
    }
}

/// The retry policy of `charge` below.
fn charge_retries() -> task_manager_core::Retry<QueryError> {
    task_manager_core::Retry::attempts(2)
}

/// A fourth flow, with every step policy: a time limit alone, a retry with a time limit and
/// a cleanup, compensations (one returning `()`, one a `Result`), and a `#[cfg]`-ed out step
/// with policies.
#[flow(name = saga)]
impl Queries {
    #[step(timeout = "1s", compensate = unreserve)]
    async fn reserve(&self, _task: &mut Task) -> Result<u32, QueryError> {
        Ok(3)
    }

    #[cfg(any())]
    #[step(timeout = "1s", retry = charge_retries, compensate = unreserve)]
    async fn audit_saga(&self, _task: &mut Task, amount: u32) -> Result<u32, QueryError> {
        Ok(amount)
    }

    #[step(cancel = void_charge, timeout = "2s", retry = charge_retries, compensate = refund)]
    async fn charge(&self, _task: &mut Task, amount: u32) -> Result<u32, QueryError> {
        tokio::task::yield_now().await;
        Ok(amount * 10)
    }

    #[step(retry = charge_retries)]
    async fn ship(&self, _task: &mut Task, receipt: u32) -> Result<u32, QueryError> {
        Ok(receipt)
    }

    async fn void_charge(&self, _task: &mut Task, _reason: CancelReason) {}

    async fn refund(&self, _task: &mut Task, _receipt: u32) -> Result<(), QueryError> {
        Ok(())
    }

    async fn unreserve(&self, _task: &mut Task, _amount: u32) {}
}

#[tokio::test(start_paused = true)]
async fn the_linted_saga_flow_runs() {
    let queries = Arc::new(Queries {
        tasks: TaskManager::new(),
    });
    let handle = queries.execute_saga(Passport::new(())).expect("submitted");
    assert_eq!(handle.await.into_result().expect("completed"), 30);
}
