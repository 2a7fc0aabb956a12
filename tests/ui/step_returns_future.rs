use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use task_manager_core::{flow, CancelReason, HasTaskManager, Task, TaskManager};

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

// A step or cleanup written as a `fn` that returns a future: one error each, that it must be
// an `async fn` (its return type is the future, not also reported as "not a `Result`").
#[flow(name = query)]
impl Queries {
    #[step(cancel = abort_prepare)]
    fn prepare(&self, _task: &mut Task) -> impl Future<Output = Result<u32, Infallible>> {
        async { Ok(1) }
    }

    #[step]
    fn send(&self, _task: &mut Task, rows: u32) -> Pin<Box<dyn Future<Output = Result<u32, Infallible>> + Send>> {
        Box::pin(async move { Ok(rows) })
    }

    fn abort_prepare(&self, _task: &mut Task, _reason: CancelReason) -> impl Future<Output = ()> {
        async {}
    }
}

fn main() {}
