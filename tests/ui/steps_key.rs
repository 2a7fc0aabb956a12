use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

// The enum's name is an identifier, not a string.
#[flow(name = query, steps = "QueryPhase")]
impl Queries {
    #[step]
    async fn send(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }
}

fn main() {}
