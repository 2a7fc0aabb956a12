use std::convert::Infallible;
use task_manager_core::{flow, CancelReason, HasTaskManager, Task, TaskManager};

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

#[flow(name = query)]
impl Queries {
    #[step(cancel)]
    async fn prepare(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    #[step = "abort_send"]
    async fn send(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    async fn abort_prepare(&self, _task: &mut Task, _reason: CancelReason) {}
}

fn main() {}
