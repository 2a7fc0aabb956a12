//! Flows with `#[flow(on_owner_lost = cancel)]` on this store: their state persisted at each
//! step boundary (with the outputs of the completed compensated steps), and the claim that
//! hands a lost task to the claimant's flow, which runs the interrupted step's cleanup and
//! then the compensations of the completed steps there (core's `CancelDelivery::recover`).
//!
//! # Invariants
//! * A boundary with state is written in order with the task's other writes (same writer),
//!   and the task waits for it before the step begins: the record's step, index and state
//!   are those of the step in progress (or of one about to begin).
//! * A record whose owner was lost and that names a step with persisted state, still
//!   `running` or `cancelling`, is claimed by [`RECOVER`] alone, which leaves it
//!   `cancelling` (with `OwnerLost`, or the cancel that had won) under the claimant's lease;
//!   `claim.rs`'s update skips it. The claimant then runs the cleanup and records the ending
//!   with its own lease. If the claimant is lost too before it records the ending, its lease
//!   expires and the record is claimed again: that cleanup then runs again, from its start.
//! * A resumable flow's task records its payload and info with its flow at its submission
//!   (`owner.rs`'s `name_flow_with_state`, awaited by `submit_in_cluster`): a record still
//!   `queued` with no step and that state, whose owner was lost, is claimed by [`RECOVER`]
//!   too, as unbegun (`LostTask::before_first_step`): no cleanup, and [`RESUME`] takes it back
//!   to `queued`, the claimant running it from its first step. A flow without `resume`
//!   records no state at its submission: its unbegun tasks are ended by `claim.rs`.
//! * While the claimant cleans up, a user's cancel may replace the claim's `OwnerLost`
//!   (`sql.rs`'s `CANCEL` matches `cancelling` with `owner_lost`): [`RESUME`] then matches
//!   nothing, and a resumable task is compensated and ended as for `cancel`, never resumed.

use std::sync::atomic::Ordering;
use std::time::Duration;

use task_manager_core::{LostTask, RecordedCleanup, RecordedCompensation, TaskId};
use tokio::time::sleep;

use crate::claim::ClaimedTask;
use crate::error::StoreError;
use crate::id::PgId;
use crate::reason::decode_reason;
use crate::record::{cleanup_columns, compensation_columns, Ended, EndingRecord};
use crate::store::{no_nul, PgCluster};

/// A step boundary with the task's persisted state.
pub(crate) struct Boundary {
    pub(crate) id: TaskId,
    pub(crate) index: u32,
    pub(crate) step: &'static str,
    pub(crate) payload: Option<Vec<u8>>,
    pub(crate) info: Option<Vec<u8>>,
    /// The outputs of the completed compensated steps, by step index.
    pub(crate) outputs: Vec<(usize, Vec<u8>)>,
    /// The input of the step that begins (a flow with `on_owner_lost = resume`).
    pub(crate) input: Option<Vec<u8>>,
}

/// The boundary's write: as a step boundary, with the state. `$1 id, $2 owner, $3 step,
/// $4 index, $5 payload, $6 info, $7 lease, $8 the compensated steps' indexes, $9 their
/// outputs, $10 the step's input, $11 the task's flow if its submission did not write it
/// (NULL: unchanged)`.
pub(crate) const PERSIST: &str = "\
UPDATE {s}.tasks
   SET state = 'running', started_at = coalesce(started_at, now()),
       flow = coalesce($11::text, flow),
       step = $3, step_index = $4, steps_completed = $4,
       state_payload = $5, state_info = $6,
       state_output_steps = $8::integer[], state_outputs = $9::bytea[],
       state_input = $10
 WHERE id = $1 AND instance = $2 AND lease IS NOT DISTINCT FROM $7::bigint
   AND state IN ('queued', 'running')";

