//! What can go wrong: joining the cluster ([`ConnectError`]) and using the store once joined
//! ([`StoreError`]). Each variant says what happened, to which task or setting, and what to do.

use std::error::Error as _;

use task_manager_core::TaskId;

use crate::record::TaskState;

/// Why [`PgCluster::connect`](crate::PgCluster::connect) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The database URL does not parse.
    #[error("the database URL is malformed: {detail} (expected a URL such as `postgresql://user:password@127.0.0.1:5432/dbname`, or `key=value` pairs)")]
    InvalidUrl {
        /// What the parser said (never the URL itself, which may hold a password).
        detail: String,
        /// The parser's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The instance name is empty, too long, or holds a NUL.
    #[error("`{name}` is not a valid instance name: {problem}")]
    InvalidInstance {
        /// The name given (NULs shown as `\0`).
        name: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The schema name is not a plain lowercase SQL identifier.
    #[error("`{name}` is not a valid schema name: {problem} (use 1 to 63 of `a-z`, `0-9` and `_`, not starting with a digit)")]
    InvalidSchema {
        /// The name given.
        name: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// No server answered at the URL's address (refused, unknown host, or the connect timed out).
    #[error("cannot reach a PostgreSQL server at {target}: {detail}")]
    Unreachable {
        /// The host and port tried.
        target: String,
        /// What the connection attempt found.
        detail: String,
        /// The client's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The server refused the credentials: a wrong password, an unknown user, no password
    /// given where one is required, or no `pg_hba.conf` entry for this client.
    #[error("the PostgreSQL server at {target} refused user `{user}`: {detail}")]
    Authentication {
        /// The host and port.
        target: String,
        /// The user name of the URL.
        user: String,
        /// What the server (or the client) said.
        detail: String,
        /// The client's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The schema was migrated by a newer version of this crate: this one does not know its
    /// tables and must not write to them.
    #[error("schema `{schema}` is at version {found}, newer than the {supported} this version of task-manager-postgres knows: upgrade this instance, or use another schema")]
    SchemaTooNew {
        /// The schema.
        schema: String,
        /// The version recorded in the schema.
        found: i32,
        /// The newest version this crate knows.
        supported: i32,
    },
    /// The server answered, but a statement failed (creating or migrating the schema, say,
    /// without the privilege to).
    #[error("PostgreSQL failed while {during}: {detail}")]
    Database {
        /// What the crate was doing.
        during: &'static str,
        /// What the server said.
        detail: String,
        /// The client's error.
        #[source]
        source: tokio_postgres::Error,
    },
}

/// Why an operation of a joined [`PgCluster`](crate::PgCluster) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The server cannot be reached now (it is down, restarting, or the connection was cut).
    /// The next operation reconnects. A write that fails so may or may not have taken effect:
    /// read the task's record to know.
    #[error("PostgreSQL is unavailable while {during}: {detail}")]
    Unavailable {
        /// What the crate was doing.
        during: &'static str,
        /// What the client or server said.
        detail: String,
        /// The client's error (`None` when the server simply closed the connection).
        #[source]
        source: Option<tokio_postgres::Error>,
    },
    /// A task with this id already has a record in the cluster (on any instance).
    #[error("task {id} already exists in the cluster: ids are unique across every instance")]
    DuplicateId {
        /// The id.
        id: TaskId,
    },
    /// No record has this id (it never existed, or it finished and was purged).
    #[error("no task {id} in the cluster")]
    NotFound {
        /// The id.
        id: TaskId,
    },
    /// The task belongs to another instance: only its owner writes its progress and ending.
    #[error("task {id} belongs to instance `{owner}`, not to this one")]
    NotOwner {
        /// The id.
        id: TaskId,
        /// The owning instance.
        owner: String,
    },
    /// The task was claimed from this instance by a live one after this instance's lease
    /// expired (or this instance's lease changed since it recorded the task): the write
    /// carried a lease that is no longer the record's, and nothing more of this instance's
    /// is written for the task.
    #[error("task {id} was taken over by instance `{owner}` after this instance's lease expired: this instance writes nothing more for it")]
    Fenced {
        /// The id.
        id: TaskId,
        /// The instance that owns the record now.
        owner: String,
    },
    /// The record is in a state that refuses this write: for instance an ending other than
    /// `Cancelled` for a task whose cancel won, or any write to a finished task.
    #[error("task {id} is {state}: {refused}")]
    Refused {
        /// The id.
        id: TaskId,
        /// The record's state.
        state: TaskState,
        /// What was refused, and why.
        refused: &'static str,
    },
    /// A name that PostgreSQL's `text` cannot hold (it holds no NUL character).
    #[error("the {field} `{value}` holds a NUL character, which PostgreSQL text cannot store")]
    Nul {
        /// Which name.
        field: &'static str,
        /// The value, NULs shown as `\0`.
        value: String,
    },
    /// A cancel reason or cleanup kind newer than this crate (core's enums are `non_exhaustive`):
    /// it is refused rather than stored as something it is not.
    #[error("this version of task-manager-postgres cannot store {what} `{value}`: upgrade it")]
    Unsupported {
        /// `cancel reason` or `cleanup`.
        what: &'static str,
        /// The value's `Debug` text.
        value: String,
    },
    /// A record holds something this crate never writes (a row edited by hand, or a newer
    /// writer): it is reported rather than guessed at.
    #[error("the record of task {} is unreadable: {detail}", id.map_or("(unreadable id)".to_owned(), |id| id.to_string()))]
    Corrupt {
        /// The id (`None` if the id itself is unreadable).
        id: Option<TaskId>,
        /// What is wrong.
        detail: String,
    },
    /// [`PgCluster::listen`](crate::PgCluster::listen) was called while this instance's
    /// [`Cancels`](crate::Cancels) is alive: each cancel is delivered to one listener.
    #[error(
        "instance `{instance}` is already listening for its cancels: drop its `Cancels` first"
    )]
    AlreadyListening {
        /// The instance.
        instance: String,
    },
    /// The server answered with an error.
    #[error("PostgreSQL failed while {during}: {detail}")]
    Database {
        /// What the crate was doing.
        during: &'static str,
        /// What the server said.
        detail: String,
        /// The client's error.
        #[source]
        source: tokio_postgres::Error,
    },
}

/// The most useful words of a client error: the server's message and code for a database
/// error, else the innermost cause (an I/O error says "connection refused").
pub(crate) fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    let mut words = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        words = format!("{words}: {inner}");
        cause = inner.source();
    }
    words
}

