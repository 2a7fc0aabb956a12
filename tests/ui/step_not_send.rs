use std::convert::Infallible;
use std::rc::Rc;
use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

#[flow(name = query)]
impl Queries {
    #[step]
    async fn prepare(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    #[step]
    async fn send(&self, _task: &mut Task) -> Result<(), Infallible> {
        let local = Rc::new(1);
        tokio::task::yield_now().await;
        drop(local);
        Ok(())
    }
}

fn main() {}
