// A flow with `on_owner_lost` persists the outputs of its compensated steps for their
// compensations: an output type that serde cannot write is refused on the type itself.

use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

#[derive(Clone)]
struct Receipt {
    number: u64,
}

#[derive(HasTaskManager)]
struct Orders {
    tasks: TaskManager,
}

#[flow(name = order, on_owner_lost = cancel)]
impl Orders {
    #[step(compensate = refund)]
    async fn charge(&self, _task: &mut Task<u32>) -> Result<Receipt, Infallible> {
        Ok(Receipt { number: 1 })
    }

    #[step]
    async fn ship(&self, _task: &mut Task<u32>, receipt: Receipt) -> Result<u64, Infallible> {
        Ok(receipt.number)
    }

    async fn refund(&self, _task: &mut Task<u32>, _receipt: Receipt) {}
}

fn main() {}
