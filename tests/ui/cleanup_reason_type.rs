use std::convert::Infallible;
use std::sync::Arc;
use task_manager_core::{flow, CancelReason, HasTaskManager, Task, TaskManager};

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
}

type Reason = CancelReason;

// A reason parameter that is plainly not a `CancelReason` by value: the macro says so.
#[flow(name = query)]
impl Queries {
    #[step(cancel = by_reference)]
    async fn send(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    #[step(cancel = in_a_tuple)]
    async fn store(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    async fn by_reference(&self, _task: &mut Task, _reason: &CancelReason) {}

    async fn in_a_tuple(&self, _task: &mut Task, _reason: (CancelReason, u32)) {}
}

// A reason parameter whose type only rustc can judge: the error is on that type too.
#[flow(name = upload)]
impl Queries {
    #[step(cancel = as_text)]
    async fn write(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    #[step(cancel = shared)]
    async fn flush(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    #[step(cancel = through_an_alias)]
    async fn close(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    async fn as_text(&self, _task: &mut Task, _reason: String) {}

    async fn shared(&self, _task: &mut Task, _reason: Arc<CancelReason>) {}

    // Fine: an alias of `CancelReason` is `CancelReason`.
    async fn through_an_alias(&self, _task: &mut Task, _reason: Reason) {}
}

fn main() {}
