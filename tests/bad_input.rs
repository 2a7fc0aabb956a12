//! Bad input: malformed id strings, unknown ids, duplicate ids, zero or absurd deadlines.
//! Each is refused with a typed error whose message says what was wrong, and to which task.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use task_manager_core::__private;
use task_manager_core::{
    flow, CancelError, CancelStatus, HasTaskManager, Passport, SubmitError, Task, TaskId,
    TaskManager,
};
use tokio::sync::Notify;

#[derive(HasTaskManager)]
struct Echo {
    tasks: TaskManager,
    /// Counts the steps that began: a refused task must not run any.
    runs: AtomicUsize,
    begun: Notify,
}

#[flow(name = echo)]
impl Echo {
    #[step]
    async fn answer(&self, task: &mut Task<u64, ()>) -> Result<u64, Infallible> {
        self.runs.fetch_add(1, Ordering::Relaxed);
        self.begun.notify_one();
        tokio::time::sleep(Duration::from_secs(*task.payload())).await;
        Ok(*task.payload())
    }
}

fn echo() -> Arc<Echo> {
    Arc::new(Echo {
        tasks: TaskManager::new(),
        runs: AtomicUsize::new(0),
        begun: Notify::new(),
    })
}

#[test]
fn malformed_id_strings_are_refused_saying_what_is_wrong() {
    let too_long = "a".repeat(200);
    let cases: [(&str, &str); 10] = [
        ("", "wrong length"),
        ("not-an-id", "wrong length"),
        ("67e55044-10b1-426f-9247-bb680e5fe0c", "wrong length"),
        ("67e55044-10b1-426f-9247-bb680e5fe0c8 ", "wrong length"),
        (
            "67e55044x10b1-426f-9247-bb680e5fe0c8",
            "hyphens must separate groups of 8-4-4-4-12 digits",
        ),
        (
            "67e5504-410b1-426f-9247-bb680e5fe0c8",
            "hyphens must separate groups of 8-4-4-4-12 digits",
        ),
        ("g7e55044-10b1-426f-9247-bb680e5fe0c8", "not a hex digit"),
        (
            "67e55044-10b1-426f-9247-bb680e5fe0\u{e9}",
            "not a hex digit",
        ),
        ("{67e55044-10b1-426f-9247-bb680e5fe0c8", "unbalanced brace"),
        (&too_long, "wrong length"),
    ];
    for (input, problem) in cases {
        let error = TaskId::parse(input).expect_err(input);
        let message = error.to_string();
        assert!(message.contains(problem), "{input:?}: {message}");
        assert!(message.contains("expected a UUID such as"), "{message}");
        // The input is quoted, cut to 80 characters so a huge input cannot flood a log.
        let quoted: String = input.chars().take(80).collect();
        assert!(
            message.starts_with(&format!("`{quoted}` is not a task id")),
            "{message}"
        );
        assert_eq!(input.parse::<TaskId>(), Err(error));
    }
    // The accepted spellings, for contrast.
    let id = TaskId::parse("67e55044-10b1-426f-9247-bb680e5fe0c8").expect("valid");
    for spelling in [
        "67E55044-10B1-426F-9247-BB680E5FE0C8",
        "{67e55044-10b1-426f-9247-bb680e5fe0c8}",
        "urn:uuid:67e55044-10b1-426f-9247-bb680e5fe0c8",
        "67e5504410b1426f9247bb680e5fe0c8",
    ] {
        assert_eq!(TaskId::parse(spelling), Ok(id), "{spelling}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_unknown_id_is_not_found_everywhere() {
    let echo = echo();
    let unknown = TaskId::parse("67e55044-10b1-426f-9247-bb680e5fe0c8").expect("valid");
    assert_eq!(echo.tasks.status(unknown), None);
    assert!(!echo.tasks.contains(unknown));
    let cancellation = echo.tasks.cancel(unknown, "who?");
    assert_eq!(cancellation.status(), CancelStatus::NotFound);
    assert_eq!(cancellation.await, None);
    let error = echo
        .tasks
        .cancel(unknown, "who?")
        .found()
        .expect_err("unknown");
    assert_eq!(error, CancelError::NotFound { id: unknown });
    assert_eq!(
        error.to_string(),
        "no running task has id 67e55044-10b1-426f-9247-bb680e5fe0c8: it never existed, or it has already ended"
    );
    // A finished task's id is unknown too.
    let done = echo.execute_echo(Passport::new(0)).expect("submit");
    let id = done.id();
    assert_eq!(done.await.into_result().ok(), Some(0));
    assert_eq!(
        echo.tasks.cancel(id, "late").status(),
        CancelStatus::NotFound
    );
}

#[tokio::test(start_paused = true)]
async fn a_duplicate_id_is_refused_and_the_running_task_keeps_it() {
    let echo = echo();
    let id = TaskId::new();
    let first = echo
        .execute_echo(Passport::new(5).with_id(id))
        .expect("submit");
    echo.begun.notified().await;

    let error = echo
        .execute_echo(Passport::new(1).with_id(id))
        .expect_err("duplicate");
    assert_eq!(error, SubmitError::DuplicateId { id, flow: "echo" });
    assert_eq!(
        error.to_string(),
        format!("task {id} of flow `echo` was refused: a task with this id is already running")
    );
    assert_eq!(
        echo.runs.load(Ordering::Relaxed),
        1,
        "the refused task never ran"
    );
    // The first task is untouched, still registered and cancellable under the id.
    assert_eq!(echo.tasks.len(), 1);
    assert_eq!(
        echo.tasks.cancel(id, "mine").status(),
        CancelStatus::Requested
    );
    assert!(first.await.is_cancelled());
    // Once it has ended, the id is free again.
    let again = echo
        .execute_echo(Passport::new(0).with_id(id))
        .expect("free again");
    assert_eq!(again.await.into_result().ok(), Some(0));
}

#[tokio::test(start_paused = true)]
async fn a_zero_timeout_is_refused_at_submission() {
    let echo = echo();
    let passport = Passport::new(1).with_timeout(Duration::ZERO);
    let id = passport.id();
    let error = echo.execute_echo(passport).expect_err("zero");
    assert_eq!(error, SubmitError::ZeroTimeout { id, flow: "echo" });
    assert!(error.to_string().contains("its timeout is zero"), "{error}");
    assert!(echo.tasks.is_empty());
    assert_eq!(echo.runs.load(Ordering::Relaxed), 0);
}

#[tokio::test(start_paused = true)]
async fn a_flow_with_a_zero_timeout_is_refused_too() {
    // `#[flow(timeout = "0s")]` does not compile; a hand-built `FlowInfo` can still say it.
    static ZERO: __private::FlowInfo =
        __private::FlowInfo::new("zero", &[__private::StepInfo::new("only")])
            .with_timeout(Duration::ZERO);
    let tasks = TaskManager::new();
    let passport = Passport::new(());
    let id = passport.id();
    let result = __private::submit::<(), (), (), Infallible, _>(
        &tasks,
        &ZERO,
        passport,
        |task, mut scope: __private::Scope, _| async move { scope.completed(task, ()) },
    );
    assert_eq!(
        result.err(),
        Some(SubmitError::ZeroTimeout { id, flow: "zero" })
    );
}

#[test]
fn a_submission_outside_a_runtime_is_refused() {
    let echo = echo();
    let passport = Passport::new(1);
    let id = passport.id();
    let error = echo.execute_echo(passport).expect_err("no runtime");
    assert_eq!(error, SubmitError::NoRuntime { id, flow: "echo" });
    assert!(error.to_string().contains("no tokio runtime"), "{error}");
    assert!(echo.tasks.is_empty());
}
