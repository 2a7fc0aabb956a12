use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, TaskManager};

/// Named like an alias of `Task`, but a struct: only rustc can tell.
struct QueryTask;

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

#[flow(name = query)]
impl Queries {
    #[step]
    async fn prepare(&self, _task: &mut QueryTask) -> Result<(), Infallible> {
        Ok(())
    }
}

fn main() {}
