// A flow with `on_owner_lost = resume` keeps the task's output (its last step's value) with
// the task's seal, so that any instance reads it back once the task finished, wherever it
// was resumed: an output type that serde cannot write is refused on the type itself.

use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

/// Not serialisable.
struct Receipt {
    number: u32,
}

#[derive(HasTaskManager)]
struct Payments {
    tasks: TaskManager,
}

#[flow(name = pay, on_owner_lost = resume)]
impl Payments {
    #[step]
    async fn charge(&self, _task: &mut Task<u32>) -> Result<u32, Infallible> {
        Ok(7)
    }

    #[step]
    async fn mail(&self, _task: &mut Task<u32>, number: u32) -> Result<Receipt, Infallible> {
        Ok(Receipt { number })
    }
}

fn main() {}
