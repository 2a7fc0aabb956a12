use task_manager_core::HasTaskManager;

#[derive(HasTaskManager)]
struct Queries {
    #[task_manager]
    tasks: Vec<String>,
}

fn main() {}
