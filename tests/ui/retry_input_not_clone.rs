use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Retry, Task, TaskManager};

/// Not `Clone`: a retrying step could not be given it twice.
struct Connection;

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

fn retries() -> Retry<Infallible> {
    Retry::attempts(3)
}

#[flow(name = query)]
impl Queries {
    #[step]
    async fn connect(&self, _task: &mut Task) -> Result<Connection, Infallible> {
        Ok(Connection)
    }

    #[step(retry = retries)]
    async fn send(&self, _task: &mut Task, _connection: Connection) -> Result<(), Infallible> {
        Ok(())
    }
}

fn main() {}
