//! The server the tests run against, and small helpers.
//!
//! `TM_DATABASE_URL`, when set, names the server (a superuser that needs a password over
//! TCP: the tests create databases, terminate backends and check a wrong password).
//! Otherwise the first test to ask starts a throwaway server with `scripts/postgres run`,
//! once for this test binary; the script stops it and deletes its files when this process
//! exits (its standard input, a pipe held here, then reaches its end). If no server can be
//! started, the tests fail, saying how to install one: they never skip.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use task_manager_postgres::{CancelEvent, Cancels, PendingCancel, PgCluster};
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};

const HOW_TO_INSTALL: &str = "The PostgreSQL tests need a server. Install PostgreSQL's server \
     (Debian/Ubuntu: `apt-get install postgresql`; scripts/postgres installs it by itself when \
     run as root with apt-get), or set TM_DATABASE_URL to a server's URL (a superuser that \
     needs a password over TCP).";

/// How long a test waits at most for something asynchronous (a delivery, a reconnection).
pub const DEADLINE: Duration = Duration::from_secs(20);

struct Server {
    url: String,
    /// The script's pipes: holding its standard input open keeps the server running.
    _script: Option<(Child, ChildStdin, ChildStdout)>,
}

static SERVER: OnceLock<Server> = OnceLock::new();

/// The server's URL.
pub fn url() -> &'static str {
    &SERVER.get_or_init(server).url
}

fn server() -> Server {
    if let Ok(url) = std::env::var("TM_DATABASE_URL") {
        return Server { url, _script: None };
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/postgres");
    let mut child = Command::new("bash")
        .arg(&script)
        .arg("run")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}. {HOW_TO_INSTALL}", script.display()));
    let stdin = child.stdin.take().expect("piped stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut stderr = child.stderr.take().expect("piped stderr");
    // The script's messages are read on the side, so that it never blocks on them.
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
        let status = child.wait();
        let messages = messages.join().unwrap_or_default();
        panic!(
            "scripts/postgres could not start PostgreSQL ({status:?}):\n{messages}\n{HOW_TO_INSTALL}"
        );
    }
    Server {
        url,
        _script: Some((child, stdin, stdout.into_inner())),
    }
}

/// A connection of the test's own, as the server's superuser.
pub async fn admin() -> Client {
    connect_to(url()).await
}

pub async fn connect_to(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("the tests' own connection failed: {e:?}"));
    tokio::spawn(connection);
    client
}

/// A schema name of the test's own, emptied first (a reused server may hold an old run's).
pub async fn fresh_schema(name: &str) -> String {
    let schema = format!("t_{name}");
    admin()
        .await
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await
        .expect("dropping the test's schema");
    schema
}

/// Joins the cluster in `schema` as `instance`.
pub async fn join(schema: &str, instance: &str) -> PgCluster {
    PgCluster::connect(url())
        .instance(instance)
        .schema(schema)
        .await
        .unwrap_or_else(|e| panic!("joining as `{instance}`: {e}"))
}

/// The server's address and user as `key=value` pairs, with other settings: a URL for
/// another password or database.
pub fn url_with(password: Option<&str>, dbname: Option<&str>) -> String {
    let config: Config = url().parse().expect("the server's URL parses");
    let mut parts = Vec::new();
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "127.0.0.1".to_owned(),
    };
    parts.push(format!("host='{host}'"));
    if let Some(port) = config.get_ports().first() {
        parts.push(format!("port={port}"));
    }
    if let Some(user) = config.get_user() {
        parts.push(format!("user='{user}'"));
    }
    let password = password.map(str::to_owned).or_else(|| {
        config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned())
    });
    if let Some(password) = password {
        parts.push(format!("password='{}'", password.replace('\'', "\\'")));
    }
    if let Some(dbname) = dbname.or(config.get_dbname()) {
        parts.push(format!("dbname='{dbname}'"));
    }
    parts.join(" ")
}

/// The next cancel the stream delivers, skipping other events (returned with it), within
/// [`DEADLINE`].
pub async fn next_cancel(cancels: &mut Cancels) -> (PendingCancel, Vec<CancelEvent>) {
    let mut before = Vec::new();
    let found = tokio::time::timeout(DEADLINE, async {
        loop {
            match cancels.next().await {
                Some(CancelEvent::Cancel(cancel)) => return cancel,
                Some(other) => before.push(other),
                None => panic!("the cancel stream ended"),
            }
        }
    })
    .await;
    match found {
        Ok(cancel) => (cancel, before),
        Err(_) => panic!("no cancel delivered within {DEADLINE:?}; other events: {before:?}"),
    }
}

/// The next event of the stream, within [`DEADLINE`].
pub async fn next_event(cancels: &mut Cancels) -> CancelEvent {
    tokio::time::timeout(DEADLINE, cancels.next())
        .await
        .unwrap_or_else(|_| panic!("no event from the cancel stream within {DEADLINE:?}"))
        .expect("the cancel stream ended")
}

/// A small seeded generator (xorshift64*): a storm is the same for the same seed.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A storm's size or seed from the environment (`TM_*_TASKS`, `TM_*_SEED`), else `default`.
pub(crate) fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}
