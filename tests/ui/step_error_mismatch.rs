use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

#[flow(name = query)]
impl Queries {
    #[step]
    async fn parse(&self, _task: &mut Task) -> Result<u32, std::num::ParseIntError> {
        "7".parse()
    }

    #[step]
    async fn send(&self, _task: &mut Task, _n: u32) -> Result<(), std::io::Error> {
        Ok(())
    }
}

fn main() {}