/// The claim of the lost tasks that a flow can clean up (see the module docs).
/// `$1 claimant's lease, $2 claimant`.
const RECOVER: &str = "\
WITH mine AS (
    SELECT id FROM {s}.leases WHERE id = $1 AND expires_at > now()
)
UPDATE {s}.tasks t
   SET lost_instance = t.instance, instance = $2, lease = $1, fence = t.fence + 1,
       state = 'cancelling',
       cancel_kind = coalesce(t.cancel_kind, 'owner_lost'),
       cancel_message = CASE WHEN t.cancel_kind IS NULL THEN convert_to(t.instance, 'UTF8')
                             ELSE t.cancel_message END,
       cancel_source = coalesce(t.cancel_source, 'owner_lost'),
       cancel_by = coalesce(t.cancel_by, $2),
       cancel_requested_at = coalesce(t.cancel_requested_at, now()),
       cancel_delivered_at = now()
  FROM {s}.leases lost
 WHERE t.lease = lost.id AND lost.expires_at <= now()
   AND ((t.state IN ('running', 'cancelling') AND t.step IS NOT NULL)
        OR (t.state = 'queued' AND t.step IS NULL))
   AND t.state_payload IS NOT NULL
   AND EXISTS (SELECT 1 FROM mine)
RETURNING t.id, t.flow, t.lost_instance, t.step, t.step_index, t.fence,
          t.state_payload, t.state_info, t.cancel_kind, t.cancel_message, t.cancel_max_wait_us,
          t.state_output_steps, t.state_outputs, t.state_input";

/// A resumable task whose claimant ran the lost step's cleanup: it runs again, here. The
/// claim's `OwnerLost` cancel is cleared (a cancel that had won before the loss is not: such
/// a task is not resumed). A task lost before its first step is `queued` again (it may
/// wait in its flow's line) until its first boundary. `$1 id, $2 claimant, $3 claimant's
/// lease`.
const RESUME: &str = "\
UPDATE {s}.tasks
   SET state = CASE WHEN step IS NULL THEN 'queued' ELSE 'running' END,
       cancel_kind = NULL, cancel_message = NULL, cancel_max_wait_us = NULL,
       cancel_source = NULL, cancel_by = NULL, cancel_requested_at = NULL,
       cancel_delivered_at = NULL
 WHERE id = $1 AND instance = $2 AND lease IS NOT DISTINCT FROM $3::bigint
   AND state = 'cancelling' AND cancel_source = 'owner_lost'";

/// Whether a user's cancel won a resumable task while its claimant ran the lost step's
/// cleanup ([`RESUME`] matched nothing): the record is still this claimant's, `cancelling`,
/// with a reason that is not the claim's (the cancel replaced it). `$1 id, $2 claimant,
/// $3 claimant's lease`.
const CANCEL_WON: &str = "\
SELECT 1 FROM {s}.tasks
 WHERE id = $1 AND instance = $2 AND lease IS NOT DISTINCT FROM $3::bigint
   AND state = 'cancelling' AND cancel_source IS DISTINCT FROM 'owner_lost'";

/// The ending of a recovered task, with its cleanup and the compensations the claimant ran,
/// in one update, under the claimant's lease, while the claim's `cancelling` holds.
/// `$1 id, $2 claimant, $3 lease, $4 ending step, $5 steps completed, $6 cleanup,
///  $7 cleanup step, $8 cleanup duration (µs), $9 cleanup message, $10 compensations' steps,
///  $11 their kinds, $12 their durations (µs), $13 their messages`.
const RECORD_RECOVERED: &str = "\
UPDATE {s}.tasks
   SET state = 'finished', ended_at = now(),
       ending = 'cancelled', ending_step = $4, ending_message = NULL, steps_completed = $5,
       cleanup = $6, cleanup_step = $7, cleanup_us = $8, cleanup_message = $9,
       compensation_steps = $10, compensation_kinds = $11, compensation_us = $12,
       compensation_messages = $13
 WHERE id = $1 AND instance = $2 AND lease IS NOT DISTINCT FROM $3::bigint
   AND state = 'cancelling'";

