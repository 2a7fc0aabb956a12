//! Every statement the store sends, prepared once per connection, and the decoding of a
//! record's row. Values are always parameters; the schema's (validated, quoted) name is the
//! only text formatted in.

use std::time::SystemTime;

use task_manager_core::{Progress, TaskId};
use tokio_postgres::{Client, Row, Statement};

use crate::error::StoreError;
use crate::id::PgId;
use crate::reason::{decode_reason, decode_source, duration};
use crate::record::{
    CancelRecord, CleanupRecord, CompensationRecord, Ended, EndingRecord, TaskRecord, TaskState,
};
use crate::schema::SchemaName;

/// The columns of a full record, in the order [`decode_record`] reads them.
const RECORD_COLUMNS: &str = "id, flow, instance, state, step, step_index, steps_completed, \
     progress_done, progress_total, submitted_at, started_at, ended_at, \
     cancel_kind, cancel_message, cancel_max_wait_us, cancel_source, cancel_by, \
     cancel_requested_at, cancel_delivered_at, \
     ending, ending_step, ending_message, cleanup, cleanup_step, cleanup_us, cleanup_message, \
     compensation_steps, compensation_kinds, compensation_us, compensation_messages";

/// How many columns [`RECORD_COLUMNS`] names: a statement that reads more puts them after.
pub(crate) const RECORD_COLUMN_COUNT: usize = 30;

/// The store's statements, prepared on one connection.
pub(crate) struct Statements {
    /// `$1 id, $2 flow, $3 instance, $4 state, $5 the owner's lease`.
    pub(crate) insert: Statement,
    /// `$1 id, $2 owner, $3 step, $4 step index, $5 steps completed, $6 lease, $7 the
    /// task's flow if its submission did not write it (NULL: unchanged)`: only while
    /// undecided.
    pub(crate) begin_step: Statement,
    /// `$1 id, $2 owner, $3 done, $4 total, $5 lease`: until finished.
    pub(crate) progress: Statement,
    /// `$1 id, $2 owner, $3 lease, $4 sealed as (NULL: not said), $5 steps completed (NULL:
    /// unchanged), $6 the ending the seal carries (NULL: none), $7 its step, $8 the kept
    /// output, $9 the task's flow, written if no earlier write named it (NULL: unchanged)`:
    /// undecided -> finishing, or, with an ending, -> finished.
    pub(crate) seal: Statement,
    /// `$1 id`: the record and its kept output (`outcome.rs`).
    pub(crate) read_outcome: Statement,
    /// See [`CANCEL`].
    pub(crate) cancel: Statement,
    /// See [`RECORD_ENDING`].
    pub(crate) record_ending: Statement,
    /// `$1 id`.
    pub(crate) read: Statement,
    /// `$1 instance?, $2 flow?, $3 states?, $4 limit`.
    pub(crate) list: Statement,
    /// `$1 retention in microseconds`.
    pub(crate) purge: Statement,
    /// `$1 id, $2 owner, $3 lease`: a reservation never submitted (see `owner.rs`).
    pub(crate) release: Statement,
    /// `$1 id, $2 owner, $3 flow, $4 lease`: the reserved task's flow, named at its
    /// submission.
    pub(crate) name_flow: Statement,
    /// `$1 id, $2 owner, $3 flow, $4 lease, $5 payload, $6 info`: a resumable flow's
    /// reserved task's flow, named at its submission with its persisted state (see
    /// `recover.rs`).
    pub(crate) name_flow_with_state: Statement,
    /// See [`FINAL`].
    pub(crate) final_record: Statement,
    /// A step boundary with the task's persisted state: see `recover.rs`'s `PERSIST`.
    /// Prepared like the others (sent as text, each boundary cost a round trip and a parse
    /// more).
    pub(crate) persist: Statement,
}

