use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

#[derive(HasTaskManager)]
struct Jobs {
    tasks: TaskManager,
}

#[flow(name = work)]
impl Jobs {
    #[step(resource = "")]
    async fn empty(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    #[step(resource = db)]
    async fn bare(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    #[step(resources = "db")]
    async fn plural(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }
}

fn main() {}
