//! Claiming the tasks of lost instances: when an owner's lease has expired (`lease.rs`),
//! a live instance takes each of its unfinished tasks and decides how it ends.
//!
//! # Invariants
//! * One conditional update claims: it matches only records whose lease has expired and
//!   that are not finished, and, in the same statement, writes the claimant's lease (so
//!   the lost owner's writes match nothing from then on), bumps the record's `fence` and
//!   names the lost owner. Two instances claiming at once each lock the rows they update;
//!   the second re-reads a row after the first commits, finds its lease no longer expired
//!   (it is the first claimant's) and its state finished, and skips it: one claim per task.
//! * Only an instance whose own lease is live claims (the update joins it): an instance that
//!   lost its lease cannot claim, not even its own tasks.
//! * The tasks a flow can clean up (a step with persisted state, or a resumable flow's task
//!   still `queued` with the state its submission recorded, `recover.rs`) are claimed first,
//!   by their own update, and skipped by this one. Any other task is ended by the claim
//!   in the same update, as the one-process manager ends a task whose step is interrupted,
//!   with reason `OwnerLost { instance }` (source `owner_lost`):
//!   * undecided (`queued`, `running`): cancelled by the claim; the step the record last
//!     heard of, if any, is reported with cleanup `lost` (no instance ran its cleanup),
//!     otherwise `no_step_in_progress`;
//!   * `cancelling` (a cancel had won, and the owner was stopping the task): cancelled with
//!     that cancel's reason, the step's cleanup `lost` as above;
//!   * `finishing` (the owner had sealed its own ending and not recorded it): as the seal
//!     said (`sealed_as`, migration 7): sealed `completed`, `completed` (the steps completed
//!     the seal wrote, no cleanup, no message); otherwise (sealed `failed`, or a seal that
//!     said nothing: the store's own API, a row sealed before migration 7) `failed`, with a
//!     message naming the lost owner: the step's error is the user's value, never written
//!     to the store, so the record cannot give it.
//!
//!   A record written without a lease (the store's own API, `lease` NULL) is never claimed.

use task_manager_core::TaskId;

use crate::error::StoreError;
use crate::id::PgId;
use crate::store::PgCluster;

/// A task [`PgCluster::claim_expired`] took from a lost instance.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClaimedTask {
    /// The task.
    pub id: TaskId,
    /// Its flow.
    pub flow: String,
    /// The instance it was taken from.
    pub lost_instance: String,
    /// The step its record last named, if any.
    pub step: Option<String>,
    /// How many times it has been claimed (1 for the first claim).
    pub fence: i32,
    /// Whether it was handed to its flow, registered on this instance's manager, to run
    /// its step's cleanup here (`#[flow(on_owner_lost = cancel)]`); the ending is recorded
    /// once the cleanup has run (with `on_owner_lost = resume`, the task then runs again
    /// here, and its ending is recorded when it ends). `false`: the claim ended it already.
    pub recovering: bool,
}

impl ClaimedTask {
    pub(crate) fn new(
        id: TaskId,
        flow: String,
        lost_instance: String,
        step: Option<String>,
        fence: i32,
        recovering: bool,
    ) -> Self {
        ClaimedTask {
            id,
            flow,
            lost_instance,
            step,
            fence,
            recovering,
        }
    }
}

