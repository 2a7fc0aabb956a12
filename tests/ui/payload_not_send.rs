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
    async fn prepare(&self, _task: &mut Task<Rc<String>>) -> Result<(), Infallible> {
        Ok(())
    }
}

fn main() {}