/// The first and the longest wait before the ending of a recovered task is written again
/// while the server is unavailable.
const RETRY_FIRST: Duration = Duration::from_millis(20);
const RETRY_MAX: Duration = Duration::from_secs(1);

impl PgCluster {
    /// Writes a step boundary with the task's persisted state (see [`PERSIST`]), and its
    /// flow if no earlier write named it (`flow`). A boundary that matches nothing (a cancel won, or the task was claimed) writes nothing:
    /// `Ok(false)`.
    pub(crate) async fn persist_boundary(
        &self,
        boundary: &Boundary,
        flow: Option<&str>,
    ) -> Result<bool, StoreError> {
        no_nul("step name", boundary.step)?;
        let index = i32::try_from(boundary.index).unwrap_or(i32::MAX);
        let output_steps: Vec<i32> = boundary
            .outputs
            .iter()
            .map(|(index, _)| i32::try_from(*index).unwrap_or(i32::MAX))
            .collect();
        let outputs: Vec<&[u8]> = boundary
            .outputs
            .iter()
            .map(|(_, bytes)| bytes.as_slice())
            .collect();
        let session = self.inner.link.session().await?;
        let written = session
            .client
            .execute(
                &session.sql.persist,
                &[
                    &PgId(boundary.id),
                    &self.inner.instance,
                    &boundary.step,
                    &index,
                    &boundary.payload,
                    &boundary.info,
                    &self.lease(),
                    &output_steps,
                    &outputs,
                    &boundary.input,
                    &flow,
                ],
            )
            .await
            .map_err(|e| StoreError::from_client("recording a step boundary with its state", e))?;
        Ok(written == 1)
    }