/// The final record a clustered manager's task writes (see `owner.rs`): whatever decided
/// it, the row becomes `finished` with the ending the task's outcome has. A `cancelled`
/// ending keeps the cancel that won the row if one did, and otherwise records the owner's
/// own (local) cancel, `$11..$14`; any other ending leaves no cancel on the row (a cancel
/// that won the row while a step panicked or overran its time limit is cleared: the task
/// did not end by it).
/// `$1 id, $2 owner, $3 ending, $4 ending step, $5 message, $6 steps completed,
///  $7 cleanup, $8 cleanup step, $9 cleanup duration (µs), $10 cleanup message,
///  $11 cancel kind, $12 cancel message, $13 cancel max wait (µs), $14 cancel source,
///  $15 lease, $16 the task's flow if no earlier write named it (NULL: unchanged),
///  $17 this ending replaces the one the task's seal recorded`.
const FINAL: &str = "\
UPDATE {s}.tasks
   SET state = 'finished', ended_at = now(), flow = coalesce($16::text, flow),
       ending = $3, ending_step = $4, ending_message = $5, steps_completed = $6,
       cleanup = $7, cleanup_step = $8, cleanup_us = $9, cleanup_message = $10,
       cancel_kind = CASE WHEN $3 <> 'cancelled' THEN NULL
                          WHEN cancel_kind IS NULL THEN $11::text ELSE cancel_kind END,
       cancel_message = CASE WHEN $3 <> 'cancelled' THEN NULL
                             WHEN cancel_kind IS NULL THEN $12::bytea ELSE cancel_message END,
       cancel_max_wait_us = CASE WHEN $3 <> 'cancelled' THEN NULL
                                 WHEN cancel_kind IS NULL THEN $13::bigint
                                 ELSE cancel_max_wait_us END,
       cancel_source = CASE WHEN $3 <> 'cancelled' THEN NULL
                            WHEN cancel_kind IS NULL THEN $14::text ELSE cancel_source END,
       cancel_by = CASE WHEN $3 <> 'cancelled' THEN NULL
                        WHEN cancel_kind IS NULL THEN $2 ELSE cancel_by END,
       cancel_requested_at = CASE WHEN $3 <> 'cancelled' THEN NULL
                                  WHEN cancel_kind IS NULL THEN now()
                                  ELSE cancel_requested_at END,
       cancel_delivered_at = CASE WHEN $3 <> 'cancelled' THEN NULL
                                  ELSE cancel_delivered_at END
 WHERE id = $1 AND instance = $2 AND lease IS NOT DISTINCT FROM $15::bigint
   AND (state <> 'finished' OR $17::boolean)";

/// The cancel: ONE conditional update decides it, against the task's own seal (both move the
/// row out of the undecided states; whichever matches first wins, the other matches nothing).
/// The winner's row is then announced to its owner on the owner's channel; NOTIFY is
/// transactional, so the owner hears of the cancel exactly when it is committed.
/// A task whose claimant is cleaning up its lost step (`cancelling` with the claim's
/// `owner_lost`, see `recover.rs`) is undecided too: the request replaces the claim's reason
/// and source, and the task does not run again (the claimant's `RESUME` no longer matches);
/// a request that itself names `owner_lost` does not (it would answer `Requested` twice).
/// `$1 id, $2 kind, $3 message, $4 max wait, $5 source, $6 requesting instance`.
/// One row: this request won. No row: read the record to say why not.
const CANCEL: &str = "\
WITH decided AS (
    UPDATE {s}.tasks
       SET state = 'cancelling',
           cancel_kind = $2, cancel_message = $3, cancel_max_wait_us = $4,
           cancel_source = $5, cancel_by = $6, cancel_requested_at = now()
     WHERE id = $1
       AND (state IN ('queued', 'running')
            OR (state = 'cancelling' AND cancel_source = 'owner_lost'
                AND $5 <> 'owner_lost'))
    RETURNING id, instance
)
SELECT pg_notify({s}.cancel_channel(instance), id::text) FROM decided";

/// The final record. A `cancelled` ending needs the row's cancel to have won; any other
/// ending needs that it did not: the task sealed before (`finishing`), or seals now
/// (undecided, one update for both).
/// `$1 id, $2 owner, $3 ending, $4 ending step, $5 message, $6 steps completed,
///  $7 cleanup, $8 cleanup step, $9 cleanup duration (µs), $10 cleanup message, $11 lease`.
const RECORD_ENDING: &str = "\
UPDATE {s}.tasks
   SET state = 'finished', ended_at = now(),
       ending = $3, ending_step = $4, ending_message = $5, steps_completed = $6,
       cleanup = $7, cleanup_step = $8, cleanup_us = $9, cleanup_message = $10
 WHERE id = $1 AND instance = $2 AND lease IS NOT DISTINCT FROM $11::bigint
   AND CASE WHEN $3 = 'cancelled' THEN state = 'cancelling'
            ELSE state IN ('queued', 'running', 'finishing') END";

