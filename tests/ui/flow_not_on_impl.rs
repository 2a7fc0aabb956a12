use task_manager_core::{flow, HasTaskManager, TaskManager};

#[derive(HasTaskManager)]
#[flow(name = query)]
struct Queries {
    tasks: TaskManager,
}

fn main() {}
