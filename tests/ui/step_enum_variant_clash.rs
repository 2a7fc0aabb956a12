use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

// `step_1` and `step1` are two methods, but one variant `Step1` of `QueryStep`.
#[flow(name = query)]
impl Queries {
    #[step]
    async fn step_1(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    #[step]
    async fn step1(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }
}

fn main() {}