impl Statements {
    pub(crate) async fn prepare(
        client: &Client,
        schema: &SchemaName,
    ) -> Result<Self, tokio_postgres::Error> {
        let s = schema.quoted();
        let prepare = |sql: String| async move { client.prepare(&sql).await };
        Ok(Statements {
            insert: prepare(format!(
                "INSERT INTO {s}.tasks (id, flow, instance, state, started_at, lease)
                 VALUES ($1, $2, $3, $4, CASE WHEN $4 = 'running' THEN now() END, $5)"
            ))
            .await?,
            begin_step: prepare(format!(
                "UPDATE {s}.tasks
                    SET state = 'running', started_at = coalesce(started_at, now()),
                        step = $3, step_index = $4, steps_completed = $5,
                        flow = coalesce($7::text, flow)
                  WHERE id = $1 AND instance = $2 AND lease IS NOT DISTINCT FROM $6::bigint
                    AND state IN ('queued', 'running')"
            ))
            .await?,
            progress: prepare(format!(
                "UPDATE {s}.tasks SET progress_done = $3, progress_total = $4
                  WHERE id = $1 AND instance = $2 AND lease IS NOT DISTINCT FROM $5::bigint
                    AND state <> 'finished'"
            ))
            .await?,
            // With an ending ($6), the seal is the task's final record too: nothing runs
            // between them (core's `Sealing::ending`), so the ending is not written again.
            seal: prepare(format!(
                "UPDATE {s}.tasks
                    SET state = CASE WHEN $6::text IS NULL THEN 'finishing' ELSE 'finished' END,
                        sealed_as = $4::text,
                        steps_completed = coalesce($5::integer, steps_completed),
                        ending = $6::text, ending_step = $7::text,
                        ended_at = CASE WHEN $6::text IS NULL THEN NULL ELSE now() END,
                        output = $8::bytea,
                        flow = CASE WHEN flow = '' THEN coalesce($9::text, flow) ELSE flow END
                  WHERE id = $1 AND instance = $2 AND lease IS NOT DISTINCT FROM $3::bigint
                    AND state IN ('queued', 'running')"
            ))
            .await?,
            read_outcome: prepare(format!(
                "SELECT {RECORD_COLUMNS}, output FROM {s}.tasks WHERE id = $1"
            ))
            .await?,
            cancel: prepare(CANCEL.replace("{s}", &s)).await?,
            record_ending: prepare(RECORD_ENDING.replace("{s}", &s)).await?,
            read: prepare(format!(
                "SELECT {RECORD_COLUMNS} FROM {s}.tasks WHERE id = $1"
            ))
            .await?,
            list: prepare(format!(
                "SELECT {RECORD_COLUMNS} FROM {s}.tasks
                  WHERE ($1::text IS NULL OR instance = $1)
                    AND ($2::text IS NULL OR flow = $2)
                    AND ($3::text[] IS NULL OR state = ANY($3))
                  ORDER BY submitted_at, id
                  LIMIT $4"
            ))
            .await?,
            // The leases that expired as long ago go with them, unless an unfinished task
            // still names one (a claim finds a lost owner's tasks through its lease).
            purge: prepare(format!(
                "WITH expired_leases AS (
                   DELETE FROM {s}.leases lease
                    WHERE lease.expires_at <= now() - $1::bigint * interval '1 microsecond'
                      AND NOT EXISTS (SELECT 1 FROM {s}.tasks task
                                       WHERE task.lease = lease.id AND task.state <> 'finished'))
                 DELETE FROM {s}.tasks
                  WHERE state = 'finished' AND ended_at <= now() - $1::bigint * interval '1 microsecond'"
            ))
            .await?,
            release: prepare(format!(
                "DELETE FROM {s}.tasks
                  WHERE id = $1 AND instance = $2 AND lease IS NOT DISTINCT FROM $3::bigint
                    AND started_at IS NULL AND state IN ('queued', 'cancelling')"
            ))
            .await?,
            name_flow: prepare(format!(
                "UPDATE {s}.tasks SET flow = $3
                  WHERE id = $1 AND instance = $2 AND lease IS NOT DISTINCT FROM $4::bigint"
            ))
            .await?,
            name_flow_with_state: prepare(format!(
                "UPDATE {s}.tasks SET flow = $3, state_payload = $5, state_info = $6
                  WHERE id = $1 AND instance = $2 AND lease IS NOT DISTINCT FROM $4::bigint
                    AND state <> 'finished'"
            ))
            .await?,
            final_record: prepare(FINAL.replace("{s}", &s)).await?,
            persist: prepare(crate::recover::PERSIST.replace("{s}", &s)).await?,
        })
    }
}

