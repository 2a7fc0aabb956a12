// A flow with `on_owner_lost` persists its payload and runtime info: types that serde cannot
// write are refused on the types themselves. And `on_owner_lost` takes `cancel` or `resume`
// only (`resume`: tests/ui/owner_lost_resume.rs).

use std::convert::Infallible;
use task_manager_core::{flow, CancelReason, HasTaskManager, Task, TaskManager};

struct Upload {
    bytes: Vec<u8>,
}

#[derive(Default)]
struct Progress {
    sent: usize,
}

#[derive(HasTaskManager)]
struct Uploads {
    tasks: TaskManager,
}

#[flow(name = upload, on_owner_lost = cancel)]
impl Uploads {
    #[step(cancel = abort)]
    async fn send(&self, task: &mut Task<Upload, Progress>) -> Result<(), Infallible> {
        task.info_mut().sent = task.payload().bytes.len();
        Ok(())
    }

    async fn abort(&self, _task: &mut Task<Upload, Progress>, _reason: CancelReason) {}
}

#[derive(HasTaskManager)]
struct Other {
    tasks: TaskManager,
}

#[flow(name = other, on_owner_lost = retry)]
impl Other {
    #[step]
    async fn only(&self, _task: &mut Task<u32>) -> Result<(), Infallible> {
        Ok(())
    }
}

fn main() {}
