//! Contract 28 to 33: sub-flows. A child (`task.child(passport)`, submitted with the child
//! flow's `execute_<flow>` from a step) is a task of its own, tied to its parent: the
//! parent's cancel cancels it (`CancelReason::Parent`), its cleanups end before the parent's
//! step cleanup begins, it never outlives the step that started it, its deadline is at most
//! the parent's; the fan-out helpers wait for every child they started. Paused clock, gates,
//! no real sleep.

use std::time::Duration;

use task_manager_core::{
    CancelReason, CancelSource, CancelStatus, Cleanup, Ending, SubmitError, TaskId, TaskManager,
    TaskState,
};
use task_manager_support::tree::{FanIn, Node, Then, Tree};
use task_manager_support::{soon, Gate, Journal};

/// Where `entry` is in the journal (it must be there exactly once).
fn at(journal: &Journal, entry: &str) -> usize {
    let entries = journal.entries();
    assert_eq!(
        journal.count(entry),
        1,
        "{entry:?} must be in the journal once: {entries:#?}"
    );
    entries
        .iter()
        .position(|known| known == entry)
        .unwrap_or(usize::MAX)
}

/// `first` comes before `then` in the journal, each exactly once.
fn before(journal: &Journal, first: &str, then: &str) {
    assert!(
        at(journal, first) < at(journal, then),
        "{first:?} must come before {then:?}: {:#?}",
        journal.entries()
    );
}

/// Every cleanup in the journal began once and finished once.
fn each_cleanup_once(journal: &Journal) {
    let began = journal.with_prefix("cleanup ");
    for entry in began.iter().filter(|e| e.contains(" began: ")) {
        let name = entry["cleanup ".len()..]
            .split(' ')
            .next()
            .unwrap_or_default();
        assert_eq!(
            journal.with_prefix(&format!("cleanup {name} began")).len(),
            1,
            "{entry}"
        );
        assert_eq!(
            journal.count(&format!("cleanup {name} finished")),
            1,
            "{entry}"
        );
    }
}

fn children(tasks: &TaskManager, id: TaskId) -> Vec<TaskId> {
    tasks.children(id)
}

// Contract 28: a child is a task: its own id, status (with its parent), outcome and cleanup;
// cancelled by id on its own, the parent's step sees its outcome as cancelled and decides.
#[tokio::test(start_paused = true)]
async fn a_child_is_a_task_of_its_own_and_cancellable_alone() {
    let tree = Tree::new();
    let (parked, gate) = (Gate::new(), Gate::new());
    let root = Node::leaf("r").with(
        FanIn::All,
        vec![
            Node::leaf("a").then(Then::Park(parked.clone())),
            Node::leaf("b").then(Then::Pass(gate.clone())),
        ],
    );
    let passport = root.passport();
    let id = passport.id();
    let handle = tree.execute_node(passport).expect("submitted");
    parked.arrived().await;
    gate.arrived().await;

    let kids = children(&tree.tasks, id);
    assert_eq!(kids.len(), 2);
    for kid in &kids {
        let status = tree.tasks.status(*kid).expect("a child is registered");
        assert_eq!(status.parent, Some(id));
        assert_eq!((status.flow, status.step), ("node", Some("run")));
    }
    assert_eq!(tree.tasks.status(id).expect("registered").parent, None);
    let snapshot = tree.tasks.snapshot();
    assert_eq!(snapshot.len(), 3);
    assert_eq!(
        snapshot
            .iter()
            .filter(|t| t.status.parent == Some(id))
            .count(),
        2
    );
    let shape = tree.tasks.tree(id).expect("the root runs");
    assert_eq!(
        shape.children.iter().map(|c| c.id).collect::<Vec<_>>(),
        kids
    );

    // `a` (the first child) alone: the parent and `b` go on.
    let cancellation = tree.tasks.cancel(kids[0], "not this one");
    assert_eq!(cancellation.status(), CancelStatus::Requested);
    assert!(matches!(
        soon("a's cleanup", cancellation).await,
        Some(Cleanup::Completed { step: "run", .. })
    ));
    assert_eq!(
        tree.tasks.status(id).expect("still runs").state,
        TaskState::Running
    );
    gate.open();
    let outcome = soon("the root's end", handle).await;
    assert_eq!(outcome.ending(), &Ending::Completed("r".to_owned()));
    assert_eq!(
        tree.journal.with_prefix("r fan-in"),
        ["r fan-in: cancelled: not this one at step `run`, b"]
    );
    assert_eq!(
        tree.journal.with_prefix("cleanup "),
        [
            "cleanup a began: cancelled: not this one",
            "cleanup a finished"
        ]
    );
    assert!(tree.tasks.is_empty());
}

