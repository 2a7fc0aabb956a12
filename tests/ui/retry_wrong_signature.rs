use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Retry, Task, TaskManager};

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

#[flow(name = query)]
impl Queries {
    #[step(retry = with_self)]
    async fn receive(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    fn with_self(&self) -> Retry<Infallible> {
        Retry::attempts(3)
    }
}

fn main() {}
