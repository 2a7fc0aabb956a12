use task_manager_core::HasTaskManager;

#[derive(HasTaskManager)]
struct Queries {
    endpoint: String,
}

fn main() {}
