use std::borrow::Cow;
use std::convert::Infallible;
use task_manager_core::{flow, HasTaskManager, Task, TaskManager};

#[derive(HasTaskManager)]
struct Queries {
    tasks: TaskManager,
    table: String,
}

// An output that borrows from the task, as written first. (rustc's own error on the body
// follows: as written, the elided lifetime is `&self`'s, not the task's. Owning the output
// fixes both.)
#[flow(name = query)]
impl Queries {
    #[step]
    async fn prepare(&self, task: &mut Task<String>) -> Result<&str, Infallible> {
        Ok(task.payload())
    }

    #[step]
    async fn send(&self, _task: &mut Task<String>, sql: &str) -> Result<usize, Infallible> {
        Ok(sql.len())
    }
}

// ... and with the named lifetime rustc suggests then.
#[flow(name = named)]
impl Queries {
    #[step]
    async fn prepare_named<'a>(&self, task: &'a mut Task<String>) -> Result<&'a str, Infallible> {
        Ok(task.payload())
    }

    #[step]
    async fn send_named(&self, _task: &mut Task<String>, sql: &str) -> Result<usize, Infallible> {
        Ok(sql.len())
    }
}

// A lifetime anywhere in the output: in a type's arguments, elided or not, in the last step.
#[flow(name = nested)]
impl Queries {
    #[step]
    async fn quote<'a>(&self, task: &'a mut Task<String>) -> Result<Cow<'a, str>, Infallible> {
        Ok(Cow::Borrowed(task.payload()))
    }

    #[step]
    async fn split(&self, _task: &mut Task<String>, sql: Cow<'_, str>) -> Result<Vec<&'_ str>, Infallible> {
        let _ = sql;
        Ok(Vec::new())
    }

    #[step]
    async fn table<'a>(&'a self, _task: &mut Task<String>, _parts: Vec<&str>) -> Result<(usize, &'a str), Infallible> {
        Ok((0, &self.table))
    }
}

fn main() {}