/// Each event's task and parent, as an add-on hears them.
#[derive(Default)]
struct Parents(std::sync::Mutex<Vec<(TaskId, Option<TaskId>, String)>>);

impl task_manager_core::Addon for Parents {
    fn on_event(&self, event: &task_manager_core::TaskEvent<'_>) {
        let kind = format!("{:?}", event.kind);
        let kind = kind.split([' ', '{']).next().unwrap_or_default().to_owned();
        self.0.lock().unwrap().push((event.id, event.parent, kind));
    }
}

// Contract 28: a child's events name its parent (`TaskEvent::parent`), from `Submitted` to
// `Finished`; a top-level task's name none.
#[tokio::test(start_paused = true)]
async fn a_childs_events_name_its_parent() {
    let heard = std::sync::Arc::new(Parents::default());
    let tasks = TaskManager::builder()
        .addon(std::sync::Arc::clone(&heard))
        .build()
        .expect("nothing to refuse");
    let tree = Tree::with_manager(tasks);
    let root = Node::leaf("r").with(
        FanIn::All,
        vec![Node::leaf("a").with(FanIn::All, vec![Node::leaf("a1")])],
    );
    let passport = root.passport();
    let id = passport.id();
    let outcome = soon(
        "the tree's end",
        tree.execute_node(passport).expect("submitted"),
    )
    .await;
    assert_eq!(outcome.ending(), &Ending::Completed("r".to_owned()));

    let heard = heard.0.lock().unwrap().clone();
    let parent_of = |task: TaskId| {
        let parents: std::collections::BTreeSet<_> = heard
            .iter()
            .filter(|(of, ..)| *of == task)
            .map(|(_, parent, _)| *parent)
            .collect();
        assert_eq!(
            parents.len(),
            1,
            "every event of a task names the same parent"
        );
        parents.into_iter().next().flatten()
    };
    let tasks: Vec<TaskId> = heard.iter().fold(Vec::new(), |mut seen, (task, ..)| {
        if !seen.contains(task) {
            seen.push(*task);
        }
        seen
    });
    assert_eq!(tasks.len(), 3);
    assert_eq!(parent_of(id), None);
    let a = tasks
        .iter()
        .copied()
        .find(|task| parent_of(*task) == Some(id))
        .expect("the root's child");
    let a1 = tasks
        .iter()
        .copied()
        .find(|task| parent_of(*task) == Some(a))
        .expect("the grandchild");
    for task in [a, a1] {
        let kinds: Vec<&str> = heard
            .iter()
            .filter(|(of, ..)| *of == task)
            .map(|(.., kind)| kind.as_str())
            .collect();
        assert_eq!(kinds.first(), Some(&"Submitted"));
        assert_eq!(kinds.last(), Some(&"Finished"));
    }
}

// Contract 29: cancelling the parent by id cancels every running descendant, at every depth,
// with `Parent { reason }`; each child's cleanup ends before its parent's begins; the
// parent's awaited `Cancellation` tells the whole tree's cleanups.
#[tokio::test(start_paused = true)]
async fn cancelling_a_parent_cancels_its_tree_and_cleans_it_bottom_up() {
    let tree = Tree::new();
    let gate = Gate::new();
    let park = || Then::Park(gate.clone());
    let root = Node::leaf("r").with(
        FanIn::All,
        vec![
            Node::leaf("m1").with(
                FanIn::All,
                vec![Node::leaf("l1").then(park()), Node::leaf("l2").then(park())],
            ),
            Node::leaf("m2").then(park()),
        ],
    );
    let passport = root.passport();
    let id = passport.id();
    let handle = tree.execute_node(passport).expect("submitted");
    for _ in 0..3 {
        gate.arrived().await;
    }
    assert_eq!(tree.tasks.len(), 5);

    let mut cancellation = tree.tasks.cancel(id, "user left");
    assert_eq!(cancellation.status(), CancelStatus::Requested);
    let own = soon("the tree's end", &mut cancellation).await;
    assert!(matches!(own, Some(Cleanup::Completed { step: "run", .. })));
    // The cancellation answers once the whole tree has ended.
    assert!(tree.tasks.is_empty());
    let mut told: Vec<_> = cancellation
        .descendants()
        .into_iter()
        .map(|d| (d.flow, matches!(d.cleanup, Cleanup::Completed { .. })))
        .collect();
    told.sort_unstable();
    assert_eq!(told, [("node", true); 4]);
    assert_eq!(
        cancellation
            .descendants()
            .iter()
            .filter(|d| d.parent == id)
            .count(),
        2,
        "m1 and m2 are the root's children; l1 and l2 are m1's"
    );

    let journal = &tree.journal;
    each_cleanup_once(journal);
    let outer = "cleanup l1 began: parent(parent(cancelled: user left))";
    before(
        journal,
        outer,
        "cleanup m1 began: parent(cancelled: user left)",
    );
    before(
        journal,
        "cleanup l1 finished",
        "cleanup m1 began: parent(cancelled: user left)",
    );
    before(
        journal,
        "cleanup l2 finished",
        "cleanup m1 began: parent(cancelled: user left)",
    );
    before(
        journal,
        "cleanup m1 finished",
        "cleanup r began: cancelled: user left",
    );
    before(
        journal,
        "cleanup m2 finished",
        "cleanup r began: cancelled: user left",
    );
    let outcome = handle.await;
    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::from("user left"),
            step: Some("run"),
            steps_completed: 0
        }
    );
}

