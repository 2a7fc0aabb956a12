use task_manager_core::{HasTaskManager, TaskManager};

#[derive(HasTaskManager)]
#[task_manager(krate = "task_manager_core")]
struct Queries {
    #[task_manager(main)]
    tasks: TaskManager,
}

#[derive(HasTaskManager)]
#[task_manager(crate = "task_manager_core", crate = "task_manager_core")]
struct Uploads {
    tasks: TaskManager,
}

fn main() {}
