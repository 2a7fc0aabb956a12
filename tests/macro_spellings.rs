//! The spellings the macros accept beyond the plain ones: helper attributes by path
//! (`#[task_manager_core::step]`), aliases of `Task` and `Result`, a marked manager field
//! among several, a tuple struct.

use std::sync::Arc;

use tokio::sync::mpsc;

use task_manager_core::{
    CancelReason, CancelStatus, Ending, HasTaskManager, Passport, Task, TaskManager,
};

/// The test's view of what the steps did.
type Journal = mpsc::UnboundedSender<&'static str>;

type JobTask = Task<Journal>;

#[derive(HasTaskManager)]
struct Jobs {
    #[task_manager]
    jobs: TaskManager,
    // Not the one the flows use: `#[task_manager]` picks `jobs`.
    _other: TaskManager,
}

#[task_manager_core::flow(name = job)]
impl Jobs {
    #[task_manager_core::step]
    async fn load(&self, task: &mut JobTask) -> std::io::Result<u32> {
        let _ = task.payload().send("load");
        Ok(1)
    }

    #[task_manager_core::step(cancel = abort_wait)]
    async fn wait(&self, task: &mut JobTask, _loaded: u32) -> std::io::Result<()> {
        let _ = task.payload().send("wait");
        std::future::pending::<()>().await;
        Ok(())
    }

    async fn abort_wait(&self, task: &mut JobTask, _reason: CancelReason) {
        let _ = task.payload().send("abort_wait");
    }
}

#[tokio::test(start_paused = true)]
async fn path_spelled_helpers_and_aliases_make_a_working_flow() {
    let jobs = Arc::new(Jobs {
        jobs: TaskManager::new(),
        _other: TaskManager::new(),
    });
    let (journal, mut entries) = mpsc::unbounded_channel();
    let passport = Passport::new(journal);
    let id = passport.id();
    let handle = jobs.execute_job(passport).expect("submitted");
    assert_eq!(entries.recv().await, Some("load"));
    assert_eq!(entries.recv().await, Some("wait"));
    assert!(jobs.jobs.contains(id), "registered in the marked field");
    assert!(!jobs._other.contains(id));

    let cancellation = jobs.jobs.cancel(id, "test");
    assert_eq!(cancellation.status(), CancelStatus::Requested);
    let outcome = handle.await;
    assert!(
        matches!(
            outcome.ending(),
            Ending::Cancelled {
                step: Some("wait"),
                ..
            }
        ),
        "{:?}",
        outcome.ending()
    );
    assert_eq!(entries.recv().await, Some("abort_wait"));
}

/// A tuple struct: the field is found by its type.
#[derive(HasTaskManager)]
struct Pair(TaskManager, u32);

#[test]
fn a_tuple_struct_derives_its_manager() {
    let pair = Pair(TaskManager::new(), 0);
    assert!(pair.task_manager().is_empty());
    assert_eq!(pair.1, 0);
}

/// A flow and its manager written by a `macro_rules!` macro, the flow's name passed in by
/// the caller: the generated method's `self` and `passport` must resolve in the body even
/// though the tokens come from two hygiene contexts.
macro_rules! counting_flow {
    ($manager:ident, $flow:ident, $execute:ident) => {
        #[derive(HasTaskManager)]
        struct $manager {
            tasks: TaskManager,
        }

        #[task_manager_core::flow(name = $flow)]
        impl $manager {
            #[task_manager_core::step]
            async fn first(&self, _task: &mut Task) -> Result<u32, std::convert::Infallible> {
                Ok(1)
            }

            #[task_manager_core::step]
            async fn second(
                &self,
                _task: &mut Task,
                n: u32,
            ) -> Result<u32, std::convert::Infallible> {
                Ok(n + 1)
            }
        }

        impl $manager {
            fn start(
                self: &Arc<Self>,
            ) -> Result<
                task_manager_core::TaskHandle<u32, std::convert::Infallible, ()>,
                task_manager_core::SubmitError,
            > {
                self.$execute(Passport::new(()))
            }
        }
    };
}

counting_flow!(Counter, count, execute_count);

#[tokio::test(start_paused = true)]
async fn a_flow_written_by_macro_rules_works() {
    let counter = Arc::new(Counter {
        tasks: TaskManager::new(),
    });
    let outcome = counter.start().expect("submitted").await;
    assert_eq!(outcome.into_result().expect("completed"), 2);
    assert!(counter.tasks.is_empty());
}