/// A root `r` with one parked child `c`, for the other ways a parent is cancelled.
fn parent_of_one_parked(gate: &Gate) -> Node {
    Node::leaf("r").with(
        FanIn::All,
        vec![Node::leaf("c").then(Then::Park(gate.clone()))],
    )
}

// Contract 29, by a dropped handle.
#[tokio::test(start_paused = true)]
async fn a_dropped_parent_handle_cancels_the_child_first() {
    let tree = Tree::new();
    let gate = Gate::new();
    let passport = parent_of_one_parked(&gate).passport();
    let id = passport.id();
    let handle = tree.execute_node(passport).expect("submitted");
    gate.arrived().await;
    drop(handle);
    // A second cancel finds it being cancelled; awaiting it waits for the end.
    let cancellation = tree.tasks.cancel(id, "ignored");
    assert_eq!(cancellation.status(), CancelStatus::AlreadyRequested);
    soon("the tree's end", cancellation).await;
    before(
        &tree.journal,
        "cleanup c finished",
        "cleanup r began: its handle was dropped",
    );
    at(
        &tree.journal,
        "cleanup c began: parent(its handle was dropped)",
    );
    assert!(tree.tasks.is_empty());
}

// Contract 29, by `cancel_all`: the root is cancelled first, and its child is told the
// root's reason (it is not cancelled directly).
#[tokio::test(start_paused = true)]
async fn cancel_all_cancels_children_through_their_parent() {
    let tree = Tree::new();
    let gate = Gate::new();
    let handle = tree
        .execute_node(parent_of_one_parked(&gate).passport())
        .expect("submitted");
    gate.arrived().await;
    let all = tree.tasks.cancel_all("closing");
    assert_eq!(all.requested(), 1, "the root; its child through it");
    soon("every end", all.finished()).await;
    at(&tree.journal, "cleanup c began: parent(cancelled: closing)");
    before(
        &tree.journal,
        "cleanup c finished",
        "cleanup r began: cancelled: closing",
    );
    assert!(handle.await.is_cancelled());
    assert!(tree.tasks.is_empty());
}

// Contract 29 and 33, by the parent's deadline: the child, without a deadline of its own,
// is stopped at its parent's, with its parent's reason.
#[tokio::test(start_paused = true)]
async fn a_parents_deadline_stops_the_child_with_the_parents_reason() {
    let tree = Tree::new();
    let gate = Gate::new();
    let passport = parent_of_one_parked(&gate)
        .timeout(Duration::from_secs(10))
        .passport();
    let handle = tree.execute_node(passport).expect("submitted");
    let outcome = soon("the root's end", handle).await;
    assert_eq!(
        outcome.ending(),
        &Ending::Cancelled {
            reason: CancelReason::Timeout,
            step: Some("run"),
            steps_completed: 0
        }
    );
    at(&tree.journal, "cleanup c began: parent(timed out)");
    before(
        &tree.journal,
        "cleanup c finished",
        "cleanup r began: timed out",
    );
    assert!(tree.tasks.is_empty());
}

