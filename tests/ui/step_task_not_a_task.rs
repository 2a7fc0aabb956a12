use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, TaskManager};

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

#[flow(name = query)]
impl Queries {
    #[step]
    async fn prepare(&self, _sql: &mut String) -> Result<(), Infallible> {
        Ok(())
    }
}

fn main() {}
