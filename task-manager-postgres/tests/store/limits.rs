//! Cluster-wide limits and resources, with instances as OS processes (`tm-cluster-node`): a
//! flow's limit and a step's resource hold across instances, with priorities, arrival order
//! among equals, a queue capacity, a max wait, a cancel from another instance while
//! queued; and a permit held by a killed instance comes back.
//!
//! The steps check the limit themselves: each counted step adds itself to a row of the
//! schema's `counts` table while it runs (and keeps the most that ever ran at once), and
//! step 0 notes its start in `starts`, in the cluster's order. Every wait is for a line a
//! node prints when the event happens, or for a row the store wrote before the node
//! answered; nothing waits on a clock. Each test fails without the behaviour it names: run
//! with the nodes' limits per instance (`local`), each asserts something that only a
//! cluster-wide line gives.

use task_manager_core::{CancelReason, TaskId};

use crate::nodes::{hex, Node};
use crate::support::{admin, fresh_schema, join};

struct Cluster {
    runtime: tokio::runtime::Runtime,
    schema: String,
    nodes: Vec<Node>,
}

impl Cluster {
    /// Three instances, `a`, `b` and `c`, with the nodes' `settings`.
    fn start(name: &str, settings: &str) -> Cluster {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime for the test's queries");
        let schema = runtime.block_on(fresh_schema(name));
        let nodes = ["a", "b", "c"]
            .iter()
            .map(|node| Node::start_with(&schema, node, settings))
            .collect();
        Cluster {
            runtime,
            schema,
            nodes,
        }
    }

    fn query(&self, sql: &str, id: Option<TaskId>) -> Vec<tokio_postgres::Row> {
        let sql = sql.replace("{s}", &format!("\"{}\"", self.schema));
        self.runtime.block_on(async {
            let client = admin().await;
            let rows = match id {
                Some(id) => client.query(&sql, &[&id.to_string()]).await,
                None => client.query(&sql, &[]).await,
            };
            rows.unwrap_or_else(|e| panic!("{sql}: {e}"))
        })
    }

    /// How many counted steps of `name` (`probe`: step 0; `r`: step 1) run now, and the
    /// most that ever ran at once.
    fn counts(&self, name: &str) -> (i32, i32) {
        let sql = format!("SELECT running, peak FROM {{s}}.counts WHERE name = '{name}'");
        let row = &self.query(&sql, None)[0];
        (row.get(0), row.get(1))
    }

    /// The tasks whose step 0 began, in the order they began across the cluster.
    fn starts(&self) -> Vec<TaskId> {
        self.query("SELECT id::text FROM {s}.starts ORDER BY seq", None)
            .iter()
            .map(|row| row.get::<_, String>(0).parse().expect("a task id"))
            .collect()
    }

    /// Task `id`'s entries in the store's lines: (line, granted).
    fn entries(&self, id: TaskId) -> Vec<(String, bool)> {
        self.query(
            "SELECT line, granted FROM {s}.line_entries WHERE task = $1::text::uuid",
            Some(id),
        )
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
    }

    /// Submits a counted, gated task with `priority` on node `node`; its answer.
    fn submit(&mut self, node: usize, id: TaskId, priority: i32) -> String {
        self.nodes[node].submit_counted(id, priority)
    }

    fn began(&self, node: usize, id: TaskId) {
        self.nodes[node].wait_line(|line| line == format!("began {id} 0"));
    }

    /// Lets task `id` on `node` run to its end, and waits for that end.
    fn finish(&mut self, node: usize, id: TaskId) {
        self.nodes[node].release(id);
        assert_eq!(
            self.nodes[node].answer(&format!("ended {id}")),
            ["completed", "-", "-"],
            "task {id} on node {node}"
        );
    }

    fn began_count(&self, id: TaskId) -> usize {
        let began = format!("began {id} ");
        self.nodes
            .iter()
            .map(|node| node.count(|line| line.starts_with(&began)))
            .sum()
    }
}