// Contract 33: a child whose own deadline comes first times out by itself (`Timeout`); one
// whose own deadline is later than its parent's ends at the parent's.
#[tokio::test(start_paused = true)]
async fn a_childs_deadline_is_at_most_its_parents() {
    let tree = Tree::new();
    let gate = Gate::new();
    let root = Node::leaf("r")
        .with(
            FanIn::All,
            vec![
                Node::leaf("soon")
                    .then(Then::Park(gate.clone()))
                    .timeout(Duration::from_secs(2)),
                Node::leaf("late")
                    .then(Then::Park(gate.clone()))
                    .timeout(Duration::from_secs(60)),
            ],
        )
        .timeout(Duration::from_secs(10));
    let started = tokio::time::Instant::now();
    let outcome = soon(
        "the root's end",
        tree.execute_node(root.passport()).expect("submitted"),
    )
    .await;
    assert!(outcome.is_cancelled());
    at(&tree.journal, "cleanup soon began: timed out");
    at(&tree.journal, "cleanup late began: parent(timed out)");
    // The paused clock moved to the parent's deadline, not the late child's.
    assert_eq!(started.elapsed(), Duration::from_secs(10));
}

// Contract 29, by shutdown: the child is told its parent's reason.
#[tokio::test(start_paused = true)]
async fn shutdown_cancels_children_through_their_parent() {
    let tree = Tree::new();
    let gate = Gate::new();
    let handle = tree
        .execute_node(parent_of_one_parked(&gate).passport())
        .expect("submitted");
    gate.arrived().await;
    let report = soon("shutdown", tree.tasks.shutdown(Duration::from_secs(60))).await;
    assert!(report.is_clean());
    assert_eq!(report.cancelled, 1, "the root; its child through it");
    at(
        &tree.journal,
        "cleanup c began: parent(the task manager is shutting down)",
    );
    before(
        &tree.journal,
        "cleanup c finished",
        "cleanup r began: the task manager is shutting down",
    );
    assert!(handle.await.is_cancelled());
    assert!(tree.tasks.is_empty());
}

// Contract 30: a child never outlives the step that started it: the step returned (or
// failed) while its children ran, so the runner cancels them (`ParentStepEnded`) and waits
// for their cleanups before the step counts as ended; the step's result stands.
#[tokio::test(start_paused = true)]
async fn children_left_running_are_cancelled_and_awaited_when_the_step_ends() {
    for fail in [false, true] {
        let tree = Tree::new();
        let (gate, own) = (Gate::new(), Gate::new());
        let then = if fail {
            Then::FailAt(own.clone())
        } else {
            Then::Pass(own.clone())
        };
        let root = Node::leaf("r")
            .with(
                FanIn::Leave,
                vec![Node::leaf("c").then(Then::Park(gate.clone()))],
            )
            .then(then);
        let handle = tree.execute_node(root.passport()).expect("submitted");
        gate.arrived().await; // the child's step has begun
        own.arrived().await;
        own.open();
        let outcome = soon("the root's end", handle).await;
        if fail {
            assert_eq!(
                outcome.ending(),
                &Ending::Failed {
                    step: "run",
                    error: "r failed".to_owned()
                }
            );
        } else {
            assert_eq!(outcome.ending(), &Ending::Completed("r".to_owned()));
        }
        // The step's future was dropped before its child was stopped and cleaned up.
        before(
            &tree.journal,
            "r dropped",
            "cleanup c began: parent step ended",
        );
        at(&tree.journal, "cleanup c finished");
        assert_eq!(tree.journal.with_prefix("cleanup r").len(), 0);
        assert!(tree.tasks.is_empty());
    }
}

// Contract 31: `join_all` gives every outcome in the children's order, whatever each ending.
#[tokio::test(start_paused = true)]
async fn join_all_gives_every_outcome_in_order() {
    let tree = Tree::new();
    let root = Node::leaf("r").with(
        FanIn::All,
        vec![
            Node::leaf("a").then(Then::Sleep(Duration::from_secs(3))),
            Node::leaf("b").then(Then::Sleep(Duration::from_secs(1))),
            Node::leaf("c").then(Then::Fail),
        ],
    );
    let outcome = soon(
        "the end",
        tree.execute_node(root.passport()).expect("submitted"),
    )
    .await;
    assert!(outcome.is_completed());
    assert_eq!(
        tree.journal.with_prefix("r fan-in"),
        ["r fan-in: a, b, failed at step `run`"]
    );
}

