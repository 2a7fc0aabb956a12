use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

struct Rows;

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

#[flow(name = query)]
impl Queries {
    #[step]
    async fn count(&self, _task: &mut Task) -> u32 {
        7
    }

    #[step]
    async fn rows(&self, _task: &mut Task, _count: u32) -> Result<Rows, Infallible> {
        Ok(Rows)
    }
}

#[flow(name = upload)]
impl Queries {
    #[step]
    async fn upload(&self, _task: &mut Task) -> Rows {
        Rows
    }
}

fn main() {}