/// The listener's statements, prepared on its own connection.
pub(crate) struct ListenerStatements {
    /// `$1 instance` -> the channel's name.
    pub(crate) channel: Statement,
    /// `$1 instance, $2 limit`: the cancels the instance has not taken yet, oldest first.
    pub(crate) undelivered: Statement,
    /// `$1 ids, $2 instance`: marks them taken.
    pub(crate) mark_delivered: Statement,
}

impl ListenerStatements {
    pub(crate) async fn prepare(
        client: &Client,
        schema: &SchemaName,
    ) -> Result<Self, tokio_postgres::Error> {
        let s = schema.quoted();
        Ok(ListenerStatements {
            channel: client
                .prepare(&format!("SELECT {s}.cancel_channel($1)"))
                .await?,
            undelivered: client
                .prepare(&format!(
                    "SELECT id, cancel_kind, cancel_message, cancel_max_wait_us, cancel_source,
                            cancel_by, cancel_requested_at
                       FROM {s}.tasks
                      WHERE instance = $1 AND state = 'cancelling' AND cancel_delivered_at IS NULL
                      ORDER BY cancel_requested_at, id
                      LIMIT $2"
                ))
                .await?,
            mark_delivered: client
                .prepare(&format!(
                    "UPDATE {s}.tasks SET cancel_delivered_at = now()
                      WHERE id = ANY($1) AND instance = $2 AND cancel_delivered_at IS NULL"
                ))
                .await?,
        })
    }
}

/// Reads a record's row (columns as in [`RECORD_COLUMNS`]).
pub(crate) fn decode_record(row: &Row) -> Result<TaskRecord, StoreError> {
    let id = row
        .try_get::<_, PgId>(0)
        .map_err(|e| StoreError::Corrupt {
            id: None,
            detail: e.to_string(),
        })?
        .0;
    decode_record_of(id, row).map_err(|detail| StoreError::Corrupt {
        id: Some(id),
        detail,
    })
}

fn decode_record_of(id: TaskId, row: &Row) -> Result<TaskRecord, String> {
    fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
        row: &'a Row,
        index: usize,
    ) -> Result<T, String> {
        row.try_get(index)
            .map_err(|e| format!("column {}: {e}", row.columns()[index].name()))
    }
    let state_text: String = get(row, 3)?;
    let state =
        TaskState::parse(&state_text).ok_or_else(|| format!("unknown state `{state_text}`"))?;
    let step = match (get::<Option<String>>(row, 4)?, get::<Option<i32>>(row, 5)?) {
        (Some(name), Some(index)) => Some((name, count(index))),
        _ => None,
    };
    let progress = match (get::<Option<i64>>(row, 7)?, get::<Option<i64>>(row, 8)?) {
        (Some(done), Some(total)) => Some(Progress {
            done: done.max(0) as u64,
            total: total.max(0) as u64,
        }),
        _ => None,
    };
    let cancel = match get::<Option<String>>(row, 12)? {
        Some(kind) => Some(CancelRecord {
            reason: decode_reason(&kind, get(row, 13)?, get(row, 14)?)?,
            source: decode_source(&get::<String>(row, 15)?)?,
            requested_by: get(row, 16)?,
            requested_at: get(row, 17)?,
            delivered_at: get(row, 18)?,
        }),
        None => None,
    };
    let steps_completed = count(get(row, 6)?);
    let ending = match get::<Option<String>>(row, 19)? {
        Some(kind) => {
            let step: Option<String> = get(row, 20)?;
            let message = || -> Result<String, String> {
                text(get::<Option<Vec<u8>>>(row, 21)?.unwrap_or_default())
            };
            let required = |step: Option<String>| step.ok_or("an ending without its step");
            let ended = match kind.as_str() {
                "completed" => Ended::Completed,
                // No step: the runtime dropped the task (see `owner.rs`).
                "failed" => Ended::Failed {
                    step: step.unwrap_or_default(),
                    error: message()?,
                },
                "cancelled" => Ended::Cancelled { step },
                "panicked" => Ended::Panicked {
                    step: required(step)?,
                    message: message()?,
                },
                other => return Err(format!("unknown ending `{other}`")),
            };
            Some(EndingRecord {
                ended,
                steps_completed,
                cleanup: decode_cleanup(row)?,
                compensations: decode_compensations(row)?,
            })
        }
        None => None,
    };
    Ok(TaskRecord {
        id,
        flow: get(row, 1)?,
        instance: get(row, 2)?,
        state,
        step,
        steps_completed,
        progress,
        cancel,
        ending,
        submitted_at: get::<SystemTime>(row, 9)?,
        started_at: get(row, 10)?,
        ended_at: get(row, 11)?,
    })
}

