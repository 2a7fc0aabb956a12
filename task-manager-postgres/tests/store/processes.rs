//! A manager per OS process, clustered on one store: a cancel on instance B of a task that
//! runs on instance A, in each state the task can be in. The answer B gets, the outcome A
//! reports, the cleanup B's cancellation yields and the cleanups counted by the cleanups
//! themselves (a table row each) agree. Every wait is for a line the node prints when the
//! event happens (`nodes.rs`).

use task_manager_core::TaskId;

use crate::nodes::{hex, Node};
use crate::support::{admin, fresh_schema};

struct Cluster {
    runtime: tokio::runtime::Runtime,
    schema: String,
    a: Node,
    b: Node,
}

impl Cluster {
    fn start(name: &str) -> Cluster {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime for the test's queries");
        let schema = runtime.block_on(fresh_schema(name));
        let a = Node::start(&schema, "a");
        let b = Node::start(&schema, "b");
        Cluster {
            runtime,
            schema,
            a,
            b,
        }
    }

    /// How many cleanups of task `id` ran (on any instance).
    fn cleanups(&self, id: TaskId) -> i64 {
        let sql = format!(
            "SELECT count(*) FROM \"{}\".cleanups WHERE id = $1::text::uuid",
            self.schema
        );
        self.runtime.block_on(async {
            let row = admin().await.query_one(&sql, &[&id.to_string()]).await;
            row.expect("counting cleanups").get(0)
        })
    }

    /// The records not yet final, once both instances flushed their writes.
    fn unfinished_records(&mut self) -> i64 {
        self.a.flush();
        self.b.flush();
        let sql = format!(
            "SELECT count(*) FROM \"{}\".tasks WHERE state <> 'finished'",
            self.schema
        );
        self.runtime.block_on(async {
            let row = admin().await.query_one(&sql, &[]).await;
            row.expect("counting records").get(0)
        })
    }
}

fn submitted(node: &Node, id: TaskId) -> String {
    node.answer(&format!("submitted {id}")).join(" ")
}

#[test]
fn unknown_id() {
    let mut c = Cluster::start("p_unknown");
    let id = TaskId::new();
    c.b.cancel(id, "nobody");
    assert_eq!(c.b.answer(&format!("cancel {id}")), ["NotFound"]);
    assert_eq!(c.b.answer(&format!("cancelled {id}")), ["none"]);
}

#[test]
fn running_a_step() {
    let mut c = Cluster::start("p_running");
    let id = TaskId::new();
    c.a.submit(id, true, 0);
    assert_eq!(submitted(&c.a, id), "ok");
    c.a.wait_line(|l| l == format!("began {id} 0"));
    // User text, byte for byte: quotes, a NUL, non-ASCII.
    let reason = "user's \"left\"\0 — now";
    c.b.cancel(id, reason);
    assert_eq!(c.b.answer(&format!("cancel {id}")), ["Requested"]);
    // A stops the step: its cleanup begins (and waits for its gate).
    c.a.wait_line(|l| l == format!("cleanup {id} 0"));
    c.a.open(id, 100);
    assert_eq!(
        c.a.answer(&format!("ended {id}")),
        ["cancelled", "s0", &hex(reason)]
    );
    assert_eq!(c.b.answer(&format!("cancelled {id}")), ["completed:s0"]);
    assert_eq!(c.cleanups(id), 1);
    assert_eq!(c.a.count(|l| l.starts_with(&format!("began {id} 1"))), 0);
    assert_eq!(c.unfinished_records(), 0);
}

#[test]
fn between_steps() {
    let mut c = Cluster::start("p_between");
    // `holder` holds the one permit of resource `r` (its step 1).
    let holder = TaskId::new();
    c.a.submit(holder, true, 0);
    c.a.open(holder, 0);
    c.a.wait_line(|l| l == format!("began {holder} 1"));
    // `id` completes step 0, then waits for `r` before step 1: no step is in progress.
    let id = TaskId::new();
    c.a.submit(id, true, 0);
    c.a.open(id, 0);
    c.a.wait_line(|l| l == format!("waiting {id} 1"));
    c.b.cancel(id, "between");
    assert_eq!(c.b.answer(&format!("cancel {id}")), ["Requested"]);
    assert_eq!(
        c.a.answer(&format!("ended {id}")),
        ["cancelled", "-", &hex("between")]
    );
    assert_eq!(c.b.answer(&format!("cancelled {id}")), ["no_step"]);
    assert_eq!(c.cleanups(id), 0);
    // The holder finishes by itself.
    c.a.open(holder, 1);
    c.a.open(holder, 2);
    assert_eq!(
        c.a.answer(&format!("ended {holder}")),
        ["completed", "-", "-"]
    );
    assert_eq!(c.unfinished_records(), 0);
}

#[test]
fn queued() {
    let mut c = Cluster::start("p_queued");
    // The flow runs two at a time on A: the third waits in its line.
    let running = [TaskId::new(), TaskId::new()];
    for id in running {
        c.a.submit(id, true, 0);
        c.a.wait_line(|l| l == format!("began {id} 0"));
    }
    let id = TaskId::new();
    c.a.submit(id, true, 0);
    c.a.wait_line(|l| l == format!("queued {id}"));
    c.b.cancel(id, "too long a wait");
    assert_eq!(c.b.answer(&format!("cancel {id}")), ["Requested"]);
    assert_eq!(
        c.a.answer(&format!("ended {id}")),
        ["cancelled", "-", &hex("too long a wait")]
    );
    assert_eq!(c.b.answer(&format!("cancelled {id}")), ["no_step"]);
    assert_eq!(c.a.count(|l| l.starts_with(&format!("began {id}"))), 0);
    assert_eq!(c.cleanups(id), 0);
    for id in running {
        for gate in 0..3 {
            c.a.open(id, gate);
        }
        assert_eq!(c.a.answer(&format!("ended {id}")), ["completed", "-", "-"]);
    }
    assert_eq!(c.unfinished_records(), 0);
}