    /// Claims the lost tasks that a flow can clean up ([`RECOVER`]), and hands each to this
    /// instance's manager: its registered flow runs the step's cleanup on a task of its own,
    /// whose ending is then recorded (until then, [`flush`](Self::flush) waits for it).
    pub(crate) async fn claim_recoverable(
        &self,
        lease: i64,
    ) -> Result<Vec<ClaimedTask>, StoreError> {
        let s = self.inner.schema.quoted();
        let session = self.inner.link.session().await?;
        let rows = session
            .client
            .query(&RECOVER.replace("{s}", &s), &[&lease, &self.inner.instance])
            .await
            .map_err(|e| StoreError::from_client("claiming the tasks of lost instances", e))?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let corrupt = |detail: String| StoreError::Corrupt { id: None, detail };
            let get = |e: tokio_postgres::Error| corrupt(e.to_string());
            let id = row.try_get::<_, PgId>(0).map_err(get)?.0;
            let flow: String = row.try_get(1).map_err(get)?;
            let lost_instance: String = row.try_get(2).map_err(get)?;
            // No step: a resumable flow's task lost before its first boundary, with the
            // state its submission recorded.
            let step: Option<String> = row.try_get(3).map_err(get)?;
            let index: Option<i32> = row.try_get(4).map_err(get)?;
            let index = usize::try_from(index.unwrap_or(0)).unwrap_or(0);
            let fence: i32 = row.try_get(5).map_err(get)?;
            let reason = decode_reason(
                &row.try_get::<_, String>(8).map_err(get)?,
                row.try_get(9).map_err(get)?,
                row.try_get(10).map_err(get)?,
            )
            .map_err(corrupt)?;
            let output_steps: Option<Vec<i32>> = row.try_get(11).map_err(get)?;
            let outputs: Option<Vec<Vec<u8>>> = row.try_get(12).map_err(get)?;
            let outputs = output_steps
                .unwrap_or_default()
                .into_iter()
                .zip(outputs.unwrap_or_default())
                .filter_map(|(index, bytes)| Some((usize::try_from(index).ok()?, bytes)))
                .collect();
            let lost = LostTask::new(id, flow.clone(), reason);
            let lost = match &step {
                Some(step) => lost.at_step(index, step.clone()),
                None => lost.before_first_step(),
            };
            let lost = lost
                .with_state(row.try_get(6).map_err(get)?, row.try_get(7).map_err(get)?)
                .with_outputs(outputs)
                .with_input(row.try_get(13).map_err(get)?);
            self.recover(lost, index, step.clone());
            claimed.push(ClaimedTask::new(id, flow, lost_instance, step, fence, true));
        }
        Ok(claimed)
    }

    /// Runs a claimed task's cleanup through this instance's manager (none registered for
    /// its flow: recorded `Lost`), then records its ending, in a task of its own.
    fn recover(&self, lost: LostTask, index: usize, step: Option<String>) {
        let cleanup = self
            .inner
            .lease
            .delivery()
            .and_then(|delivery| delivery.recover(lost.clone()));
        let pending = self
            .inner
            .seam
            .get()
            .map(|seam| std::sync::Arc::clone(&seam.pending));
        if let Some(pending) = &pending {
            pending.fetch_add(1, Ordering::AcqRel);
        }
        let this = self.clone();
        tokio::spawn(async move {
            // The compensations ran after the cleanup, on this instance: the record keeps
            // both, as the report of a task that ends in one process does.
            let (cleanup, compensations, resumes) = match cleanup {
                Some(run) => {
                    let recovered = run.await;
                    let compensations = recovered
                        .compensations
                        .iter()
                        .map(RecordedCompensation::from)
                        .collect();
                    (recovered.cleanup, compensations, recovered.resumes)
                }
                None => (
                    match &step {
                        Some(step) => RecordedCleanup::Lost { step: step.clone() },
                        None => RecordedCleanup::NoStepInProgress,
                    },
                    Vec::new(),
                    false,
                ),
            };
            // A resumable flow's task runs again here once its record says it runs; if a
            // user's cancel won it meanwhile, its completed steps are compensated here
            // instead, and it ends cancelled with that cancel's reason (the record's).
            let mut compensations = compensations;
            if resumes {
                match this.resume(lost.clone()).await {
                    Resumed::Running => {
                        if let Some(pending) = pending {
                            pending.fetch_sub(1, Ordering::AcqRel);
                        }
                        return;
                    }
                    Resumed::CancelWon => {
                        let run = this
                            .inner
                            .lease
                            .delivery()
                            .and_then(|delivery| delivery.compensate(lost.clone()));
                        if let Some(run) = run {
                            compensations =
                                run.await.iter().map(RecordedCompensation::from).collect();
                        }
                    }
                    Resumed::NotTaken => {}
                }
            }
            let ending = EndingRecord::new(Ended::Cancelled { step }, index as u32)
                .with_cleanup(cleanup)
                .with_compensations(compensations);
            let mut wait = RETRY_FIRST;
            // Until written, or refused for good (this instance lost its lease meanwhile: the
            // task will be claimed again).
            while let Err(StoreError::Unavailable { .. }) =
                this.record_recovered(lost.id, &ending).await
            {
                sleep(wait).await;
                wait = (wait * 2).min(RETRY_MAX);
            }
            if let Some(pending) = pending {
                pending.fetch_sub(1, Ordering::AcqRel);
            }
        });
    }
}

