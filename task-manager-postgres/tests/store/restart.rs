//! The server restarted mid-run, with two instances as OS processes on a server of the test's
//! own (`scripts/postgres run DIR`, then `stop-server DIR` and `start-server DIR`: same data,
//! same port, so the instances' URL stays valid). While it is down, what the instances are
//! asked answers typed errors naming the task, at once; once it is back, they reconnect by
//! themselves (listener, writers, admission), no cancel is lost, every task ends once, and
//! every record ends final. Every wait is for a line a node prints (`nodes.rs`) or a row.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};

use task_manager_core::TaskId;

use crate::nodes::{hex, Node};

const HOW_TO_INSTALL: &str = "The restart test starts a PostgreSQL server of its own (it stops \
     and restarts it, so it never uses TM_DATABASE_URL's). Install PostgreSQL's server \
     (Debian/Ubuntu: `apt-get install postgresql`; scripts/postgres installs it by itself when \
     run as root with apt-get), or point PG_BIN at a directory holding initdb, pg_ctl and postgres.";

/// A throwaway server that only this test uses; gone (files too) when this is dropped.
pub(crate) struct OwnServer {
    dir: PathBuf,
    pub(crate) url: String,
    /// `scripts/postgres run DIR`: the server lives while its standard input is open.
    script: Child,
    stdin: Option<ChildStdin>,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/postgres")
}

impl OwnServer {
    pub(crate) fn start() -> OwnServer {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("tm-pg-restart-{}-{nanos}", std::process::id()));
        let mut script = Command::new("bash")
            .arg(script())
            .arg("run")
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run scripts/postgres: {e}. {HOW_TO_INSTALL}"));
        let stdin = script.stdin.take();
        let mut stdout = BufReader::new(script.stdout.take().expect("piped stdout"));
        let mut stderr = script.stderr.take().expect("piped stderr");
        let messages = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        let url = line.trim().to_owned();
        if url.is_empty() {
            drop(stdin);
            let status = script.wait();
            let messages = messages.join().unwrap_or_default();
            panic!("scripts/postgres could not start PostgreSQL ({status:?}):\n{messages}\n{HOW_TO_INSTALL}");
        }
        OwnServer {
            dir,
            url,
            script,
            stdin,
        }
    }

    fn run(&self, command: &str) {
        let output = Command::new("bash")
            .arg(script())
            .arg(command)
            .arg(&self.dir)
            .output()
            .unwrap_or_else(|e| panic!("scripts/postgres {command}: {e}"));
        assert!(
            output.status.success(),
            "scripts/postgres {command} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A fast shutdown: every client connection is cut.
    pub(crate) fn stop_server(&self) {
        self.run("stop-server");
    }

    /// Started again, on the same port, once it accepts connections.
    pub(crate) fn start_server(&self) {
        self.run("start-server");
    }

    /// One query's first column of its one row, on a connection of its own.
    fn count(&self, sql: &str) -> i64 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the test's query");
        runtime.block_on(async {
            let client = crate::support::connect_to(&self.url).await;
            client
                .query_one(sql, &[])
                .await
                .unwrap_or_else(|e| panic!("`{sql}`: {e}"))
                .get(0)
        })
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        // Its standard input's end: the script stops the server and deletes DIR.
        drop(self.stdin.take());
        let _ = self.script.wait();
    }
}

fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap_or_else(|e| panic!("kill -{signal}: {e}"));
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// A node frozen with `SIGSTOP`, continued (`SIGCONT`) when this is dropped: also when the
/// test fails meanwhile, so that the node can then hear its `quit` and the test end.
struct Frozen(u32);

impl Frozen {
    fn freeze(node: &Node) -> Frozen {
        signal(node.pid(), "STOP");
        Frozen(node.pid())
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal(self.0, "CONT");
    }
}

fn unhex(text: &str) -> String {
    let bytes: Vec<u8> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect();
    String::from_utf8(bytes).expect("UTF-8")
}

/// The error a node printed as `PREFIX error:HEX`, decoded.
fn printed_error(node: &Node, prefix: &str) -> String {
    let words = node.answer(prefix);
    let hex = words[0]
        .strip_prefix("error:")
        .unwrap_or_else(|| panic!("`{prefix}` answered {words:?}, not an error"));
    unhex(hex)
}

/// A typed error of the store being down, naming task `id`.
fn assert_unavailable(error: &str, id: TaskId) {
    assert!(
        error.contains(&id.to_string()),
        "the error names no task: {error}"
    );
    assert!(
        error.contains("unavailable"),
        "not an unavailable store: {error}"
    );
}

fn began(node: &Node, id: TaskId, step: u32) {
    node.wait_line(|l| l == format!("began {id} {step}"));
}

fn submit_gated(node: &mut Node, id: TaskId) {
    node.submit(id, true, 0);
    assert_eq!(node.answer(&format!("submitted {id}")), ["ok"]);
    began(node, id, 0);
}

