use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

#[derive(HasTaskManager)]
struct Reports {
    tasks: TaskManager,
}

// `steps = false`: no step enum at all.
#[flow(name = report, steps = false)]
impl Reports {
    #[step]
    async fn render(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }
}

fn main() {
    let _ = ReportStep::Render;
}
