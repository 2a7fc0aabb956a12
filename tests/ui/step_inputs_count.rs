use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

#[flow(name = query)]
impl Queries {
    #[step]
    async fn prepare(&self, _task: &mut Task, _sql: String) -> Result<String, Infallible> {
        Ok(String::new())
    }

    #[step]
    async fn send(&self, _task: &mut Task, _sql: String, _retries: u32) -> Result<(), Infallible> {
        Ok(())
    }
}

fn main() {}
