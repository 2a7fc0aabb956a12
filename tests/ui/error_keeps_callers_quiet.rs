// One mistake in a flow is one error: the method `execute_query` still exists (as a stub),
// so the code that calls it adds none of its own.
use std::convert::Infallible;
use std::sync::Arc;
use task_manager_core::{flow, HasTaskManager, Passport, Task, TaskManager};

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

#[flow(name = query)]
impl Queries {
    #[step]
    fn prepare(&self, task: &mut Task<String>) -> Result<usize, Infallible> {
        Ok(task.payload().len())
    }
}

async fn caller(queries: Arc<Queries>) -> usize {
    let handle = queries.execute_query(Passport::new(String::new())).unwrap();
    handle.await.into_result().unwrap()
}

fn main() {
    let _ = caller;
}