/// A global limit of 3 across 3 instances, 4 tasks submitted to each at once: 3 hold a
/// permit, never more (the steps' own count), and 3 is reached; the others start in the
/// order they entered the line, whichever instance they are on.
#[test]
fn a_global_limit_holds_across_instances() {
    let mut c = Cluster::start("l_global", "limit=3,r=3");
    let ids: Vec<(usize, TaskId)> = (0..12).map(|k| (k % 3, TaskId::new())).collect();
    // Each instance submits its four at once with the others': their entries race for the
    // line, and for its last free permits.
    for &(node, id) in &ids {
        c.nodes[node].send(&format!("submit {id} 1 0 0 1"));
    }
    for &(node, id) in &ids {
        assert_eq!(c.nodes[node].answer(&format!("submitted {id}")), ["ok"]);
    }
    // Every submission answered: every entry is made. Exactly 3 were granted, the first 3 to
    // arrive.
    let order: Vec<(TaskId, bool)> = c
        .query(
            "SELECT task::text, granted FROM {s}.line_entries WHERE line = 'flow:probe' ORDER BY seq",
            None,
        )
        .iter()
        .map(|row| (row.get::<_, String>(0).parse().unwrap(), row.get(1)))
        .collect();
    assert_eq!(order.len(), 12, "one entry per task");
    let granted: Vec<bool> = order.iter().map(|(_, granted)| *granted).collect();
    assert_eq!(granted, [[true; 3].as_slice(), &[false; 9]].concat());
    let line = c.runtime.block_on(async {
        let observer = join(&c.schema, "observer").await;
        observer.line("flow:probe").await.expect("reading the line")
    });
    let line = line.expect("the line exists");
    assert_eq!((line.permits, line.held, line.waiting), (3, 3, 9));
    let node_of = |id: TaskId| ids.iter().find(|(_, task)| *task == id).unwrap().0;
    let order: Vec<TaskId> = order.into_iter().map(|(id, _)| id).collect();
    for &id in &order[..3] {
        c.began(node_of(id), id);
    }
    assert_eq!(
        c.counts("probe"),
        (3, 3),
        "three run at once: the limit is reached"
    );
    // Each end lets the next in line start, on whichever instance it waits.
    for k in 0..order.len() {
        c.finish(node_of(order[k]), order[k]);
        if let Some(&next) = order.get(k + 3) {
            c.began(node_of(next), next);
        }
    }
    assert_eq!(c.counts("probe"), (0, 3), "never more than three at once");
    let (_, peak_r) = c.counts("r");
    assert!(
        (1..=3).contains(&peak_r),
        "the resource's steps: {peak_r} at once"
    );
    // The first three started at once, the others in the line's order.
    let mut started = c.starts();
    started[..3].sort_by_key(|id| order.iter().position(|o| o == id));
    assert_eq!(started, order, "started in the line's order");
}

/// One permit, waiters on every instance: higher priorities first, then arrival order.
#[test]
fn priority_then_arrival_order_across_instances() {
    let mut c = Cluster::start("l_order", "limit=1");
    let holder = TaskId::new();
    assert_eq!(c.submit(0, holder, 0), "ok");
    c.began(0, holder);
    let waiters: Vec<(usize, TaskId, i32)> = [(1, 0), (2, 0), (0, 5), (1, 0), (2, 5), (0, -1)]
        .into_iter()
        .map(|(node, priority)| (node, TaskId::new(), priority))
        .collect();
    for &(node, id, priority) in &waiters {
        assert_eq!(c.submit(node, id, priority), "ok");
    }
    // Each waits in the store's line.
    for &(_, id, _) in &waiters {
        assert_eq!(c.entries(id), [("flow:probe".to_owned(), false)]);
    }
    // Priority 5 (arrivals 3 and 5), then 0 (1, 2, 4), then -1 (6).
    let expected: Vec<(usize, TaskId)> = [2, 4, 0, 1, 3, 5]
        .into_iter()
        .map(|k| (waiters[k].0, waiters[k].1))
        .collect();
    let mut current = (0, holder);
    for &next in &expected {
        c.finish(current.0, current.1);
        c.began(next.0, next.1);
        current = next;
    }
    c.finish(current.0, current.1);
    let mut order = vec![holder];
    order.extend(expected.iter().map(|(_, id)| *id));
    assert_eq!(c.starts(), order);
    assert_eq!(c.counts("probe"), (0, 1), "one at a time");
}

/// A line of one permit and two places, shared by the instances: a third waiter is refused
/// on any instance, and a place freed by a cancel is taken again.
#[test]
fn queue_capacity_is_cluster_wide() {
    let mut c = Cluster::start("l_capacity", "limit=1,capacity=2");
    let holder = TaskId::new();
    assert_eq!(c.submit(0, holder, 0), "ok");
    c.began(0, holder);
    let (first, second) = (TaskId::new(), TaskId::new());
    assert_eq!(c.submit(1, first, 0), "ok");
    assert_eq!(c.submit(2, second, 0), "ok");
    // Two wait (on b and c): the line is full, for a's tasks too.
    let refused = TaskId::new();
    assert_eq!(c.submit(0, refused, 0), "refused full");
    assert_eq!(c.submit(1, TaskId::new(), 9), "refused full");
    assert_eq!(c.began_count(refused), 0);
    assert!(c.entries(refused).is_empty(), "a refused task has no entry");
    // A cancel from c of b's waiter frees its place at once.
    c.nodes[2].cancel(first, "make room");
    assert_eq!(c.nodes[2].answer(&format!("cancel {first}")), ["Requested"]);
    assert_eq!(
        c.nodes[1].answer(&format!("ended {first}")),
        ["cancelled", "-", &hex("make room")]
    );
    let third = TaskId::new();
    assert_eq!(c.submit(0, third, 0), "ok");
    c.finish(0, holder);
    c.began(2, second);
    c.finish(2, second);
    c.began(0, third);
    c.finish(0, third);
    assert_eq!(c.starts(), [holder, second, third]);
}

