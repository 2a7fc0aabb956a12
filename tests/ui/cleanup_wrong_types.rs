use std::convert::Infallible;
use task_manager_core::{flow, CancelReason, HasTaskManager, Task, TaskManager};

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

// What only rustc can judge in a cleanup's signature: the types of its parameters.
#[flow(name = query)]
impl Queries {
    #[step(cancel = wrong_reason)]
    async fn send(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    #[step(cancel = wrong_task)]
    async fn store(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    async fn wrong_reason(&self, _task: &mut Task, _reason: String) {}

    async fn wrong_task(&self, _task: &mut Task<u32>, _reason: CancelReason) {}
}

fn main() {}
