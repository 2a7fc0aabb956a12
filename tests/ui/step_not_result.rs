use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

#[flow(name = query)]
impl Queries {
    #[step]
    async fn nothing(&self, _task: &mut Task) {}

    #[step]
    async fn option(&self, _task: &mut Task) -> Option<u32> {
        None
    }

    #[step]
    async fn pair(&self, _task: &mut Task, _n: u32) -> (u32, u32) {
        (1, 2)
    }
}

fn main() {}