/// A max wait counts the time in the store's line: the waiter gives up, with
/// `QueueWaitExceeded`, without a step run; its place goes.
#[test]
fn max_wait_in_the_cluster_line() {
    let mut c = Cluster::start("l_max_wait", "limit=1,max_wait_ms=300");
    let holder = TaskId::new();
    assert_eq!(c.submit(0, holder, 0), "ok");
    c.began(0, holder);
    let waiter = TaskId::new();
    assert_eq!(c.submit(1, waiter, 0), "ok");
    let expected = CancelReason::QueueWaitExceeded {
        max_wait: std::time::Duration::from_millis(300),
    };
    assert_eq!(
        c.nodes[1].answer(&format!("ended {waiter}")),
        ["cancelled", "-", &hex(&expected.to_string())]
    );
    assert_eq!(c.began_count(waiter), 0);
    // The line has no one left in it: the next task gets the permit when the holder ends
    // (a waiter's entry left behind would be handed it, and no one would start).
    let next = TaskId::new();
    assert_eq!(c.submit(2, next, 0), "ok");
    c.finish(0, holder);
    c.began(2, next);
    c.finish(2, next);
    assert_eq!(c.starts(), [holder, next]);
}

/// A task waiting for a cluster permit on b, cancelled from c: `Requested`, and it ends
/// cancelled with no step run and nothing to clean up; it leaves the line.
#[test]
fn cancel_while_queued_from_another_instance() {
    let mut c = Cluster::start("l_cancel", "limit=1");
    let holder = TaskId::new();
    assert_eq!(c.submit(0, holder, 0), "ok");
    c.began(0, holder);
    let waiter = TaskId::new();
    assert_eq!(c.submit(1, waiter, 0), "ok");
    assert_eq!(c.entries(waiter), [("flow:probe".to_owned(), false)]);
    c.nodes[2].cancel(waiter, "not any more");
    assert_eq!(
        c.nodes[2].answer(&format!("cancel {waiter}")),
        ["Requested"]
    );
    assert_eq!(
        c.nodes[1].answer(&format!("ended {waiter}")),
        ["cancelled", "-", &hex("not any more")]
    );
    assert_eq!(
        c.nodes[2].answer(&format!("cancelled {waiter}")),
        ["no_step"]
    );
    assert_eq!(c.began_count(waiter), 0);
    let next = TaskId::new();
    assert_eq!(c.submit(2, next, 0), "ok");
    c.finish(0, holder);
    c.began(2, next);
    c.finish(2, next);
    assert_eq!(c.starts(), [holder, next]);
    let cleanups = c.query(
        "SELECT count(*) FROM {s}.cleanups WHERE id = $1::text::uuid",
        Some(waiter),
    );
    assert_eq!(cleanups[0].get::<_, i64>(0), 0, "nothing to clean up");
}

/// The instance holding the only permit is killed (`SIGKILL`): its permit comes back, and
/// the task waiting on another instance gets it.
#[test]
fn a_killed_instances_permit_comes_back() {
    let mut c = Cluster::start("l_killed", "limit=1,recheck_ms=50");
    let holder = TaskId::new();
    assert_eq!(c.submit(0, holder, 0), "ok");
    c.began(0, holder);
    let waiter = TaskId::new();
    assert_eq!(c.submit(1, waiter, 0), "ok");
    assert_eq!(c.entries(holder), [("flow:probe".to_owned(), true)]);
    assert_eq!(c.entries(waiter), [("flow:probe".to_owned(), false)]);
    c.nodes[0].kill();
    // b's recheck finds a's presence gone: a's entry is reaped, b's waiter is granted.
    c.began(1, waiter);
    assert!(
        c.entries(holder).is_empty(),
        "the dead instance's entry is gone"
    );
    assert_eq!(c.entries(waiter), [("flow:probe".to_owned(), true)]);
    c.finish(1, waiter);
    assert_eq!(c.starts(), [holder, waiter]);
}

/// A step's resource is one line for the cluster: with one permit, the steps that need it
/// run one at a time across the instances, and each instance's waiter gets it in turn.
#[test]
fn a_resource_is_shared_by_the_instances() {
    let mut c = Cluster::start("l_resource", "limit=10,r=1");
    let ids: Vec<(usize, TaskId)> = (0..3).map(|k| (k, TaskId::new())).collect();
    for &(node, id) in &ids {
        assert_eq!(c.submit(node, id, 0), "ok");
        c.began(node, id);
    }
    // The first takes `r` in step 1; then the others wait for it in the store's line, in
    // the order they came.
    let (node, first) = ids[0];
    c.nodes[node].open(first, 0);
    c.nodes[node].wait_line(|line| line == format!("began {first} 1"));
    for &(node, id) in &ids[1..] {
        c.nodes[node].open(id, 0);
        c.nodes[node].wait_line(|line| line == format!("waiting {id} 1"));
    }
    for &(node, id) in &ids {
        c.nodes[node].wait_line(|line| line == format!("began {id} 1"));
        c.nodes[node].open(id, 1);
        c.nodes[node].open(id, 2);
        assert_eq!(
            c.nodes[node].answer(&format!("ended {id}")),
            ["completed", "-", "-"]
        );
    }
    assert_eq!(
        c.counts("r"),
        (0, 1),
        "one step holds the resource at a time"
    );
}
