use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

/// Named like a `Result` alias, but a struct: only rustc can tell.
struct QueryResult {
    rows: u32,
}

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

#[flow(name = query)]
impl Queries {
    #[step]
    async fn count(&self, _task: &mut Task) -> QueryResult {
        QueryResult { rows: 7 }
    }

    #[step]
    async fn rows(&self, _task: &mut Task, result: u32) -> Result<u32, Infallible> {
        Ok(result)
    }
}

fn main() {}