#[test]
fn the_server_restarted_mid_run() {
    let server = OwnServer::start();
    let schema = "t_restart";
    // Limits and the resource cluster-wide (the store's default), with room for every task:
    // each step 1 enters `r` in the store, each submission the flow's line.
    let mut a = Node::start_on(&server.url, schema, "a", "limit=10,r=4");
    let mut b = Node::start_on(&server.url, schema, "b", "limit=10,r=4");

    // On A: four tasks in step 0; one of them moved on to step 2.
    let cancelled_after = TaskId::new();
    let cancelled_before = TaskId::new();
    let ends_while_down = TaskId::new();
    let needs_resource = TaskId::new();
    for id in [
        cancelled_after,
        cancelled_before,
        ends_while_down,
        needs_resource,
    ] {
        submit_gated(&mut a, id);
    }
    a.open(ends_while_down, 0);
    a.open(ends_while_down, 1);
    began(&a, ends_while_down, 2);

    // A cancel the store accepts while A cannot hear it: A frozen, then the server stopped
    // with A's listening connection. Its NOTIFY dies with that connection; only a scan on a
    // new connection can find it.
    let frozen = Frozen::freeze(&a);
    b.cancel(cancelled_before, "before the stop");
    assert_eq!(
        b.answer(&format!("cancel {cancelled_before}")),
        ["Requested"]
    );
    server.stop_server();
    drop(frozen);

    // While the server is down: typed errors naming the task, at once.
    let refused = TaskId::new();
    b.cancel(cancelled_after, "while down");
    assert_unavailable(
        &printed_error(&b, &format!("cancel {cancelled_after}")),
        cancelled_after,
    );
    b.submit(refused, true, 0);
    let words = b.answer(&format!("submitted {refused}"));
    assert_eq!(words[..2], ["refused", "error"], "{words:?}");
    assert_unavailable(&unhex(&words[2]), refused);
    b.send(&format!("status down {cancelled_after}"));
    assert_unavailable(&printed_error(&b, "status down"), cancelled_after);
    b.send("snapshot down");
    let error = printed_error(&b, "snapshot down");
    assert!(error.contains("unavailable"), "{error}");
    // A task whose last step returns now waits for the store to seal its ending.
    a.open(ends_while_down, 2);
    a.send(&format!("status a-down {ends_while_down}"));
    assert_unavailable(&printed_error(&a, "status a-down"), ends_while_down);
    assert_eq!(
        a.count(|l| l.starts_with(&format!("ended {ends_while_down} "))),
        0
    );

    server.start_server();

    // The cancel accepted before the stop reaches A: its listener reconnected and scanned.
    a.wait_line(|l| l == format!("cleanup {cancelled_before} 0"));
    a.open(cancelled_before, 100);
    a.wait_line(|l| {
        l == format!(
            "ended {cancelled_before} cancelled s0 {}",
            hex("before the stop")
        )
    });
    assert_eq!(
        b.answer(&format!("cancelled {cancelled_before}")),
        ["completed:s0"]
    );

    // A cancel asked on B after the restart (B's connection comes back by itself) reaches A.
    b.cancel(cancelled_after, "after the restart");
    b.wait_line(|l| l == format!("cancel {cancelled_after} Requested"));
    a.wait_line(|l| l == format!("cleanup {cancelled_after} 0"));
    a.open(cancelled_after, 100);
    a.wait_line(|l| {
        l == format!(
            "ended {cancelled_after} cancelled s0 {}",
            hex("after the restart")
        )
    });

    // The task that finished its steps while the server was down seals and ends.
    a.wait_line(|l| l == format!("ended {ends_while_down} completed - -"));

    // A's admission connection is back: step 1 takes its resource permit in the store.
    a.open(needs_resource, 0);
    began(&a, needs_resource, 1);
    a.open(needs_resource, 1);
    a.open(needs_resource, 2);
    a.wait_line(|l| l == format!("ended {needs_resource} completed - -"));

    // And B takes new tasks (its reservation, its flow's line, its writers).
    let after = TaskId::new();
    b.submit(after, false, 0);
    assert_eq!(b.answer(&format!("submitted {after}")), ["ok"]);
    b.wait_line(|l| l == format!("ended {after} completed - -"));

    // Every task ended once, on its owner; each cancelled step's cleanup ran once.
    a.flush();
    b.flush();
    for id in [
        cancelled_after,
        cancelled_before,
        ends_while_down,
        needs_resource,
    ] {
        assert_eq!(
            a.count(|l| l.starts_with(&format!("ended {id} "))),
            1,
            "{id}"
        );
        assert_eq!(
            b.count(|l| l.starts_with(&format!("ended {id} "))),
            0,
            "{id}"
        );
    }
    assert_eq!(b.count(|l| l.starts_with(&format!("ended {after} "))), 1);
    for id in [cancelled_after, cancelled_before] {
        assert_eq!(
            a.count(|l| l.starts_with(&format!("cleanup {id} "))),
            1,
            "{id}"
        );
    }
    for id in [ends_while_down, needs_resource] {
        assert_eq!(
            a.count(|l| l.starts_with(&format!("cleanup {id} "))),
            0,
            "{id}"
        );
    }
    // B reads A's records again, through its manager.
    // (Not the step it names: a step boundary is a queued write and the ending an awaited
    // one on another connection, so a boundary that comes after the ending is not applied
    // and a finished record may name an earlier step, or none; the steps completed are
    // exact. README, "Many instances".)
    b.send(&format!("status back {cancelled_before}"));
    let read = b.answer("status back");
    assert_eq!(
        (read[0].as_str(), &read[2..]),
        (
            "Finished",
            &["0".to_owned(), "a".to_owned(), "Cancelled".to_owned()][..]
        ),
        "{read:?}"
    );
    // The refused submission left no record; every other record is final.
    let tasks = format!("\"{schema}\".tasks");
    assert_eq!(server.count(&format!("SELECT count(*) FROM {tasks}")), 5);
    assert_eq!(
        server.count(&format!(
            "SELECT count(*) FROM {tasks} WHERE state <> 'finished'"
        )),
        0
    );
    assert_eq!(
        server.count(&format!(
            "SELECT count(*) FROM {tasks} WHERE ending = 'cancelled'"
        )),
        2
    );
}
