use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

struct Payload;
struct Rows;

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

#[flow(name = query)]
impl Queries {
    #[step]
    async fn prepare(&self, _task: &mut Task) -> Result<String, Infallible> {
        Ok(String::new())
    }

    #[step]
    async fn send(&self, _task: &mut Task, _payload: Payload) -> Result<Rows, Infallible> {
        Ok(Rows)
    }
}

fn main() {}
