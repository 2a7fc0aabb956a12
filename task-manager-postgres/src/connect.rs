//! Joining the cluster: the builder that [`PgCluster::connect`] returns, and what awaiting it
//! does (parse the URL, connect, migrate the schema, prepare the statements).

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use tokio_postgres::config::Host;
use tokio_postgres::Config;

use crate::error::{describe, visible, ConnectError};
use crate::link::{connect, Link, Session};
use crate::schema::{migrate, SchemaName, DEFAULT_SCHEMA};
use crate::sql::Statements;
use crate::store::PgCluster;

/// The longest instance name accepted, in bytes.
const MAX_INSTANCE_LEN: usize = 200;

/// How to join the cluster, from [`PgCluster::connect`]. Name the instance with
/// [`instance`](Connect::instance); the builder can then be awaited.
///
/// ```no_run
/// # async fn demo() -> Result<(), task_manager_postgres::ConnectError> {
/// use std::time::Duration;
/// use task_manager_postgres::PgCluster;
///
/// let cluster = PgCluster::connect("postgresql://app:secret@127.0.0.1:5432/app")
///     .instance("api-1")
///     .schema("jobs")                                   // default `task_manager`
///     .keep_finished(Duration::from_secs(6 * 3600))     // what `purge_finished` keeps
///     .await?;
/// # let _ = cluster; Ok(()) }
/// ```
#[derive(Clone)]
#[must_use = "the connection is made when the builder is awaited"]
pub struct Connect<I = NoInstance> {
    url: String,
    instance: I,
    pub(crate) options: Options,
}

/// Without the URL, which may hold a password.
impl<I: std::fmt::Debug> std::fmt::Debug for Connect<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connect")
            .field("instance", &self.instance)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// A [`Connect`] whose instance is not named yet: it cannot be awaited. Call
/// [`Connect::instance`].
#[derive(Debug, Clone)]
pub struct NoInstance;

/// A [`Connect`] with its instance named: await it to join.
#[derive(Debug, Clone)]
pub struct Instance(String);

/// The settings of a cluster member.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) schema: String,
    pub(crate) keep_finished: Duration,
    pub(crate) purge_every: Duration,
    pub(crate) rescan_every: Duration,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) connect_timeout: Duration,
    /// Cluster-wide lines (`admission.rs`): how often an instance with waiting tasks
    /// re-checks its lines, and whether limits stay per instance instead.
    pub(crate) recheck_lines_every: Duration,
    pub(crate) limits_per_instance: bool,
    pub(crate) lease_for: Duration,
    pub(crate) renew_every: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            schema: DEFAULT_SCHEMA.to_owned(),
            keep_finished: Duration::from_secs(24 * 3600),
            purge_every: Duration::from_secs(60),
            rescan_every: Duration::from_secs(5),
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(10),
            recheck_lines_every: Duration::from_secs(1),
            limits_per_instance: false,
            lease_for: Duration::from_secs(30),
            renew_every: Duration::from_secs(10),
        }
    }
}

impl Connect<NoInstance> {
    pub(crate) fn new(url: String) -> Self {
        Connect {
            url,
            instance: NoInstance,
            options: Options::default(),
        }
    }

    /// The name of this instance in the cluster: the owner of the tasks it records, and the
    /// address its cancels are delivered to. Unique among the live instances (two processes
    /// with one name would take each other's cancels). Any text of 1 to 200 bytes without
    /// NUL; checked when the builder is awaited.
    pub fn instance(self, name: impl Into<String>) -> Connect<Instance> {
        Connect {
            url: self.url,
            instance: Instance(name.into()),
            options: self.options,
        }
    }
}

impl<I> Connect<I> {
    /// The PostgreSQL schema that holds the store's tables (default `task_manager`). Every
    /// instance of one cluster uses the same; different clusters can share a database with
    /// different schemas. A plain lowercase identifier, checked when the builder is awaited.
    pub fn schema(mut self, name: impl Into<String>) -> Self {
        self.options.schema = name.into();
        self
    }

    /// How often an instance whose tasks wait in a cluster-wide line re-checks the lines
    /// (default 1 s): it hands out the permits of instances that died (their admission
    /// connection ended) and finds the grants whose notification it missed while its own
    /// connection was down. A live instance's releases are told at once; this is the
    /// backstop.
    pub fn recheck_lines_every(mut self, period: Duration) -> Self {
        self.options.recheck_lines_every = period.max(Duration::from_millis(1));
        self
    }

    /// Keeps the limits and resources of the manager built with this instance per
    /// instance, as without a cluster. By default they are cluster-wide: each is one line in
    /// the store for every instance (see the crate docs, "Cluster-wide limits").
    pub fn limits_per_instance(mut self) -> Self {
        self.options.limits_per_instance = true;
        self
    }

    /// How long [`PgCluster::purge_finished`] keeps a finished task's record (default 24 h).
    pub fn keep_finished(mut self, age: Duration) -> Self {
        self.options.keep_finished = age;
        self
    }

    /// How often an instance attached to a manager (`TaskManager::builder().cluster(..)`)
    /// deletes the finished records older than [`keep_finished`](Self::keep_finished), on
    /// every instance (default every 60 s). Without a manager, nothing purges by itself:
    /// call [`PgCluster::purge_finished`].
    pub fn purge_every(mut self, period: Duration) -> Self {
        self.options.purge_every = period.max(Duration::from_millis(1));
        self
    }

