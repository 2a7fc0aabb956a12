use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Retry, Task, TaskManager};

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

fn retries() -> Retry<Infallible> {
    Retry::attempts(3)
}

#[flow(name = query)]
impl Queries {
    #[step(resource = "db", timeout = "2s", retry = retries)]
    async fn send(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }
}

fn main() {}
