use std::convert::Infallible;
use task_manager_core::{flow, CancelReason, HasTaskManager, Task, TaskManager};

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

#[flow(name = query)]
impl Queries {
    #[step(cancel = abort_prepare)]
    async fn prepare(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    fn abort_prepare(&self, _task: &mut Task, _reason: CancelReason) {}
}

fn main() {}
