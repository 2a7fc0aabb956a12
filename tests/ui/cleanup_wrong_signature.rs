use std::convert::Infallible;
use task_manager_core::{flow, CancelReason, HasTaskManager, Task, TaskManager};

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

// What the macro can see in a cleanup's signature: how many parameters, what it returns.
#[flow(name = query)]
impl Queries {
    #[step(cancel = no_reason)]
    async fn prepare(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    #[step(cancel = returns_value)]
    async fn fetch(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    #[step(cancel = extra_parameter)]
    async fn store(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    async fn no_reason(&self, _task: &mut Task) {}

    async fn returns_value(&self, _task: &mut Task, _reason: CancelReason) -> bool {
        true
    }

    async fn extra_parameter(&self, _task: &mut Task, _reason: CancelReason, _retries: u32) {}
}

fn main() {}
