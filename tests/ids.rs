//! Contract 13: ids are unique across processes, print and parse as strings, and can be
//! supplied by the user (a request id, say).

use std::collections::HashSet;
use std::convert::Infallible;
use std::process::Command;
use std::sync::Arc;

use task_manager_core::{
    flow, CancelReason, CancelStatus, HasTaskManager, Passport, Task, TaskId, TaskManager,
};
use task_manager_support::{Gate, Journal};

/// Set in the environment of the child processes that [`ids_made_by_other_processes_differ`]
/// starts: the child then prints its ids instead of testing anything.
const PRINT_IDS: &str = "TASK_MANAGER_TEST_PRINT_IDS";
const ID_LINE: &str = "task id: ";
const IDS_PER_PROCESS: usize = 50;

/// The child's side of [`ids_made_by_other_processes_differ`]; does nothing in a normal run.
#[test]
fn print_ids_when_asked_by_a_parent_process() {
    if std::env::var_os(PRINT_IDS).is_none() {
        return;
    }
    for _ in 0..IDS_PER_PROCESS {
        println!("{ID_LINE}{}", TaskId::new());
    }
}

/// Runs this test binary again, as a child that prints the ids it makes.
fn ids_of_a_child_process() -> Vec<TaskId> {
    let this_binary = std::env::current_exe().expect("the test binary's path");
    let output = Command::new(this_binary)
        .args([
            "--exact",
            "print_ids_when_asked_by_a_parent_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PRINT_IDS, "1")
        .output()
        .expect("the child process ran");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let ids: Vec<TaskId> = stdout
        .lines()
        // libtest may print "test <name> ... " on the same line as the first id.
        .filter_map(|line| line.split_once(ID_LINE).map(|(_, id)| id))
        .map(|text| text.parse().expect("the child printed a task id"))
        .collect();
    assert_eq!(ids.len(), IDS_PER_PROCESS, "{stdout}");
    ids
}

#[test]
fn ids_made_by_other_processes_differ() {
    let first_child = ids_of_a_child_process();
    let second_child = ids_of_a_child_process();
    let here: Vec<TaskId> = (0..IDS_PER_PROCESS).map(|_| TaskId::new()).collect();

    // Each fresh process counts from the same start: a per-process counter alone would give
    // both children the very same ids.
    let all: HashSet<TaskId> = first_child
        .iter()
        .chain(&second_child)
        .chain(&here)
        .copied()
        .collect();
    assert_eq!(all.len(), 3 * IDS_PER_PROCESS);
    assert_ne!(first_child[0], second_child[0]);
}

#[test]
fn ids_made_in_one_process_differ() {
    let ids: HashSet<TaskId> = (0..10_000).map(|_| TaskId::new()).collect();
    assert_eq!(ids.len(), 10_000);
}

#[test]
fn ids_made_on_many_threads_at_once_differ() {
    let threads: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(|| (0..1_000).map(|_| TaskId::new()).collect::<Vec<_>>()))
        .collect();
    let mut all = HashSet::new();
    for thread in threads {
        for id in thread.join().expect("no panic") {
            assert!(all.insert(id), "{id} made twice");
        }
    }
}

#[test]
fn an_id_prints_as_a_uuid_and_parses_back() {
    let id = TaskId::new();
    let text = id.to_string();
    assert_eq!(text.len(), 36);
    assert_eq!(
        text.char_indices()
            .filter(|&(_, c)| c == '-')
            .map(|(at, _)| at)
            .collect::<Vec<_>>(),
        [8, 13, 18, 23]
    );
    assert!(text
        .chars()
        .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)));
    assert_eq!(text.parse::<TaskId>(), Ok(id));
    assert_eq!(TaskId::parse(&text.to_uppercase()), Ok(id));
    assert_eq!(TaskId::from_u128(id.as_u128()), id);
    assert_eq!(format!("{id:?}"), format!("TaskId({text})"));
}

#[test]
fn a_user_s_uuid_round_trips_unchanged() {
    let text = "67e55044-10b1-426f-9247-bb680e5fe0c8";
    let id: TaskId = text.parse().expect("a UUID");
    assert_eq!(id.as_u128(), 0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8);
    assert_eq!(id.to_string(), text);
    assert_eq!(TaskId::from(id.as_u128()), id);
}

#[test]
fn text_that_is_not_an_id_is_a_typed_error_naming_the_input() {
    let error = "request-42".parse::<TaskId>().expect_err("not a UUID");
    let message = error.to_string();
    assert!(message.contains("`request-42`"), "{message}");
    assert!(message.contains("is not a task id"), "{message}");
}

#[derive(HasTaskManager)]
struct Requests {
    tasks: TaskManager,
    journal: Journal,
    working: Gate,
}

#[flow(name = request)]
impl Requests {
    #[step(cancel = abandon)]
    async fn handle(&self, task: &mut Task) -> Result<(), Infallible> {
        self.journal.record(format_args!("handling {}", task.id()));
        self.working.park().await
    }

    async fn abandon(&self, task: &mut Task, reason: CancelReason) {
        self.journal
            .record(format_args!("abandoned {}: {reason}", task.id()));
    }
}

#[tokio::test(start_paused = true)]
async fn a_task_runs_under_the_id_its_user_supplied_and_is_cancelled_by_its_text() {
    let requests = Arc::new(Requests {
        tasks: TaskManager::new(),
        journal: Journal::new(),
        working: Gate::new(),
    });
    let request_id = "0190f3c4-5b2a-7d1e-8f00-00000000002a";
    let passport = Passport::new(()).with_id(request_id.parse().expect("a UUID"));
    let handle = requests.execute_request(passport).expect("submitted");
    requests.working.arrived().await;
    assert_eq!(handle.id().to_string(), request_id);

    // Someone else, who knows the id only as text (from a log line, another service, ...).
    let parsed: TaskId = request_id.parse().expect("a UUID");
    assert!(requests.tasks.contains(parsed));
    let cancellation = requests.tasks.cancel(parsed, "the client hung up");
    assert_eq!(cancellation.status(), CancelStatus::Requested);

    let outcome = handle.await;
    assert_eq!(outcome.id().to_string(), request_id);
    assert_eq!(
        requests.journal.entries(),
        [
            format!("handling {request_id}"),
            format!("abandoned {request_id}: cancelled: the client hung up")
        ]
    );
}