    /// How often the cancel listener scans for cancels it was not notified of, as a backstop
    /// (default 5 s). It also scans after every (re)connect.
    pub fn rescan_every(mut self, period: Duration) -> Self {
        self.options.rescan_every = period.max(Duration::from_millis(1));
        self
    }

    /// The listener's wait before reconnecting: `initial`, doubling at each failed attempt up
    /// to `max` (default 50 ms to 2 s).
    pub fn reconnect_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.options.backoff_initial = initial.max(Duration::from_millis(1));
        self.options.backoff_max = max.max(self.options.backoff_initial);
        self
    }

    /// How long a connection attempt may take when the URL sets no `connect_timeout`
    /// (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.options.connect_timeout = timeout;
        self
    }
}

impl<I> Connect<I> {
    /// How long this instance's lease lasts without a renewal (default 30 s), and how often
    /// an instance attached to a manager renews it (default 10 s). When an instance's lease
    /// expires (it died, hung, or lost the store for that long), the other instances claim
    /// its unfinished tasks, and the instance, if it comes back, abandons them. A shorter
    /// lease frees a dead instance's tasks sooner; it must stay well above the longest pause
    /// a live instance may take (a garbage collection, a slow disk, the server's own
    /// hiccups), or live instances lose their tasks. `renew_every` is kept between 1 ms and
    /// half of `lease_for`.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), task_manager_postgres::ConnectError> {
    /// use std::time::Duration;
    /// let cluster = task_manager_postgres::PgCluster::connect("postgresql://app:secret@db/app")
    ///     .instance("api-1")
    ///     .lease(Duration::from_secs(10), Duration::from_secs(2))
    ///     .await?;
    /// # let _ = cluster; Ok(()) }
    /// ```
    pub fn lease(mut self, lease_for: Duration, renew_every: Duration) -> Self {
        self.options.lease_for = lease_for.max(Duration::from_millis(2));
        self.options.renew_every = renew_every
            .max(Duration::from_millis(1))
            .min(self.options.lease_for / 2);
        self
    }
}

impl IntoFuture for Connect<Instance> {
    type Output = Result<PgCluster, ConnectError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(join(self.url, self.instance.0, self.options))
    }
}

async fn join(url: String, instance: String, options: Options) -> Result<PgCluster, ConnectError> {
    check_instance(&instance)?;
    let schema = SchemaName::parse(&options.schema)?;
    let mut config: Config = url.parse().map_err(|source| ConnectError::InvalidUrl {
        detail: describe(&source),
        source,
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(options.connect_timeout);
    }
    if config.get_application_name().is_none() {
        config.application_name(format!("task-manager {instance}"));
    }
    let mut client = connect(&config)
        .await
        .map_err(|source| connect_error(&config, source))?;
    migrate(&mut client, &schema).await?;
    let sql = Statements::prepare(&client, &schema)
        .await
        .map_err(|source| ConnectError::Database {
            during: "preparing the store's statements",
            detail: describe(&source),
            source,
        })?;
    let link = Link::new(config.clone(), schema.clone(), Session { client, sql });
    let lease = std::sync::Arc::new(crate::lease::LeaseState::new());
    Ok(PgCluster::new(
        config, schema, instance, options, link, lease,
    ))
}

fn check_instance(name: &str) -> Result<(), ConnectError> {
    let problem = if name.is_empty() {
        "it is empty"
    } else if name.len() > MAX_INSTANCE_LEN {
        "it is longer than 200 bytes"
    } else if name.contains('\0') {
        "it holds a NUL character, which PostgreSQL text cannot store"
    } else {
        return Ok(());
    };
    Err(ConnectError::InvalidInstance {
        name: visible(name),
        problem,
    })
}

/// Sorts a failed connection attempt into what the user can act on.
fn connect_error(config: &Config, source: tokio_postgres::Error) -> ConnectError {
    let target = target(config);
    let detail = describe(&source);
    let user = config.get_user().unwrap_or("(default)").to_owned();
    if let Some(code) = source.code() {
        // 28P01: wrong password; 28000: no pg_hba.conf entry, or a role that may not log in.
        if matches!(code.code(), "28P01" | "28000") {
            return ConnectError::Authentication {
                target,
                user,
                detail,
                source,
            };
        }
    }
    // The client's own errors about credentials ("password missing", a failed SCRAM exchange).
    let top = source.to_string();
    if top == "authentication error"
        || (top == "invalid configuration" && detail.contains("password"))
    {
        return ConnectError::Authentication {
            target,
            user,
            detail,
            source,
        };
    }
    if crate::error::is_unavailable(&source) {
        return ConnectError::Unreachable {
            target,
            detail,
            source,
        };
    }
    if top == "invalid configuration" {
        return ConnectError::InvalidUrl { detail, source };
    }
    ConnectError::Database {
        during: "connecting",
        detail,
        source,
    }
}

/// `host:port` of every host the URL names (never its password).
fn target(config: &Config) -> String {
    let ports = config.get_ports();
    let port = |i: usize| ports.get(i).or(ports.first()).copied().unwrap_or(5432);
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| match host {
            Host::Tcp(name) => format!("{name}:{}", port(i)),
            #[cfg(unix)]
            Host::Unix(path) => format!("{}:{}", path.display(), port(i)),
        })
        .collect();
    if hosts.is_empty() {
        "(no host)".to_owned()
    } else {
        hosts.join(",")
    }
}
