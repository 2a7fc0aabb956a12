use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

#[flow(name = query)]
impl Queries {
    #[step]
    async fn no_receiver(_task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    #[step]
    async fn by_value(self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    #[step]
    async fn by_mut(&mut self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }
}

fn main() {}