impl PgCluster {
    /// Writes the ending of a task this instance recovered ([`RECORD_RECOVERED`]): its
    /// cleanup and the compensations that ran, in one update. A record no longer this
    /// instance's (it lost its lease meanwhile) matches nothing, and nothing is written.
    async fn record_recovered(&self, id: TaskId, ending: &EndingRecord) -> Result<(), StoreError> {
        let step = match &ending.ended {
            Ended::Cancelled { step } => step.as_deref(),
            _ => None,
        };
        if let Some(step) = step {
            no_nul("step name", step)?;
        }
        let cleanup = ending.cleanup.as_ref().map(cleanup_columns).transpose()?;
        let compensations = compensation_columns(&ending.compensations)?;
        let steps_completed = i32::try_from(ending.steps_completed).unwrap_or(i32::MAX);
        let s = self.inner.schema.quoted();
        let session = self.inner.link.session().await?;
        session
            .client
            .execute(
                &RECORD_RECOVERED.replace("{s}", &s),
                &[
                    &PgId(id),
                    &self.inner.instance,
                    &self.lease(),
                    &step,
                    &steps_completed,
                    &cleanup.as_ref().map(|c| c.kind),
                    &cleanup.as_ref().and_then(|c| c.step),
                    &cleanup.as_ref().and_then(|c| c.micros),
                    &cleanup.as_ref().and_then(|c| c.message),
                    &compensations.as_ref().map(|c| &c.steps),
                    &compensations.as_ref().map(|c| &c.kinds),
                    &compensations.as_ref().map(|c| &c.micros),
                    &compensations.as_ref().map(|c| &c.messages),
                ],
            )
            .await
            .map_err(|e| StoreError::from_client("recording a recovered task's ending", e))?;
        Ok(())
    }

    /// A resumable task whose lost step was cleaned up here: records it as running here
    /// again ([`RESUME`], retried while the server is unavailable), then hands it to the
    /// manager, which submits it from that step (core's `CancelDelivery::resume`).
    /// [`Resumed::CancelWon`] if a user's cancel replaced the claim's meanwhile
    /// ([`CANCEL_WON`]): the record stays `cancelling`, and nothing runs again.
    /// [`Resumed::NotTaken`] if the record did not take it for another reason (this
    /// instance lost its lease meanwhile: the task will be claimed again) or the manager
    /// did not submit it; after the record took it, a task the manager did not submit stays
    /// `running` under this instance's lease, to be claimed again once that lease expires.
    async fn resume(&self, lost: LostTask) -> Resumed {
        let s = self.inner.schema.quoted();
        let mut wait = RETRY_FIRST;
        let taken = loop {
            let attempt = async {
                let session = self.inner.link.session().await?;
                let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
                    [&PgId(lost.id), &self.inner.instance, &self.lease()];
                let rows = session
                    .client
                    .execute(&RESUME.replace("{s}", &s), &params)
                    .await
                    .map_err(|e| StoreError::from_client("resuming a claimed task", e))?;
                if rows == 1 {
                    return Ok(Resumed::Running);
                }
                let won = session
                    .client
                    .query_opt(&CANCEL_WON.replace("{s}", &s), &params)
                    .await
                    .map_err(|e| {
                        StoreError::from_client("reading whether a cancel won a claimed task", e)
                    })?;
                Ok(match won {
                    Some(_) => Resumed::CancelWon,
                    None => Resumed::NotTaken,
                })
            };
            match attempt.await {
                Ok(taken) => break taken,
                Err(StoreError::Unavailable { .. }) => {
                    sleep(wait).await;
                    wait = (wait * 2).min(RETRY_MAX);
                }
                Err(_) => break Resumed::NotTaken,
            }
        };
        if taken != Resumed::Running {
            return taken;
        }
        let resumed = self
            .inner
            .lease
            .delivery()
            .and_then(|delivery| delivery.resume(lost));
        match resumed {
            Some(running) => {
                if running.await {
                    Resumed::Running
                } else {
                    Resumed::NotTaken
                }
            }
            None => Resumed::Running,
        }
    }
}

/// What became of a resumable task once its lost step was cleaned up (see
/// [`PgCluster::resume`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resumed {
    /// It runs again on this instance (or the record took it and the manager did not: it
    /// stays `running` under this instance's lease).
    Running,
    /// A user's cancel won it while its cleanup ran: its completed steps are compensated
    /// here, and its ending recorded.
    CancelWon,
    /// The record did not take it (this instance lost its lease meanwhile).
    NotTaken,
}
