use task_manager_core::{flow, HasTaskManager, Retry, Task, TaskManager};

/// No `Display`: a failed attempt could not be reported.
#[derive(Debug)]
struct Unavailable;

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

fn retries() -> Retry<Unavailable> {
    Retry::attempts(3)
}

#[flow(name = query)]
impl Queries {
    #[step(retry = retries)]
    async fn send(&self, _task: &mut Task) -> Result<(), Unavailable> {
        Ok(())
    }
}

fn main() {}
