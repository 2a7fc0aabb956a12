use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Retry, Task, TaskManager};

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

/// Returns a number, not a policy.
fn attempts() -> u32 {
    3
}

/// A policy for another error type.
fn io_retries() -> Retry<std::io::Error> {
    Retry::attempts(3)
}

#[flow(name = query)]
impl Queries {
    #[step(retry = attempts)]
    async fn prepare(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    #[step(retry = io_retries)]
    async fn send(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

}

fn main() {}
