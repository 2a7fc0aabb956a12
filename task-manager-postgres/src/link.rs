//! The store's connection: one client shared by every operation (tokio-postgres pipelines
//! concurrent statements on it), replaced by a fresh one when it is found closed.
//!
//! # Invariants
//! * `current` holds the live session, if any; an operation takes a clone of its `Arc`
//!   under a short lock and runs its statement with no lock held.
//! * Only one task reconnects at a time (`reconnecting`); the others wait for it and then
//!   use its session.
//! * A statement that fails because the connection went away is not sent again: it may have
//!   been applied. The caller gets `StoreError::Unavailable`; the next operation reconnects.

use std::sync::{Arc, Mutex, PoisonError};

use tokio_postgres::{Client, Config, NoTls};

use crate::error::StoreError;
use crate::schema::SchemaName;
use crate::sql::Statements;

/// One connection and its prepared statements.
pub(crate) struct Session {
    pub(crate) client: Client,
    pub(crate) sql: Statements,
}

pub(crate) struct Link {
    config: Config,
    schema: SchemaName,
    current: Mutex<Option<Arc<Session>>>,
    reconnecting: tokio::sync::Mutex<()>,
}

impl Link {
    /// A link whose first session is `first`.
    pub(crate) fn new(config: Config, schema: SchemaName, first: Session) -> Self {
        Link {
            config,
            schema,
            current: Mutex::new(Some(Arc::new(first))),
            reconnecting: tokio::sync::Mutex::new(()),
        }
    }

    /// A link that connects on its first use (the writers' own, see `cluster.rs`).
    pub(crate) fn lazy(config: Config, schema: SchemaName) -> Self {
        Link {
            config,
            schema,
            current: Mutex::new(None),
            reconnecting: tokio::sync::Mutex::new(()),
        }
    }

    /// The live session, reconnecting first if the last one is closed.
    pub(crate) async fn session(&self) -> Result<Arc<Session>, StoreError> {
        if let Some(session) = self.live() {
            return Ok(session);
        }
        let _one_at_a_time = self.reconnecting.lock().await;
        if let Some(session) = self.live() {
            return Ok(session);
        }
        let client = connect(&self.config)
            .await
            .map_err(|e| StoreError::unavailable("reconnecting", e))?;
        let sql = Statements::prepare(&client, &self.schema)
            .await
            .map_err(|e| StoreError::from_client("preparing the store's statements", e))?;
        let session = Arc::new(Session { client, sql });
        *self.lock() = Some(Arc::clone(&session));
        Ok(session)
    }

    fn live(&self) -> Option<Arc<Session>> {
        self.lock()
            .as_ref()
            .filter(|session| !session.client.is_closed())
            .cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Arc<Session>>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Connects and drives the connection on the runtime until the client is dropped or the
/// server goes away.
pub(crate) async fn connect(config: &Config) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        // The connection's end is seen by its client (`is_closed`, failing statements).
        let _ = connection.await;
    });
    Ok(client)
}