// Contract 31: `try_join` stops at the first child that does not complete: the others are
// cancelled (`SiblingFailed`) and have ended before the error, which names the parent, its
// step and the child.
#[tokio::test(start_paused = true)]
async fn try_join_cancels_the_rest_at_the_first_failure() {
    let tree = Tree::new();
    let gate = Gate::new();
    let root = Node::leaf("r").with(
        FanIn::Try,
        vec![
            Node::leaf("a").then(Then::Park(gate.clone())),
            Node::leaf("b").then(Then::Fail),
        ],
    );
    let passport = root.passport();
    let id = passport.id();
    let outcome = soon("the end", tree.execute_node(passport).expect("submitted")).await;
    assert!(outcome.is_completed());
    let said = tree.journal.with_prefix("r fan-in");
    assert_eq!(said.len(), 1);
    assert!(
        said[0].starts_with(&format!(
            "r fan-in: error: task {id} at step `run`: child 1 of its fan-out (task "
        )) && said[0].ends_with("of flow `node`) failed at step `run`"),
        "{said:?}"
    );
    at(&tree.journal, "cleanup a began: sibling failed");
    before(&tree.journal, "cleanup a finished", &said[0]);
}

// Contract 31: `race` gives the first child to end; the others lose (`RaceLost`) and are
// cleaned up before it answers.
#[tokio::test(start_paused = true)]
async fn race_gives_the_first_to_end_and_cleans_up_the_losers() {
    let tree = Tree::new();
    let root = Node::leaf("r").with(
        FanIn::Race,
        vec![
            Node::leaf("slow").then(Then::Sleep(Duration::from_secs(5))),
            Node::leaf("fast").then(Then::Sleep(Duration::from_secs(1))),
        ],
    );
    let outcome = soon(
        "the end",
        tree.execute_node(root.passport()).expect("submitted"),
    )
    .await;
    assert!(outcome.is_completed());
    before(&tree.journal, "cleanup slow finished", "r fan-in: 1: fast");
    at(&tree.journal, "cleanup slow began: race lost");
}

// Contract 31: `join_any` gives the first child to complete; one that fails does not stop
// the others; the rest lose once one completes.
#[tokio::test(start_paused = true)]
async fn join_any_gives_the_first_to_complete() {
    let tree = Tree::new();
    let gate = Gate::new();
    let root = Node::leaf("r").with(
        FanIn::Any,
        vec![
            Node::leaf("a").then(Then::Fail),
            Node::leaf("b").then(Then::Sleep(Duration::from_secs(2))),
            Node::leaf("c").then(Then::Park(gate.clone())),
        ],
    );
    let outcome = soon(
        "the end",
        tree.execute_node(root.passport()).expect("submitted"),
    )
    .await;
    assert!(outcome.is_completed());
    before(&tree.journal, "cleanup c finished", "r fan-in: 1: b");
    at(&tree.journal, "cleanup c began: race lost");
    assert_eq!(
        tree.journal.with_prefix("cleanup a").len(),
        0,
        "a failed by itself"
    );
}

// Contract 31: with `limit(n)`, at most n children run at once; the next is submitted when
// one ends, and a limit of 0 is a typed error.
#[tokio::test(start_paused = true)]
async fn a_limited_fan_out_runs_at_most_n_children_at_once() {
    let tree = Tree::new();
    let gate = Gate::new();
    let pass = || Then::Pass(gate.clone());
    let root = Node::leaf("r")
        .with(
            FanIn::All,
            vec![
                Node::leaf("a").then(pass()),
                Node::leaf("b").then(pass()),
                Node::leaf("c").then(pass()),
            ],
        )
        .limit(2);
    let passport = root.passport();
    let id = passport.id();
    let handle = tree.execute_node(passport).expect("submitted");
    gate.arrived().await;
    gate.arrived().await;
    assert_eq!(children(&tree.tasks, id).len(), 2);
    assert!(!tree.journal.contains("c began"), "c waits for a place");
    gate.open();
    gate.arrived().await;
    assert!(tree.journal.contains("c began"));
    assert_eq!(children(&tree.tasks, id).len(), 2);
    gate.open();
    gate.open();
    assert!(soon("the end", handle).await.is_completed());
    assert_eq!(tree.journal.with_prefix("r fan-in"), ["r fan-in: a, b, c"]);

    let zero = Node::leaf("z")
        .with(FanIn::All, vec![Node::leaf("never")])
        .limit(0);
    let passport = zero.passport();
    let id = passport.id();
    soon("the end", tree.execute_node(passport).expect("submitted")).await;
    assert_eq!(
        tree.journal.with_prefix("z fan-in"),
        [format!(
            "z fan-in: error: task {id} at step `run`: its fan-out's limit is 0, so no child could run"
        )]
    );
    assert!(!tree.journal.contains("never began"));
}

