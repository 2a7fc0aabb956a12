use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

struct QueryInfo {
    server_request_id: u32,
}

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

#[flow(name = query)]
impl Queries {
    #[step]
    async fn prepare(&self, task: &mut Task<String, QueryInfo>) -> Result<u32, Infallible> {
        Ok(task.info().server_request_id)
    }
}

fn main() {}
