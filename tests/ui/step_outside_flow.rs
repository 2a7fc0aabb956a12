use std::convert::Infallible;
use task_manager_core::{step, Task};

struct Queries;

impl Queries {
    #[step]
    async fn prepare(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }
}

fn main() {}