// Contract 32: children of a limited flow wait in its queue like any task.
#[tokio::test(start_paused = true)]
async fn children_of_a_limited_flow_wait_in_its_queue() {
    let tasks = TaskManager::builder()
        .limit_flow("job", 1)
        .build()
        .expect("a valid limit");
    let tree = Tree::with_manager(tasks);
    let gate = Gate::new();
    let mut root = Node::leaf("r");
    root.jobs = vec![
        ("j1".to_owned(), gate.clone()),
        ("j2".to_owned(), gate.clone()),
    ];
    let passport = root.passport();
    let id = passport.id();
    let handle = tree.execute_node(passport).expect("submitted");
    gate.arrived().await;
    let states: Vec<TaskState> = children(&tree.tasks, id)
        .into_iter()
        .filter_map(|kid| tree.tasks.status(kid).map(|s| s.state))
        .collect();
    assert_eq!(states.len(), 2);
    assert!(
        states.contains(&TaskState::Queued { position: 0 }),
        "{states:?}"
    );
    gate.open();
    gate.arrived().await;
    gate.open();
    assert!(soon("the end", handle).await.is_completed());
    assert_eq!(tree.journal.with_prefix("r jobs"), ["r jobs: j1, j2"]);
}

// Contract 32: a child of a limited flow whose ancestor runs in the same flow (holding a
// permit while it waits) is refused with a typed error: it could deadlock.
#[tokio::test(start_paused = true)]
async fn a_child_of_its_ancestors_limited_flow_is_refused() {
    let tasks = TaskManager::builder()
        .limit_flow("node", 4)
        .build()
        .expect("a valid limit");
    let tree = Tree::with_manager(tasks);
    let root = Node::leaf("r").with(FanIn::All, vec![Node::leaf("c")]);
    let passport = root.passport();
    let id = passport.id();
    let outcome = soon("the end", tree.execute_node(passport).expect("submitted")).await;
    assert!(outcome.is_completed());
    let said = tree.journal.with_prefix("r fan-in");
    assert!(
        said.len() == 1
            && said[0].contains("child 0 of its fan-out was refused")
            && said[0].contains(&format!(
                "its ancestor task {id} runs in the same limited flow"
            )),
        "{said:?}"
    );
    assert!(!tree.journal.contains("c began"));
}

// The error's fields, for code that matches on it.
#[test]
fn the_deadlock_refusal_names_the_child_its_flow_and_the_ancestor() {
    let (id, ancestor) = (TaskId::new(), TaskId::new());
    let error = SubmitError::ParentHoldsPermit {
        id,
        flow: "node",
        ancestor,
    };
    assert_eq!(error.id(), id);
    assert_eq!(
        CancelSource::implied_by(&CancelReason::parent(ancestor, CancelReason::Timeout)),
        CancelSource::Parent
    );
}

// How reliability is checked: the cancellation explorer cancels the root of a tree of
// depth 3 at every await point of the tree (its own and each descendant's, `InChild`) and
// checks each time that every task ended once, every begun cleanup of the tree ran once, each
// before its ancestor's, and that the registry is empty.
#[tokio::test(start_paused = true)]
async fn the_explorer_cancels_a_tree_at_every_await_point_of_every_task() {
    use task_manager_core::testing::{AwaitPoint, CancelExplorer};

    let tree = Tree::new();
    let sleep = |ms| Then::Sleep(Duration::from_millis(ms));
    let root = Node::leaf("r")
        .with(
            FanIn::All,
            vec![
                Node::leaf("m1")
                    .with(
                        FanIn::Try,
                        vec![
                            Node::leaf("l1").then(sleep(5)),
                            Node::leaf("l2").then(sleep(7)),
                        ],
                    )
                    .then(sleep(1)),
                Node::leaf("m2").then(sleep(3)),
            ],
        )
        .then(sleep(2));
    let report = CancelExplorer::new(&tree.tasks, || root.clone(), |p| tree.execute_node(p))
        .run()
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let in_children = report
        .points
        .iter()
        .filter(|p| matches!(p.point, AwaitPoint::InChild { .. }))
        .count();
    let descendants: std::collections::HashSet<usize> = report
        .points
        .iter()
        .filter_map(|p| match p.point {
            AwaitPoint::InChild { child, .. } => Some(child),
            _ => None,
        })
        .collect();
    assert_eq!(descendants.len(), 4, "m1, l1, l2 and m2: {report}");
    assert!(in_children > 8, "{report}");
    assert!(tree.tasks.is_empty());
}

/// A parent whose step cancels its own task, then starts a child and waits for it.
#[derive(task_manager_core::HasTaskManager)]
struct Late {
    tasks: TaskManager,
    me: std::sync::Weak<Late>,
    seen: std::sync::Mutex<Option<Ending<(), String>>>,
    cancellation: std::sync::Mutex<Option<task_manager_core::Cancellation>>,
}