fn decode_cleanup(row: &Row) -> Result<Option<CleanupRecord>, String> {
    let kind: Option<String> = row.try_get(22).map_err(|e| e.to_string())?;
    let Some(kind) = kind else { return Ok(None) };
    let step: Option<String> = row.try_get(23).map_err(|e| e.to_string())?;
    let micros: Option<i64> = row.try_get(24).map_err(|e| e.to_string())?;
    let message: Option<Vec<u8>> = row.try_get(25).map_err(|e| e.to_string())?;
    let step = || step.clone().ok_or("a cleanup without its step".to_owned());
    let time = || micros.map(duration).ok_or("a cleanup without its duration");
    Ok(Some(match kind.as_str() {
        "completed" => CleanupRecord::Completed {
            step: step()?,
            duration: time()?,
        },
        "not_declared" => CleanupRecord::NotDeclared { step: step()? },
        "no_step_in_progress" => CleanupRecord::NoStepInProgress,
        "panicked" => CleanupRecord::Panicked {
            step: step()?,
            message: text(message.unwrap_or_default())?,
        },
        "timed_out" => CleanupRecord::TimedOut {
            step: step()?,
            after: time()?,
        },
        "lost" => CleanupRecord::Lost { step: step()? },
        other => return Err(format!("unknown cleanup `{other}`")),
    }))
}

/// The compensations an ending records (columns 26 to 29, one element each); none if NULL.
fn decode_compensations(row: &Row) -> Result<Vec<CompensationRecord>, String> {
    let get = |e: tokio_postgres::Error| e.to_string();
    let steps: Option<Vec<String>> = row.try_get(26).map_err(get)?;
    let Some(steps) = steps else {
        return Ok(Vec::new());
    };
    let kinds: Vec<String> = row
        .try_get::<_, Option<_>>(27)
        .map_err(get)?
        .unwrap_or_default();
    let times: Vec<Option<i64>> = row
        .try_get::<_, Option<_>>(28)
        .map_err(get)?
        .unwrap_or_default();
    let messages: Vec<Option<Vec<u8>>> = row
        .try_get::<_, Option<_>>(29)
        .map_err(get)?
        .unwrap_or_default();
    if kinds.len() != steps.len() || times.len() != steps.len() || messages.len() != steps.len() {
        return Err("compensation columns of different lengths".to_owned());
    }
    let mut compensations = Vec::with_capacity(steps.len());
    for (((step, kind), micros), message) in steps.into_iter().zip(kinds).zip(times).zip(messages) {
        let time = || {
            micros
                .map(duration)
                .ok_or("a compensation without its duration")
        };
        compensations.push(match kind.as_str() {
            "completed" => CompensationRecord::Completed {
                step,
                duration: time()?,
            },
            "failed" => CompensationRecord::Failed {
                step,
                error: text(message.unwrap_or_default())?,
            },
            "panicked" => CompensationRecord::Panicked {
                step,
                message: text(message.unwrap_or_default())?,
            },
            "timed_out" => CompensationRecord::TimedOut {
                step,
                after: time()?,
            },
            other => return Err(format!("unknown compensation `{other}`")),
        });
    }
    Ok(compensations)
}

/// User text stored as bytes (see `reason.rs` for why bytea).
fn text(bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|_| "a message that is not UTF-8".to_owned())
}

fn count(value: i32) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

#[cfg(test)]
mod column_count {
    #[test]
    fn record_columns_are_counted() {
        assert_eq!(
            super::RECORD_COLUMNS.split(',').count(),
            super::RECORD_COLUMN_COUNT
        );
    }
}
