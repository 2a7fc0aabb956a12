use std::convert::Infallible;
use task_manager_core::{flow, Task};

struct Queries;

#[flow(name = query)]
impl Queries {
    #[step]
    async fn prepare(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }
}

fn main() {}