#[task_manager_core::flow(name = late)]
impl Late {
    #[step]
    async fn start(&self, task: &mut task_manager_core::Task<bool>) -> Result<(), String> {
        if *task.payload() {
            return Ok(()); // the child
        }
        let cancellation = self.tasks.cancel(task.id(), "self");
        *self
            .cancellation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(cancellation);
        let this = self.me.upgrade().ok_or("gone")?;
        let child = this.execute_late(task.child(task_manager_core::Passport::new(true)));
        let outcomes = task.fan_out([child]).join_all().await;
        if let Ok(mut outcomes) = outcomes {
            *self
                .seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                outcomes.pop().map(|outcome| outcome.into_parts().0);
        }
        Ok(())
    }
}

// Contract 29: a child submitted while its parent is being cancelled is cancelled at once,
// with its parent's reason, before its first step.
#[tokio::test(start_paused = true)]
async fn a_child_started_after_its_parents_cancel_is_cancelled_at_once() {
    let late = std::sync::Arc::new_cyclic(|me| Late {
        tasks: TaskManager::new(),
        me: me.clone(),
        seen: std::sync::Mutex::new(None),
        cancellation: std::sync::Mutex::new(None),
    });
    let passport = task_manager_core::Passport::new(false);
    let id = passport.id();
    let outcome = soon("the end", late.execute_late(passport).expect("submitted")).await;
    assert!(outcome.is_cancelled());
    let seen = late.seen.lock().expect("not poisoned").clone();
    assert_eq!(
        seen, None,
        "the parent's step was stopped before it saw the child's outcome"
    );
    let mut cancellation = late
        .cancellation
        .lock()
        .expect("not poisoned")
        .take()
        .expect("the step cancelled its task");
    (&mut cancellation).await;
    let descendants = cancellation.descendants();
    assert_eq!(descendants.len(), 1, "{descendants:?}");
    assert_eq!(descendants[0].parent, id);
    assert_eq!(descendants[0].cleanup, Cleanup::NoStepInProgress);
    assert!(late.tasks.is_empty());
}

/// A step that panics; its cleanup starts a child that parks, and leaves it running.
#[derive(task_manager_core::HasTaskManager)]
struct Panicky {
    tasks: TaskManager,
    me: std::sync::Weak<Panicky>,
    journal: Journal,
    gate: Gate,
}

#[task_manager_core::flow(name = panicky)]
impl Panicky {
    #[step(cancel = clean_up)]
    async fn work(&self, task: &mut task_manager_core::Task<bool>) -> Result<(), String> {
        if *task.payload() {
            self.journal.record("child began");
            let _dropped = self.journal.on_drop("child dropped");
            self.gate.park().await;
        }
        panic!("planned panic of the parent's step");
    }

    async fn clean_up(&self, task: &mut task_manager_core::Task<bool>, reason: CancelReason) {
        if *task.payload() {
            self.journal.record(format!(
                "child cleanup: {}",
                task_manager_support::tree::say(&reason)
            ));
            return;
        }
        let this = self.me.upgrade().expect("alive");
        let child = this
            .execute_panicky(task.child(task_manager_core::Passport::new(true)))
            .expect("submitted");
        child.detach();
        self.gate.arrived().await;
        self.journal.record("parent cleanup returns");
    }
}

// Contract 30, for a cleanup: a child a cleanup started and left running is cancelled when
// the cleanup ends, and the task ends only after it.
#[tokio::test(start_paused = true)]
async fn children_a_cleanup_leaves_running_are_cancelled_and_awaited() {
    task_manager_support::panics::silence_planned_panics();
    let panicky = std::sync::Arc::new_cyclic(|me| Panicky {
        tasks: TaskManager::new(),
        me: me.clone(),
        journal: Journal::new(),
        gate: Gate::new(),
    });
    let outcome = soon(
        "the end",
        panicky
            .execute_panicky(task_manager_core::Passport::new(false))
            .expect("submitted"),
    )
    .await;
    assert!(matches!(outcome.ending(), Ending::Panicked { .. }));
    assert_eq!(
        panicky.journal.entries(),
        [
            "child began",
            "parent cleanup returns",
            "child dropped",
            "child cleanup: parent step ended",
        ]
    );
    assert!(panicky.tasks.is_empty());
}

/// A parent whose step makes a child's passport and keeps it, unused, for later.
#[derive(task_manager_core::HasTaskManager)]
struct Keeper {
    tasks: TaskManager,
    kept: std::sync::Mutex<Option<task_manager_core::Passport<bool>>>,
}

