//! `crate = "..."`: a crate that re-exports the runtime can point the macros at its own
//! path. Here the runtime is reached only through `crate::runtime::tm` (that the path is
//! really used is shown by `tests/ui/crate_path_unresolved.rs`, where a wrong one fails).

use std::convert::Infallible;
use std::sync::Arc;

/// A re-exporting module, as a facade crate would have.
mod runtime {
    pub use ::task_manager_core as tm;
}

use runtime::tm::{flow, HasTaskManager, Passport, Task, TaskManager};

#[derive(HasTaskManager)]
#[task_manager(crate = "crate::runtime::tm")]
struct Greeter {
    tasks: TaskManager,
}

#[flow(name = greet, timeout = "5s", crate = "crate::runtime::tm")]
impl Greeter {
    #[step]
    async fn greet(&self, task: &mut Task<&'static str>) -> Result<String, Infallible> {
        Ok(format!("hello, {}", task.payload()))
    }
}

#[tokio::test(start_paused = true)]
async fn a_flow_runs_through_a_reexported_runtime() {
    let greeter = Arc::new(Greeter {
        tasks: TaskManager::new(),
    });
    let outcome = greeter
        .execute_greet(Passport::new("world"))
        .expect("submitted")
        .await;
    assert_eq!(outcome.flow(), "greet");
    assert_eq!(outcome.into_result().expect("completed"), "hello, world");
}
