use std::convert::Infallible;
use task_manager_core::{flow, Task};

trait Prepare {
    async fn prepare(&self, task: &mut Task) -> Result<(), Infallible>;
}

struct Queries;

#[flow(name = query)]
impl Prepare for Queries {
    #[step]
    async fn prepare(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }
}

fn main() {}
