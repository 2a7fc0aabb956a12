//! Instances as OS processes: `tm-cluster-node` (the crate's binary) started per instance and
//! driven over its standard input; everything it prints is kept, in order, for the test to
//! wait on. See the binary's docs for its commands and lines.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use task_manager_core::TaskId;

use crate::support::url;

/// How long a wait for a node's line may last before the test fails (a guard against a
/// hang, not a measure: every wait is for a line the node prints when the event happens).
const GUARD: Duration = Duration::from_secs(120);

type Log = Arc<(Mutex<Vec<String>>, Condvar)>;

/// One running instance.
pub struct Node {
    pub name: String,
    child: Child,
    stdin: ChildStdin,
    log: Log,
}

impl Node {
    /// Starts instance `name` of the cluster in `schema`; returns once it is ready.
    pub fn start(schema: &str, name: &str) -> Node {
        Node::start_with(schema, name, "")
    }

    /// As [`start`](Self::start), with a lease of `lease_ms` renewed every `renew_ms`.
    pub fn start_with_lease(schema: &str, name: &str, lease_ms: u64, renew_ms: u64) -> Node {
        Node::start_with(
            schema,
            name,
            &format!("lease_ms={lease_ms},renew_ms={renew_ms}"),
        )
    }

    /// [`start`](Self::start), with the node's `SETTINGS` (its limits: see the binary's docs).
    pub fn start_with(schema: &str, name: &str, settings: &str) -> Node {
        Node::start_on(url(), schema, name, settings)
    }

    /// Kills the process at once (`SIGKILL`): no destructor, no cleanup, no last write.
    pub fn kill(&mut self) {
        self.child
            .kill()
            .unwrap_or_else(|e| panic!("node {}: kill -9: {e}", self.name));
        let _ = self.child.wait();
    }

    /// Sends `signal` (`STOP`, `CONT`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap_or_else(|e| panic!("node {}: kill -{signal}: {e}", self.name));
        assert!(
            status.success(),
            "node {}: kill -{signal} failed",
            self.name
        );
    }

    /// Sends one command.
    pub fn send(&mut self, command: &str) {
        writeln!(self.stdin, "{command}")
            .unwrap_or_else(|e| panic!("node {}: sending `{command}`: {e}", self.name));
    }

    pub fn submit(&mut self, id: TaskId, gated: bool, work_us: u64) {
        self.send(&format!("submit {id} {} {work_us}", u8::from(gated)));
    }

    /// Submits a gated task with `priority` that counts its steps (see the binary's docs),
    /// and returns the submission's answer (`ok`, or `refused KIND`).
    pub fn submit_counted(&mut self, id: TaskId, priority: i32) -> String {
        self.send(&format!("submit {id} 1 0 {priority} 1"));
        self.answer(&format!("submitted {id}")).join(" ")
    }

    /// Opens every gate of a task's steps (0, 1, 2): it runs to its end.
    pub fn release(&mut self, id: TaskId) {
        for gate in 0..3 {
            self.open(id, gate);
        }
    }

    pub fn open(&mut self, id: TaskId, gate: u32) {
        self.send(&format!("open {id} {gate}"));
    }

    pub fn cancel(&mut self, id: TaskId, reason: &str) {
        self.send(&format!("cancel {id} {}", hex(reason)));
    }

    /// Waits until every record of this instance's ended tasks is written.
    pub fn flush(&mut self) {
        let before = self.count(|line| line == "flushed");
        self.send("flush");
        self.wait_count(|line| line == "flushed", before + 1);
    }

    /// The first line `matches` accepts, once the node has printed it.
    pub fn wait_line(&self, matches: impl Fn(&str) -> bool) -> String {
        let (lines, changed) = &*self.log;
        let started = Instant::now();
        let mut lines = lines.lock().unwrap();
        loop {
            if let Some(line) = lines.iter().find(|line| matches(line)) {
                return line.clone();
            }
            let left = GUARD.checked_sub(started.elapsed()).unwrap_or_else(|| {
                panic!(
                    "node {}: the line never came; it printed:\n{}",
                    self.name,
                    lines.join("\n")
                )
            });
            lines = changed.wait_timeout(lines, left).unwrap().0;
        }
    }

    /// Waits until `matches` accepts `count` lines.
    pub fn wait_count(&self, matches: impl Fn(&str) -> bool, count: usize) {
        let (lines, changed) = &*self.log;
        let started = Instant::now();
        let mut lines = lines.lock().unwrap();
        while lines.iter().filter(|line| matches(line)).count() < count {
            let left = GUARD.checked_sub(started.elapsed()).unwrap_or_else(|| {
                panic!(
                    "node {}: waited for {count} lines, saw {}",
                    self.name,
                    lines.iter().filter(|line| matches(line)).count()
                )
            });
            lines = changed.wait_timeout(lines, left).unwrap().0;
        }
    }

    /// How many lines `matches` accepts so far.
    pub fn count(&self, matches: impl Fn(&str) -> bool) -> usize {
        self.log
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|line| matches(line))
            .count()
    }

    /// Every line printed so far.
    pub fn lines(&self) -> Vec<String> {
        self.log.0.lock().unwrap().clone()
    }

    /// The line that starts with `prefix` followed by a space, once printed; its other words.
    pub fn answer(&self, prefix: &str) -> Vec<String> {
        let start = format!("{prefix} ");
        let line = self.wait_line(|line| line.starts_with(&start));
        line[start.len()..].split(' ').map(str::to_owned).collect()
    }
}

impl Drop for Node {
    /// Asks the node to quit and waits for it; when the test is failing, kills it instead (a
    /// node left stopped or stuck by the failure would otherwise turn the failure into a
    /// hang).
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.child.kill();
        } else {
            let _ = writeln!(self.stdin, "quit");
        }
        let _ = self.child.wait();
    }
}

pub fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

impl Node {
    /// As [`start_with`](Self::start_with), on the server at `url` rather than the tests'
    /// shared one (the restart test's own server).
    pub fn start_on(url: &str, schema: &str, name: &str, settings: &str) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tm-cluster-node"))
            .args([url, schema, name, settings])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting node {name}: {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let log: Log = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let (lines, changed) = &*sink;
                lines.lock().unwrap().push(line);
                changed.notify_all();
            }
        });
        let node = Node {
            name: name.to_owned(),
            child,
            stdin,
            log,
        };
        node.wait_line(|line| line == "ready");
        node
    }

    /// The process's id (to signal it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}
