use std::convert::Infallible;
use std::rc::Rc;
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

    async fn abort_prepare(&self, _task: &mut Task, _reason: CancelReason) {
        let local = Rc::new(1);
        tokio::task::yield_now().await;
        drop(local);
    }
}

fn main() {}
