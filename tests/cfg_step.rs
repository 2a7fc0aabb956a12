//! `#[cfg]` on a step is honoured: a step compiled out is not run, not named in the flow,
//! and the chain around it still type-checks (its neighbours' types meet).

use std::sync::Arc;

use task_manager_core::{flow, Ending, HasTaskManager, Passport, Task, TaskManager};

/// Which steps ran, in order.
#[derive(Debug, Default)]
struct Trace {
    ran: Vec<&'static str>,
}

type TraceTask = Task<u32, Trace>;

// Its own flow, not `task_manager_support::pipeline`: the `#[cfg]`-ed steps are what is tested.
#[derive(HasTaskManager)]
struct Pipeline {
    tasks: TaskManager,
}

#[flow(name = pipeline)]
impl Pipeline {
    #[step]
    async fn parse(&self, task: &mut TraceTask) -> Result<u32, &'static str> {
        task.info_mut().ran.push("parse");
        Ok(*task.payload())
    }

    // `any()` is always false: this step and its cleanup are compiled out, so `parse`'s
    // output feeds `double` directly.
    #[cfg(any())]
    #[step(cancel = abort_audit)]
    async fn audit(&self, task: &mut TraceTask, value: u32) -> Result<u32, &'static str> {
        task.info_mut().ran.push("audit");
        Ok(value)
    }

    #[cfg(any())]
    async fn abort_audit(&self, _task: &mut TraceTask, _reason: task_manager_core::CancelReason) {}

    // Two `#[cfg]`s, both true: the step is there.
    #[cfg(not(any()))]
    #[cfg(test)]
    #[step]
    async fn double(&self, task: &mut TraceTask, value: u32) -> Result<u32, &'static str> {
        task.info_mut().ran.push("double");
        Ok(value * 2)
    }

    #[step]
    async fn report(&self, task: &mut TraceTask, value: u32) -> Result<String, &'static str> {
        task.info_mut().ran.push("report");
        if value > 100 {
            return Err("too large");
        }
        Ok(value.to_string())
    }
}

fn pipeline() -> Arc<Pipeline> {
    Arc::new(Pipeline {
        tasks: TaskManager::new(),
    })
}

#[tokio::test(start_paused = true)]
async fn a_step_compiled_out_does_not_run() {
    let outcome = pipeline()
        .execute_pipeline(Passport::new(7))
        .expect("submitted")
        .await;
    assert_eq!(outcome.report().info.ran, ["parse", "double", "report"]);
    assert_eq!(outcome.into_result().expect("completed"), "14");
}

#[tokio::test(start_paused = true)]
async fn the_steps_after_a_compiled_out_step_keep_their_names() {
    // The failing step's name comes from its index among the steps that exist: counting
    // `audit` would name a step that is not there.
    let outcome = pipeline()
        .execute_pipeline(Passport::new(60))
        .expect("submitted")
        .await;
    let names: Vec<&str> = outcome.report().steps().map(|step| step.name).collect();
    assert_eq!(names, ["parse", "double", "report"]);
    assert!(
        matches!(
            outcome.ending(),
            Ending::Failed {
                step: "report",
                error: "too large"
            }
        ),
        "{:?}",
        outcome.ending()
    );
}
