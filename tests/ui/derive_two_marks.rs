use task_manager_core::{HasTaskManager, TaskManager};

#[derive(HasTaskManager)]
struct Queries {
    #[task_manager]
    queries: TaskManager,
    #[task_manager]
    uploads: TaskManager,
}

fn main() {}
