use task_manager_core::{HasTaskManager, TaskManager};

#[derive(HasTaskManager)]
enum Queries {
    One { tasks: TaskManager },
}

fn main() {}
