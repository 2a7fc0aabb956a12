// A flow with `on_owner_lost = resume` persists each step's input (the previous step's
// output), to run the lost step again from it: an input type that serde cannot write is
// refused on the step's input parameter. Its steps cannot be `#[cfg]`-ed (the claimant
// resumes a step by its index).

use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

/// Not serialisable.
struct Receipt {
    number: u32,
}

#[derive(HasTaskManager)]
struct Payments {
    tasks: TaskManager,
}

#[flow(name = pay, on_owner_lost = resume)]
impl Payments {
    #[step]
    async fn charge(&self, _task: &mut Task<u32>) -> Result<Receipt, Infallible> {
        Ok(Receipt { number: 7 })
    }

    #[step]
    async fn mail(&self, _task: &mut Task<u32>, receipt: Receipt) -> Result<u32, Infallible> {
        Ok(receipt.number)
    }
}

#[derive(HasTaskManager)]
struct Conditional {
    tasks: TaskManager,
}

#[flow(name = conditional, on_owner_lost = resume)]
impl Conditional {
    #[step]
    async fn first(&self, _task: &mut Task<u32>) -> Result<(), Infallible> {
        Ok(())
    }

    #[cfg(any())]
    #[step]
    async fn skipped(&self, _task: &mut Task<u32>) -> Result<(), Infallible> {
        Ok(())
    }
}

fn main() {}