#[task_manager_core::flow(name = keeper)]
impl Keeper {
    #[step]
    async fn make(&self, task: &mut task_manager_core::Task<bool>) -> Result<(), String> {
        if !*task.payload() {
            let passport = task.child(task_manager_core::Passport::new(true));
            *self
                .kept
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(passport);
        }
        Ok(())
    }
}

// Contract 28, the refusal: a child's passport submitted after its parent ended is refused
// with `SubmitError::ParentEnded`, naming the child, its flow and the parent; nothing runs.
#[tokio::test(start_paused = true)]
async fn a_child_submitted_after_its_parent_ended_is_refused() {
    let keeper = std::sync::Arc::new(Keeper {
        tasks: TaskManager::new(),
        kept: std::sync::Mutex::new(None),
    });
    let parent = task_manager_core::Passport::new(false);
    let parent_id = parent.id();
    let outcome = soon(
        "the parent's end",
        keeper.execute_keeper(parent).expect("submitted"),
    )
    .await;
    assert!(outcome.is_completed());
    let child = keeper
        .kept
        .lock()
        .expect("not poisoned")
        .take()
        .expect("the step kept a child's passport");
    let child_id = child.id();
    assert!(child.is_child());
    let refused = keeper.execute_keeper(child).err();
    assert_eq!(
        refused,
        Some(task_manager_core::SubmitError::ParentEnded {
            id: child_id,
            flow: "keeper",
            parent: parent_id,
        })
    );
    assert!(keeper.tasks.is_empty(), "nothing was registered");
}

/// A saga whose second step's compensation starts a child that parks, and leaves it running;
/// the first step's compensation runs after it.
#[derive(task_manager_core::HasTaskManager)]
struct Undoer {
    tasks: TaskManager,
    me: std::sync::Weak<Undoer>,
    journal: Journal,
    gate: Gate,
}

#[task_manager_core::flow(name = undoer)]
impl Undoer {
    #[step(cancel = child_cleanup, compensate = undo_reserve)]
    async fn reserve(&self, task: &mut task_manager_core::Task<bool>) -> Result<u32, String> {
        if *task.payload() {
            self.journal.record("child began");
            let _dropped = self.journal.on_drop("child dropped");
            self.gate.park().await;
        }
        Ok(1)
    }

    #[step(compensate = undo_pay)]
    async fn pay(&self, _task: &mut task_manager_core::Task<bool>, _r: u32) -> Result<u32, String> {
        Ok(2)
    }

    #[step]
    async fn charge(
        &self,
        _task: &mut task_manager_core::Task<bool>,
        _p: u32,
    ) -> Result<(), String> {
        Err("declined".into())
    }

    async fn child_cleanup(&self, task: &mut task_manager_core::Task<bool>, reason: CancelReason) {
        if *task.payload() {
            self.journal.record(format!(
                "child cleanup: {}",
                task_manager_support::tree::say(&reason)
            ));
        }
    }

    async fn undo_reserve(&self, _task: &mut task_manager_core::Task<bool>, _reserved: u32) {
        self.journal.record("undo reserve");
    }

    async fn undo_pay(&self, task: &mut task_manager_core::Task<bool>, _paid: u32) {
        let this = self.me.upgrade().expect("alive");
        let child = this
            .execute_undoer(task.child(task_manager_core::Passport::new(true)))
            .expect("submitted");
        child.detach();
        self.gate.arrived().await;
        self.journal.record("compensation returns");
    }
}

// Contract 30, for a compensation: a child a compensation started and left running is
// cancelled when that compensation ends, and has ended before the next compensation runs.
#[tokio::test(start_paused = true)]
async fn children_a_compensation_leaves_running_are_cancelled_and_awaited() {
    let undoer = std::sync::Arc::new_cyclic(|me| Undoer {
        tasks: TaskManager::new(),
        me: me.clone(),
        journal: Journal::new(),
        gate: Gate::new(),
    });
    let outcome = soon(
        "the end",
        undoer
            .execute_undoer(task_manager_core::Passport::new(false))
            .expect("submitted"),
    )
    .await;
    assert!(matches!(
        outcome.ending(),
        Ending::Failed { step: "charge", .. }
    ));
    assert_eq!(
        undoer.journal.entries(),
        [
            "child began",
            "compensation returns",
            "child dropped",
            "child cleanup: parent step ended",
            "undo reserve",
        ]
    );
    assert!(undoer.tasks.is_empty());
}
