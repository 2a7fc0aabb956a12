//! Contract 1: steps run in order; each receives the previous step's output; the task's
//! result is the last output. (A type mismatch between steps is a compile error: see the
//! trybuild UI tests.)

use std::convert::Infallible;
use std::sync::Arc;

use task_manager_core::{flow, Ending, HasTaskManager, Passport, StepEnd, Task, TaskManager};
use task_manager_support::Journal;

#[derive(HasTaskManager)]
struct Numbers {
    tasks: TaskManager,
    journal: Journal,
}

/// Three steps whose types all differ, so that each input can only be the previous output.
#[flow(name = arithmetic)]
impl Numbers {
    #[step]
    async fn parse(&self, task: &mut Task<&'static str>) -> Result<u32, Infallible> {
        self.journal
            .record(format!("parse got {:?}", task.payload()));
        tokio::task::yield_now().await; // a real suspension between steps' work
        Ok(task.payload().parse().unwrap_or(0))
    }

    #[step]
    async fn double(&self, _task: &mut Task<&'static str>, n: u32) -> Result<u64, Infallible> {
        self.journal.record(format!("double got {n}"));
        tokio::task::yield_now().await;
        Ok(u64::from(n) * 2)
    }

    #[step]
    async fn describe(&self, _task: &mut Task<&'static str>, n: u64) -> Result<String, Infallible> {
        self.journal.record(format!("describe got {n}"));
        Ok(format!("{n}!"))
    }
}

fn numbers() -> Arc<Numbers> {
    Arc::new(Numbers {
        tasks: TaskManager::new(),
        journal: Journal::new(),
    })
}

#[tokio::test(start_paused = true)]
async fn each_step_gets_the_previous_output_and_the_task_returns_the_last() {
    let numbers = numbers();
    let outcome = numbers
        .execute_arithmetic(Passport::new("21"))
        .expect("submitted")
        .await;

    assert_eq!(
        numbers.journal.entries(),
        ["parse got \"21\"", "double got 21", "describe got 42"]
    );
    assert_eq!(outcome.ending(), &Ending::Completed("42!".to_string()));
    assert_eq!(outcome.into_result().expect("completed"), "42!");
}

#[tokio::test(start_paused = true)]
async fn the_report_lists_the_steps_in_the_order_they_ran() {
    let numbers = numbers();
    let outcome = numbers
        .execute_arithmetic(Passport::new("5"))
        .expect("submitted")
        .await;

    let ran: Vec<(&str, StepEnd)> = outcome
        .report()
        .steps()
        .map(|step| (step.name, step.end))
        .collect();
    assert_eq!(
        ran,
        [
            ("parse", StepEnd::Completed),
            ("double", StepEnd::Completed),
            ("describe", StepEnd::Completed)
        ]
    );
    assert_eq!(outcome.into_result().expect("completed"), "10!");
}

#[derive(HasTaskManager)]
struct Chores {
    tasks: TaskManager,
    journal: Journal,
}

/// Steps that hand nothing on (`()`), and a last step whose output is the result.
#[flow(name = chores)]
impl Chores {
    #[step]
    async fn sweep(&self, _task: &mut Task) -> Result<(), Infallible> {
        self.journal.record("sweep");
        Ok(())
    }

    #[step]
    async fn mop(&self, _task: &mut Task) -> Result<(), Infallible> {
        self.journal.record("mop");
        Ok(())
    }

    #[step]
    async fn count(&self, _task: &mut Task) -> Result<usize, Infallible> {
        self.journal.record("count");
        Ok(self.journal.entries().len())
    }
}

#[tokio::test(start_paused = true)]
async fn steps_without_inputs_still_run_in_declaration_order() {
    let chores = Arc::new(Chores {
        tasks: TaskManager::new(),
        journal: Journal::new(),
    });
    let outcome = chores
        .execute_chores(Passport::new(()))
        .expect("submitted")
        .await;

    assert_eq!(chores.journal.entries(), ["sweep", "mop", "count"]);
    assert_eq!(outcome.into_result().expect("completed"), 3);
}

#[derive(HasTaskManager)]
struct Single {
    tasks: TaskManager,
}

#[flow(name = echo)]
impl Single {
    #[step]
    async fn echo(&self, task: &mut Task<Vec<u8>>) -> Result<Vec<u8>, Infallible> {
        Ok(std::mem::take(task.payload_mut()))
    }
}

#[tokio::test(start_paused = true)]
async fn a_one_step_flow_returns_that_step_s_output() {
    let single = Arc::new(Single {
        tasks: TaskManager::new(),
    });
    let outcome = single
        .execute_echo(Passport::new(vec![1, 2, 3]))
        .expect("submitted")
        .await;
    assert_eq!(outcome.into_result().expect("completed"), [1, 2, 3]);
}
