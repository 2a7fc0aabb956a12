use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

#[flow(name = not_a_string, crate = task_manager_core)]
impl Queries {
    #[step]
    async fn a(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }
}

#[flow(name = not_a_path, crate = "task manager core")]
impl Queries {
    #[step]
    async fn b(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }
}

fn main() {}
