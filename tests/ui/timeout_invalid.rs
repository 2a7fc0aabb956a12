use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

#[flow(name = no_unit, timeout = "30")]
impl Queries {
    #[step]
    async fn a(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }
}

#[flow(name = fraction, timeout = "1.5s")]
impl Queries {
    #[step]
    async fn b(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }
}

#[flow(name = zero, timeout = "0s")]
impl Queries {
    #[step]
    async fn c(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }
}

#[flow(name = not_a_string, timeout = 30)]
impl Queries {
    #[step]
    async fn d(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }
}

fn main() {}
