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

use std::sync::atomic::Ordering;
use std::time::Duration;

use task_manager_core::{LostTask, RecordedCleanup, TaskId};
use tokio::time::sleep;

use crate::claim::ClaimedTask;
use crate::error::StoreError;
use crate::id::PgId;
use crate::reason::decode_reason;
use crate::record::{Ended, EndingRecord};
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
}

/// The boundary's write: as a step boundary, with the state. `$1 id, $2 owner, $3 step,
/// $4 index, $5 payload, $6 info, $7 lease, $8 the compensated steps' indexes, $9 their
/// outputs`.
pub(crate) const PERSIST: &str = "\
UPDATE {s}.tasks
   SET state = 'running', started_at = coalesce(started_at, now()),
       step = $3, step_index = $4, steps_completed = $4,
       state_payload = $5, state_info = $6,
       state_output_steps = $8::integer[], state_outputs = $9::bytea[]
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
   AND t.state IN ('running', 'cancelling') AND t.step IS NOT NULL
   AND t.state_payload IS NOT NULL
   AND EXISTS (SELECT 1 FROM mine)
RETURNING t.id, t.flow, t.lost_instance, t.step, t.step_index, t.fence,
          t.state_payload, t.state_info, t.cancel_kind, t.cancel_message, t.cancel_max_wait_us,
          t.state_output_steps, t.state_outputs";

/// The first and the longest wait before the ending of a recovered task is written again
/// while the server is unavailable.
const RETRY_FIRST: Duration = Duration::from_millis(20);
const RETRY_MAX: Duration = Duration::from_secs(1);

impl PgCluster {
    /// Writes a step boundary with the task's persisted state (see [`PERSIST`]). A boundary
    /// that matches nothing (a cancel won, or the task was claimed) writes nothing:
    /// `Ok(false)`.
    pub(crate) async fn persist_boundary(&self, boundary: &Boundary) -> Result<bool, StoreError> {
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
            let step: String = row.try_get(3).map_err(get)?;
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
            let lost = LostTask::new(id, flow.clone(), reason)
                .at_step(index, step.clone())
                .with_state(row.try_get(6).map_err(get)?, row.try_get(7).map_err(get)?)
                .with_outputs(outputs);
            self.recover(lost, index, step.clone());
            claimed.push(ClaimedTask::new(
                id,
                flow,
                lost_instance,
                Some(step),
                fence,
                true,
            ));
        }
        Ok(claimed)
    }

    /// Runs a claimed task's cleanup through this instance's manager (none registered for
    /// its flow: recorded `Lost`), then records its ending, in a task of its own.
    fn recover(&self, lost: LostTask, index: usize, step: String) {
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
            // The compensations ran after the cleanup, on this instance; as for a task that
            // ends in one process, the record keeps the cleanup, not the compensations.
            let cleanup = match cleanup {
                Some(run) => run.await.cleanup,
                None => RecordedCleanup::Lost { step: step.clone() },
            };
            let ending = EndingRecord::new(Ended::Cancelled { step: Some(step) }, index as u32)
                .with_cleanup(cleanup);
            let mut wait = RETRY_FIRST;
            // Until written, or refused for good (this instance lost its lease meanwhile: the
            // task will be claimed again).
            while let Err(StoreError::Unavailable { .. }) =
                this.record_ending(lost.id, &ending).await
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
