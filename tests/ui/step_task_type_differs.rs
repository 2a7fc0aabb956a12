use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

#[derive(Default)]
struct QueryInfo;

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

#[flow(name = query)]
impl Queries {
    #[step]
    async fn prepare(&self, _task: &mut Task<String, QueryInfo>) -> Result<(), Infallible> {
        Ok(())
    }

    #[step]
    async fn send(&self, _task: &mut Task<&'static str, QueryInfo>) -> Result<(), Infallible> {
        Ok(())
    }
}

fn main() {}
