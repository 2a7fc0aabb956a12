//! The spellings the macros accept beyond the plain ones: helper attributes by path
//! (`#[task_manager_core::step]`), aliases of `Task` and `Result`, a marked manager field
//! among several, a tuple struct, outputs that borrow only `'static` data, an alias of
//! `CancelReason`.

use std::borrow::Cow;
use std::convert::Infallible;
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

/// The reason parameter may be spelled through an alias.
type Reason = CancelReason;

/// What `'static` borrows the last step hands back: a function pointer and a closure whose
/// lifetimes are their own.
type Labels = (
    fn(&str) -> &str,
    Box<dyn Fn(&str) -> usize + Send>,
    Cow<'static, str>,
);

/// Outputs may borrow `'static` data (only a borrow of something else is refused), and a
/// step's input may be written `&str` for a `&'static str`.
#[derive(HasTaskManager)]
struct Labeller {
    tasks: TaskManager,
}

#[task_manager_core::flow(name = label)]
impl Labeller {
    #[task_manager_core::step]
    async fn pick(&self, _task: &mut Task<Reasons>) -> Result<&'static str, Infallible> {
        Ok("label")
    }

    #[task_manager_core::step(cancel = abort_widen)]
    async fn widen(
        &self,
        task: &mut Task<Reasons>,
        label: &str,
    ) -> Result<Cow<'static, str>, Infallible> {
        if !task.payload().is_closed() {
            std::future::pending::<()>().await;
        }
        Ok(Cow::Owned(label.to_uppercase()))
    }

    #[task_manager_core::step]
    async fn finish(
        &self,
        _task: &mut Task<Reasons>,
        label: Cow<'static, str>,
    ) -> Result<Labels, Infallible> {
        Ok((|text| text.trim(), Box::new(|text| text.len()), label))
    }

    async fn abort_widen(&self, task: &mut Task<Reasons>, reason: Reason) {
        let _ = task.payload().send(reason);
    }
}

/// Where the cleanup reports the reason it got; a closed one tells `widen` not to wait.
type Reasons = mpsc::UnboundedSender<Reason>;

#[tokio::test(start_paused = true)]
async fn static_borrows_in_outputs_and_an_aliased_reason_work() {
    let labeller = Arc::new(Labeller {
        tasks: TaskManager::new(),
    });

    // Completed: the `'static` borrows reach the task's result.
    let (closed, _) = mpsc::unbounded_channel::<Reason>();
    let outcome = labeller
        .execute_label(Passport::new(closed))
        .expect("submitted")
        .await;
    let (trim, len, label) = outcome.into_result().expect("completed");
    assert_eq!((trim(" a "), len("abc"), label.as_ref()), ("a", 3, "LABEL"));

    // Cancelled in `widen`: its cleanup gets the reason through the alias.
    let (journal, mut reasons) = mpsc::unbounded_channel();
    let passport = Passport::new(journal);
    let id = passport.id();
    let handle = labeller.execute_label(passport).expect("submitted");
    tokio::task::yield_now().await;
    labeller.tasks.cancel(id, "test").await;
    drop(handle);
    assert_eq!(reasons.recv().await, Some(CancelReason::from("test")));
}
