use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

#[derive(HasTaskManager)]
struct Shop {
    tasks: TaskManager,
}

#[flow(name = order)]
impl Shop {
    #[step(compensate = forget)]
    async fn ship(&self, _task: &mut Task) -> Result<u32, Infallible> {
        Ok(7)
    }

    #[step(compensate = missing)]
    async fn bill(&self, _task: &mut Task, _receipt: u32) -> Result<(), Infallible> {
        Ok(())
    }

    /// Takes no output.
    async fn forget(&self, _task: &mut Task) {}
}

fn main() {}
