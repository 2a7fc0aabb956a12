use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

// Three mistakes, three errors in one build.
#[flow(name = query)]
impl Queries {
    #[step]
    fn prepare(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    #[step(retries = 3)]
    async fn send(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    #[step(cancel = abort_fetch)]
    async fn fetch(&mut self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }
}

fn main() {}