/// The claim (see the module docs). `$1 claimant's lease, $2 claimant`.
const CLAIM: &str = "\
WITH mine AS (
    SELECT id FROM {s}.leases WHERE id = $1 AND expires_at > now()
), claimed AS (
    UPDATE {s}.tasks t
       SET lost_instance = t.instance, instance = $2, lease = $1, fence = t.fence + 1,
           state = 'finished', ended_at = now(),
           ending = CASE WHEN t.state = 'finishing' AND t.sealed_as = 'completed' THEN 'completed'
                         WHEN t.state = 'finishing' THEN 'failed' ELSE 'cancelled' END,
           ending_step = CASE WHEN t.state = 'finishing' AND t.sealed_as = 'completed' THEN NULL
                              WHEN t.state = 'finishing' THEN coalesce(t.step, '')
                              ELSE t.step END,
           ending_message = CASE WHEN t.state = 'finishing' AND t.sealed_as = 'completed' THEN NULL
                                 WHEN t.state = 'finishing' THEN convert_to(
               'its instance `' || t.instance || '` was lost after the task sealed its own '
               || 'ending and before it recorded it', 'UTF8') END,
           cleanup = CASE WHEN t.state = 'finishing' THEN NULL
                          WHEN t.step IS NULL THEN 'no_step_in_progress'
                          ELSE 'lost' END,
           cleanup_step = CASE WHEN t.state = 'finishing' THEN NULL ELSE t.step END,
           cleanup_us = NULL, cleanup_message = NULL,
           cancel_kind = CASE WHEN t.state = 'finishing' THEN NULL
                              ELSE coalesce(t.cancel_kind, 'owner_lost') END,
           cancel_message = CASE WHEN t.state = 'finishing' THEN NULL
                                 WHEN t.cancel_kind IS NULL THEN convert_to(t.instance, 'UTF8')
                                 ELSE t.cancel_message END,
           cancel_source = CASE WHEN t.state = 'finishing' THEN NULL
                                ELSE coalesce(t.cancel_source, 'owner_lost') END,
           cancel_by = CASE WHEN t.state = 'finishing' THEN NULL
                            ELSE coalesce(t.cancel_by, $2) END,
           cancel_requested_at = CASE WHEN t.state = 'finishing' THEN NULL
                                      ELSE coalesce(t.cancel_requested_at, now()) END,
           cancel_delivered_at = CASE WHEN t.state = 'finishing' THEN NULL
                                      ELSE coalesce(t.cancel_delivered_at, now()) END
      FROM {s}.leases lost
     WHERE t.lease = lost.id AND lost.expires_at <= now() AND t.state <> 'finished'
       AND NOT (((t.state IN ('running', 'cancelling') AND t.step IS NOT NULL)
                 OR (t.state = 'queued' AND t.step IS NULL))
                AND t.state_payload IS NOT NULL)
       AND EXISTS (SELECT 1 FROM mine)
    RETURNING t.id, t.flow, t.lost_instance, t.step, t.fence
)
SELECT id, flow, lost_instance, step, fence FROM claimed";

impl PgCluster {
    /// Claims every unfinished task of every instance whose lease has expired. A task of a
    /// flow with `on_owner_lost = cancel` whose record names a step with its persisted state
    /// is handed to the flow registered on this instance's manager, which runs that step's
    /// cleanup with [`CancelReason::OwnerLost`](task_manager_core::CancelReason::OwnerLost);
    /// its ending is recorded after ([`flush`](Self::flush) waits for it). Any other is ended
    /// at once as its record allows (see the crate's README): cancelled with `OwnerLost`, the
    /// step the record last named reported with cleanup
    /// [`Lost`](task_manager_core::RecordedCleanup::Lost). Each task is claimed by exactly
    /// one instance, however many claim at once. An instance attached to a manager claims
    /// after each renewal of its own lease; this call claims now. Needs a live lease of this
    /// instance's own (none: nothing is claimed).
    ///
    /// ```no_run
    /// # async fn demo(cluster: task_manager_postgres::PgCluster) -> Result<(), task_manager_postgres::StoreError> {
    /// for task in cluster.claim_expired().await? {
    ///     println!("{} taken from {}", task.id, task.lost_instance);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn claim_expired(&self) -> Result<Vec<ClaimedTask>, StoreError> {
        let Some(lease) = self.lease() else {
            return Ok(Vec::new());
        };
        let mut claimed = self.claim_recoverable(lease).await?;
        let s = self.inner.schema.quoted();
        let session = self.inner.link.session().await?;
        let rows = session
            .client
            .query(&CLAIM.replace("{s}", &s), &[&lease, &self.inner.instance])
            .await
            .map_err(|e| StoreError::from_client("claiming the tasks of lost instances", e))?;
        for row in &rows {
            let corrupt = |e: tokio_postgres::Error| StoreError::Corrupt {
                id: None,
                detail: e.to_string(),
            };
            claimed.push(ClaimedTask::new(
                row.try_get::<_, PgId>(0).map_err(corrupt)?.0,
                row.try_get(1).map_err(corrupt)?,
                row.try_get(2).map_err(corrupt)?,
                row.try_get(3).map_err(corrupt)?,
                row.try_get(4).map_err(corrupt)?,
                false,
            ));
        }
        Ok(claimed)
    }
}
