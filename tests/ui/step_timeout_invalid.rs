use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

#[flow(name = query)]
impl Queries {
    #[step(timeout = "0s")]
    async fn zero(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    #[step(timeout = "2")]
    async fn no_unit(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    #[step(timeout = 2)]
    async fn not_a_string(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }
}

fn main() {}