/// Whether the error means the connection (or the server) is gone, rather than a statement
/// failing on a working connection.
pub(crate) fn is_unavailable(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() || has_io_cause(error) {
        return true;
    }
    match error.code() {
        // Class 08: connection exceptions; 57P01-57P03: the server is shutting down,
        // crashed, or not yet accepting connections; 57P05: idle session timeout.
        Some(code) => {
            let code = code.code();
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "57P05")
        }
        None => false,
    }
}

fn has_io_cause(error: &tokio_postgres::Error) -> bool {
    let mut cause = error.source();
    while let Some(inner) = cause {
        if inner.is::<std::io::Error>() {
            return true;
        }
        cause = inner.source();
    }
    false
}

impl StoreError {
    /// Classifies a client error met while `during`.
    pub(crate) fn from_client(during: &'static str, source: tokio_postgres::Error) -> Self {
        let detail = describe(&source);
        if is_unavailable(&source) {
            StoreError::Unavailable {
                during,
                detail,
                source: Some(source),
            }
        } else {
            StoreError::Database {
                during,
                detail,
                source,
            }
        }
    }

    /// A failed (re)connection: whatever the reason (refused, timed out, the database not
    /// accepting connections), the store is unavailable until a later attempt succeeds.
    pub(crate) fn unavailable(during: &'static str, source: tokio_postgres::Error) -> Self {
        StoreError::Unavailable {
            during,
            detail: describe(&source),
            source: Some(source),
        }
    }

    /// Whether the server or the connection was unavailable (the operation may be retried
    /// once it is back).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}

/// `text` with its NULs made visible, for error messages.
pub(crate) fn visible(text: &str) -> String {
    text.replace('\0', "\\0")
}
