//! The writes a clustered manager makes for its own tasks through the seam (`cluster.rs`):
//! forgetting a reservation never submitted, naming a reserved task's flow, and the final
//! record, whatever decided the ending.

use task_manager_core::{ClusterEnding, EndedAs, TaskId};

use crate::error::StoreError;
use crate::id::PgId;
use crate::reason::encode_reason;
use crate::record::cleanup_columns;
use crate::store::{no_nul, PgCluster};

impl PgCluster {
    /// Deletes the record of a task reserved by this instance and never started. `Ok(false)`:
    /// there was none to delete (it started, or is gone).
    pub(crate) async fn release_id(&self, id: TaskId) -> Result<bool, StoreError> {
        let session = self.inner.link.session().await?;
        let deleted = session
            .client
            .execute(
                &session.sql.release,
                &[&PgId(id), &self.inner.instance, &self.lease()],
            )
            .await
            .map_err(|e| StoreError::from_client("releasing a reserved task", e))?;
        Ok(deleted == 1)
    }

    /// Names the flow of a task reserved before its flow was known.
    pub(crate) async fn name_flow(&self, id: TaskId, flow: &str) -> Result<(), StoreError> {
        no_nul("flow name", flow)?;
        let session = self.inner.link.session().await?;
        session
            .client
            .execute(
                &session.sql.name_flow,
                &[&PgId(id), &self.inner.instance, &flow, &self.lease()],
            )
            .await
            .map_err(|e| StoreError::from_client("naming a task's flow", e))?;
        Ok(())
    }

    /// Names the flow of a resumable flow's reserved task, with its payload and info: a
    /// claim of it before its first boundary resumes it from its first step (`recover.rs`).
    pub(crate) async fn name_flow_with_state(
        &self,
        id: TaskId,
        flow: &str,
        payload: &Option<Vec<u8>>,
        info: &Option<Vec<u8>>,
    ) -> Result<(), StoreError> {
        no_nul("flow name", flow)?;
        let session = self.inner.link.session().await?;
        session
            .client
            .execute(
                &session.sql.name_flow_with_state,
                &[
                    &PgId(id),
                    &self.inner.instance,
                    &flow,
                    &self.lease(),
                    payload,
                    info,
                ],
            )
            .await
            .map_err(|e| StoreError::from_client("naming a task's flow with its state", e))?;
        Ok(())
    }

    /// The final record of one of this instance's tasks, as its outcome says (see `FINAL` in
    /// `sql.rs`), with its flow if no earlier write named it (`flow`). `Ok(false)`: it was recorded already, or has no record.
    pub(crate) async fn record_final(
        &self,
        id: TaskId,
        ending: &ClusterEnding,
        flow: Option<&str>,
    ) -> Result<bool, StoreError> {
        let timed_out;
        let (kind, step, message): (&str, Option<&str>, Option<&[u8]>) = match &ending.ended {
            EndedAs::Completed => ("completed", None, None),
            EndedAs::Failed { step } => ("failed", Some(step), None),
            EndedAs::Cancelled { step, .. } => ("cancelled", *step, None),
            EndedAs::Panicked { step, message } => {
                ("panicked", Some(step), Some(message.as_bytes()))
            }
            // The record's endings are the store's four; these two are failures to it, with
            // their cause in the message.
            EndedAs::TimedOut { step, limit } => {
                timed_out = format!("the step overran its time limit of {limit:?}");
                ("failed", Some(step), Some(timed_out.as_bytes()))
            }
            EndedAs::Dropped => ("failed", None, Some(&b"dropped by its runtime"[..])),
            _ => (
                "failed",
                None,
                Some(&b"an ending this store does not know"[..]),
            ),
        };
        let cancel = match &ending.ended {
            EndedAs::Cancelled { reason, source, .. } => {
                Some((encode_reason(reason)?, source.name()))
            }
            _ => None,
        };
        let cleanup = ending.cleanup.as_ref().map(cleanup_columns).transpose()?;
        let steps_completed = i32::try_from(ending.steps_completed).unwrap_or(i32::MAX);
        let (cancel_kind, cancel_message, cancel_max_wait, cancel_source) = match &cancel {
            Some((columns, source)) => (
                Some(columns.kind),
                columns.message,
                columns.max_wait_us,
                Some(*source),
            ),
            None => (None, None, None, None),
        };
        let session = self.inner.link.session().await?;
        let written = session
            .client
            .execute(
                &session.sql.final_record,
                &[
                    &PgId(id),
                    &self.inner.instance,
                    &kind,
                    &step,
                    &message,
                    &steps_completed,
                    &cleanup.as_ref().map(|c| c.kind),
                    &cleanup.as_ref().and_then(|c| c.step),
                    &cleanup.as_ref().and_then(|c| c.micros),
                    &cleanup.as_ref().and_then(|c| c.message),
                    &cancel_kind,
                    &cancel_message,
                    &cancel_max_wait,
                    &cancel_source,
                    &self.lease(),
                    &flow,
                    &ending.replaces_seal,
                ],
            )
            .await
            .map_err(|e| StoreError::from_client("recording a task's ending", e))?;
        Ok(written == 1)
    }
}
