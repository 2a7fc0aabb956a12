use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

#[flow(name = query)]
impl Queries {
    #[step]
    async fn shared_ref(&self, _task: &Task) -> Result<(), Infallible> {
        Ok(())
    }

    #[step]
    async fn by_value(&self, _task: Task) -> Result<(), Infallible> {
        Ok(())
    }

    #[step]
    async fn missing(&self) -> Result<(), Infallible> {
        Ok(())
    }
}

fn main() {}
