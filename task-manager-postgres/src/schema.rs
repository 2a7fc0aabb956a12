//! The store's schema: its name, its versions, and the migration that brings a database to
//! the newest one.
//!
//! # Invariants
//! * Every table and function lives in one schema (default `task_manager`), whose name is a
//!   plain lowercase identifier, checked before any SQL is written with it; it is the only
//!   text ever formatted into a statement (always double-quoted). Everything else is a
//!   parameter.
//! * `schema_migrations` lists the versions applied. Migrating runs in one transaction that
//!   first takes a transaction-scoped advisory lock on the schema's name, so that instances
//!   starting at once migrate one after the other: the second finds the work done.
//!   PostgreSQL's DDL is transactional: a migration is applied whole or not at all.
//! * A schema at a version newer than [`LATEST`] is refused, never written to.

use tokio_postgres::Client;

use crate::error::{describe, ConnectError};

/// The schema used when none is configured.
pub(crate) const DEFAULT_SCHEMA: &str = "task_manager";

/// The advisory lock class of this crate's migrations (`"tmpg"` as a big-endian `i32`); the
/// lock's second key is `hashtext(schema)`.
const MIGRATION_LOCK_CLASS: i32 = 0x746d_7067;

/// A validated schema name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SchemaName(String);

impl SchemaName {
    pub(crate) fn parse(name: &str) -> Result<Self, ConnectError> {
        let fail = |problem| ConnectError::InvalidSchema {
            name: crate::error::visible(name),
            problem,
        };
        let first = name.bytes().next().ok_or_else(|| fail("it is empty"))?;
        if name.len() > 63 {
            return Err(fail("it is longer than 63 bytes"));
        }
        if first.is_ascii_digit() {
            return Err(fail("it starts with a digit"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(fail("it holds a character other than a-z, 0-9 and _"));
        }
        if name.starts_with("pg_") {
            return Err(fail("names starting with `pg_` are reserved by PostgreSQL"));
        }
        Ok(SchemaName(name.to_owned()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as it goes into SQL: double-quoted (it holds no quote to escape).
    pub(crate) fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

/// One step of the schema's history. Never edit a published one: add the next.
struct Migration {
    version: i32,
    description: &'static str,
    /// The statements, with `{s}` standing for the quoted schema name and `{name}` for the
    /// bare one (only inside a string literal).
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "task records, cancel delivery",
        sql: r#"
CREATE TABLE {s}.tasks (
    id                  uuid PRIMARY KEY,
    flow                text NOT NULL,
    instance            text NOT NULL,
    state               text NOT NULL
        CHECK (state IN ('queued', 'running', 'cancelling', 'finishing', 'finished')),
    step                text,
    step_index          integer,
    steps_completed     integer NOT NULL DEFAULT 0,
    progress_done       bigint,
    progress_total      bigint,
    submitted_at        timestamptz NOT NULL DEFAULT now(),
    started_at          timestamptz,
    ended_at            timestamptz,
    -- The cancel that won: set by the one update that takes the row to 'cancelling'.
    cancel_kind         text,
    cancel_message      bytea,
    cancel_max_wait_us  bigint,
    cancel_source       text,
    cancel_by           text,
    cancel_requested_at timestamptz,
    cancel_delivered_at timestamptz,
    -- How it ended: set by the one update that takes the row to 'finished'.
    ending              text CHECK (ending IN ('completed', 'failed', 'cancelled', 'panicked')),
    ending_step         text,
    ending_message      bytea,
    cleanup             text CHECK (cleanup IN
        ('completed', 'not_declared', 'no_step_in_progress', 'panicked', 'timed_out')),
    cleanup_step        text,
    cleanup_us          bigint,
    cleanup_message     bytea,
    -- A row has a cancel iff a cancel decided its ending.
    CONSTRAINT cancel_iff_cancelled CHECK (
        (cancel_kind IS NOT NULL) = (state = 'cancelling' OR coalesce(ending = 'cancelled', false))),
    -- A row has an ending iff it is finished.
    CONSTRAINT ending_iff_finished CHECK (
        (state = 'finished') = (ending IS NOT NULL) AND (state = 'finished') = (ended_at IS NOT NULL))
);

-- The cancels an instance has not taken yet: what its listener scans.
CREATE INDEX tasks_undelivered_cancels ON {s}.tasks (instance)
    WHERE state = 'cancelling' AND cancel_delivered_at IS NULL;
-- What the retention purge deletes.
CREATE INDEX tasks_finished_by_age ON {s}.tasks (ended_at) WHERE state = 'finished';
-- Listings by instance.
CREATE INDEX tasks_by_instance ON {s}.tasks (instance, submitted_at);

-- The NOTIFY channel of an instance's cancels: a fixed-length name (channel names are
-- identifiers of at most 63 bytes), whatever the instance's name holds.
CREATE FUNCTION {s}.cancel_channel(instance text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT 'tm_cancel_' || md5('{name}/' || instance) $$;
"#,
    },
    Migration {
        version: 2,
        description: "cluster-wide lines: limits and resources shared by every instance",
        sql: ADMISSION_SQL,
    },
    Migration {
        version: 3,
        description:
            "leases and fencing: a task's owner holds a lease; a claim takes a lost owner's tasks",
        sql: r#"
-- One row per lease an instance took (`lease.rs`): its id is the fencing token that the
-- owner's every write names; it expires unless renewed, and an expired lease is never renewed.
CREATE TABLE {s}.leases (
    id          bigserial PRIMARY KEY,
    instance    text NOT NULL,
    taken_at    timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX leases_by_expiry ON {s}.leases (expires_at);

ALTER TABLE {s}.tasks
    -- The lease of the owner that wrote the record (NULL: written without one, by the
    -- store's own API; such a record is never claimed).
    ADD COLUMN lease bigint,
    -- How many times the task was claimed from a lost owner (`claim.rs`).
    ADD COLUMN fence integer NOT NULL DEFAULT 0,
    -- The owner the last claim took it from.
    ADD COLUMN lost_instance text,
    -- A flow with `on_owner_lost`: its payload and runtime info (JSON) as persisted at the
    -- boundary of the step the record names (`recover.rs`).
    ADD COLUMN state_payload bytea,
    ADD COLUMN state_info bytea;
-- What a claim looks for: the unfinished tasks of a lease.
CREATE INDEX tasks_unfinished_by_lease ON {s}.tasks (lease) WHERE state <> 'finished';

-- `lost`: the step was in progress on an owner that was lost; no instance ran its cleanup.
ALTER TABLE {s}.tasks DROP CONSTRAINT tasks_cleanup_check;
ALTER TABLE {s}.tasks ADD CONSTRAINT tasks_cleanup_check CHECK (cleanup IN
    ('completed', 'not_declared', 'no_step_in_progress', 'panicked', 'timed_out', 'lost'));
"#,
    },
    Migration {
        version: 4,
        description: "compensated steps' outputs persisted with the step boundary",
        sql: r#"
ALTER TABLE {s}.tasks
    -- A flow with `on_owner_lost`: the outputs (JSON) of its completed steps that declare a
    -- compensation, by step index, as persisted at the boundary of the step the record
    -- names (`recover.rs`): the claimant runs their compensations.
    ADD COLUMN state_output_steps integer[],
    ADD COLUMN state_outputs bytea[];
"#,
    },
    Migration {
        version: 5,
        description: "the compensations a claimant ran, recorded with the ending",
        sql: r#"
ALTER TABLE {s}.tasks
    -- The compensations the instance that claimed a lost task ran after its cleanup, in the
    -- order they ran, written with its ending (`recover.rs`): one element per compensation
    -- in each array. Kind: completed, failed, panicked or timed_out; the time it took
    -- (completed) or its deadline (timed_out) in microseconds; the error's or the panic's
    -- text. NULL: the ending records none.
    ADD COLUMN compensation_steps text[],
    ADD COLUMN compensation_kinds text[],
    ADD COLUMN compensation_us bigint[],
    ADD COLUMN compensation_messages bytea[];
"#,
    },
    Migration {
        version: 6,
        description: "a resumable flow's step input persisted with the step boundary",
        sql: r#"
ALTER TABLE {s}.tasks
    -- A flow with `on_owner_lost = resume`: the input (JSON) of the step the record names,
    -- as persisted at its boundary (`recover.rs`): the claimant runs that step again from it.
    ADD COLUMN state_input bytea;
"#,
    },
    Migration {
        version: 7,
        description: "how the task said it was ending when it sealed",
        sql: r#"
ALTER TABLE {s}.tasks
    -- Written by the owner's seal (to 'finishing', `cluster.rs`): how the task is ending,
    -- 'completed' or 'failed'. NULL: the seal did not say (the store's own API). A claim of a
    -- task sealed 'completed' ends it completed (`claim.rs`).
    ADD COLUMN sealed_as text CHECK (sealed_as IN ('completed', 'failed'));
"#,
    },
    Migration {
        version: 8,
        description: "the task's output kept with its seal",
        sql: r#"
ALTER TABLE {s}.tasks
    -- Written by the owner's seal (`cluster.rs`) for a flow that keeps its output
    -- (`on_owner_lost = resume`): the last step's value (JSON), which any instance reads
    -- back typed (core's `TaskManager::outcome_in_cluster`). NULL: none kept.
    ADD COLUMN output bytea;
"#,
    },
];

/// The cluster-wide lines (`src/admission.rs`): their figures, their entries, and the
/// functions that enter, leave and grant, each one round trip under the line's row lock.
const ADMISSION_SQL: &str = include_str!("admission.sql");

/// The newest version this crate knows.
pub(crate) const LATEST: i32 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// Brings `schema` to [`LATEST`], or refuses a newer one. Safe to run from many instances at
/// once, and a no-op when the schema is current.
pub(crate) async fn migrate(client: &mut Client, schema: &SchemaName) -> Result<(), ConnectError> {
    let db = |during: &'static str| {
        move |source: tokio_postgres::Error| ConnectError::Database {
            during,
            detail: describe(&source),
            source,
        }
    };
    let s = schema.quoted();
    let tx = client
        .transaction()
        .await
        .map_err(db("starting the migration"))?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        &[&MIGRATION_LOCK_CLASS, &schema.as_str()],
    )
    .await
    .map_err(db("taking the migration lock"))?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {s};
         CREATE TABLE IF NOT EXISTS {s}.schema_migrations (
             version     integer PRIMARY KEY,
             description text NOT NULL,
             applied_at  timestamptz NOT NULL DEFAULT now()
         );"
    ))
    .await
    .map_err(db("creating the schema"))?;
    let found: i32 = tx
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM {s}.schema_migrations"),
            &[],
        )
        .await
        .map_err(db("reading the schema's version"))?
        .get(0);
    if found > LATEST {
        // Dropping the transaction rolls it back (and releases the lock).
        return Err(ConnectError::SchemaTooNew {
            schema: schema.as_str().to_owned(),
            found,
            supported: LATEST,
        });
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > found) {
        let sql = migration
            .sql
            .replace("{s}", &s)
            .replace("{name}", schema.as_str());
        tx.batch_execute(&sql)
            .await
            .map_err(db("applying a migration"))?;
        tx.execute(
            &format!("INSERT INTO {s}.schema_migrations (version, description) VALUES ($1, $2)"),
            &[&migration.version, &migration.description],
        )
        .await
        .map_err(db("recording a migration"))?;
    }
    tx.commit().await.map_err(db("committing the migration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        for good in ["task_manager", "tm2", "_x", "a"] {
            assert!(SchemaName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Task",
            "1tm",
            "tm-1",
            "tm\"; DROP TABLE x; --",
            "t\0m",
            "pg_tm",
            &"x".repeat(64),
        ] {
            assert!(
                matches!(
                    SchemaName::parse(bad),
                    Err(ConnectError::InvalidSchema { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn versions_increase_by_one() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, index as i32 + 1);
        }
    }
}