#[test]
fn cleaning_up() {
    let mut c = Cluster::start("p_cleaning");
    let id = TaskId::new();
    c.a.submit(id, true, 0);
    c.a.open(id, 0);
    c.a.wait_line(|l| l == format!("began {id} 1"));
    c.b.cancel(id, "first");
    assert_eq!(c.b.answer(&format!("cancel {id}")), ["Requested"]);
    c.a.wait_line(|l| l == format!("cleanup {id} 1"));
    // While the cleanup runs, later cancels (from B, and from A itself) find it decided.
    c.b.cancel(id, "second");
    c.a.cancel(id, "third");
    c.b.wait_count(|l| l.starts_with(&format!("cancel {id} ")), 2);
    let answers: Vec<String> =
        c.b.lines()
            .into_iter()
            .filter(|l| l.starts_with(&format!("cancel {id} ")))
            .collect();
    assert_eq!(answers[1], format!("cancel {id} AlreadyRequested"));
    assert_eq!(c.a.answer(&format!("cancel {id}")), ["AlreadyRequested"]);
    c.a.open(id, 101);
    assert_eq!(
        c.a.answer(&format!("ended {id}")),
        ["cancelled", "s1", &hex("first")]
    );
    // Every cancellation of the task yields the one cleanup A recorded.
    c.b.wait_count(|l| l == format!("cancelled {id} completed:s1"), 2);
    assert_eq!(c.a.answer(&format!("cancelled {id}")), ["completed:s1"]);
    assert_eq!(c.cleanups(id), 1);
    assert_eq!(c.unfinished_records(), 0);
}

#[test]
fn finished() {
    let mut c = Cluster::start("p_finished");
    let id = TaskId::new();
    c.a.submit(id, false, 0);
    assert_eq!(c.a.answer(&format!("ended {id}")), ["completed", "-", "-"]);
    c.b.cancel(id, "too late");
    assert_eq!(c.b.answer(&format!("cancel {id}")), ["AlreadyFinished"]);
    assert_eq!(c.b.answer(&format!("cancelled {id}")), ["none"]);
    assert_eq!(c.cleanups(id), 0);
    assert_eq!(c.unfinished_records(), 0);
}

#[test]
fn an_id_is_refused_on_every_instance() {
    let mut c = Cluster::start("p_duplicate");
    let id = TaskId::new();
    c.a.submit(id, true, 0);
    assert_eq!(submitted(&c.a, id), "ok");
    c.b.submit(id, true, 0);
    assert_eq!(submitted(&c.b, id), "refused duplicate");
    // The refused submission ran nothing and the first task is untouched.
    assert_eq!(c.b.count(|l| l.starts_with(&format!("began {id}"))), 0);
    for gate in 0..3 {
        c.a.open(id, gate);
    }
    assert_eq!(c.a.answer(&format!("ended {id}")), ["completed", "-", "-"]);
    assert_eq!(c.unfinished_records(), 0);
}

#[test]
fn a_cancel_is_delivered_after_the_owners_listener_was_cut() {
    // Instance names of its own: the test cuts the listener by its application name.
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the test's queries");
    let schema = runtime.block_on(fresh_schema("p_cut"));
    let mut a = Node::start(&schema, "cut-a");
    let mut b = Node::start(&schema, "cut-b");
    let id = TaskId::new();
    a.submit(id, true, 0);
    a.wait_line(|l| l == format!("began {id} 0"));
    let killed: bool = runtime.block_on(async {
        admin()
            .await
            .query_one(
                "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity
                  WHERE application_name = 'tm-listen cut-a'",
                &[],
            )
            .await
            .expect("A's listener has a backend")
            .get(0)
    });
    assert!(killed);
    // Decided while A's listener is away or coming back: its NOTIFY may be lost, and the
    // re-scan after the reconnection delivers it.
    b.cancel(id, "while cut");
    assert_eq!(b.answer(&format!("cancel {id}")), ["Requested"]);
    a.wait_line(|l| l == format!("cleanup {id} 0"));
    a.open(id, 100);
    assert_eq!(
        a.answer(&format!("ended {id}")),
        ["cancelled", "s0", &hex("while cut")]
    );
    assert_eq!(b.answer(&format!("cancelled {id}")), ["completed:s0"]);
}

#[test]
fn a_flood_of_cancels_for_unknown_ids_answers_not_found_and_touches_nothing() {
    let mut c = Cluster::start("p_flood");
    let id = TaskId::new();
    c.a.submit(id, true, 0);
    c.a.wait_line(|l| l == format!("began {id} 0"));
    let unknown: Vec<TaskId> = (0..500).map(|_| TaskId::new()).collect();
    for (n, other) in unknown.iter().enumerate() {
        c.b.cancel(*other, &format!("flood {n} '\"\0"));
    }
    c.b.wait_count(|l| l.starts_with("cancelled "), unknown.len());
    for other in &unknown {
        assert_eq!(c.b.answer(&format!("cancel {other}")), ["NotFound"]);
        assert_eq!(c.b.answer(&format!("cancelled {other}")), ["none"]);
    }
    // The running task was not touched: it finishes by itself.
    for gate in 0..3 {
        c.a.open(id, gate);
    }
    assert_eq!(c.a.answer(&format!("ended {id}")), ["completed", "-", "-"]);
    assert_eq!(c.cleanups(id), 0);
    assert_eq!(c.unfinished_records(), 0);
}
