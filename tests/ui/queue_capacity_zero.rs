use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

#[derive(HasTaskManager)]
struct Jobs {
    tasks: TaskManager,
}

#[flow(name = work, limit = 2, queue = 0)]
impl Jobs {
    #[step]
    async fn work(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }
}

fn main() {}
