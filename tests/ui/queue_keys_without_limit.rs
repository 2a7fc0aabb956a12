use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

#[derive(HasTaskManager)]
struct Jobs {
    tasks: TaskManager,
}

#[flow(name = work, queue = 10, max_wait = "5s")]
impl Jobs {
    #[step]
    async fn work(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }
}

fn main() {}
