use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

/// Not `Clone`: no copy of it can be kept for a compensation.
struct Reservation;

#[derive(HasTaskManager)]
struct Shop {
    tasks: TaskManager,
}

#[flow(name = order)]
impl Shop {
    #[step(compensate = restock)]
    async fn reserve(&self, _task: &mut Task) -> Result<Reservation, Infallible> {
        Ok(Reservation)
    }

    #[step(compensate = refund)]
    async fn charge(&self, _task: &mut Task, _r: Reservation) -> Result<u32, Infallible> {
        Ok(7)
    }

    async fn restock(&self, _task: &mut Task, _reservation: Reservation) {}

    /// Takes the wrong type: its step returns `u32`.
    async fn refund(&self, _task: &mut Task, _receipt: String) {}
}

fn main() {}
