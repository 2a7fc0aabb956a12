use task_manager_core::{HasTaskManager, TaskManager};

#[derive(HasTaskManager)]
struct Queries {
    queries: TaskManager,
    uploads: TaskManager,
}

fn main() {}
