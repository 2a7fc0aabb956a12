//! An instance's lease: what lets the cluster tell a live owner from a lost one.
//!
//! An instance attached to a manager takes a lease (a row of `leases`: an id, an expiry on
//! the server's clock) and renews it every `renew_every`; an instance that stops renewing
//! (killed, paused, cut off from the store) lets it expire after `lease_for`, and then the
//! other instances claim its unfinished tasks (`claim.rs`).
//!
//! # Invariants
//! * The lease's id is the owner's fencing token. Every record an instance writes for its
//!   own tasks is written with its current lease, and every later write of the owner
//!   requires the record's lease to be that same id (`lease IS NOT DISTINCT FROM $n` in
//!   `sql.rs`). A claim replaces the record's lease with the claimant's, so from the
//!   claim's commit on, no write of the lost owner matches the record again.
//! * Expiry is decided on the server's clock (`now()`), never the instances': a renewal
//!   extends a lease only while it has not expired, so an expired lease stays expired. An
//!   instance that finds its lease expired ([`PgCluster::renew_lease`]) holds none from then
//!   on: it abandons every task it runs (core's `CancelDelivery::abandon_all`: no cleanup
//!   runs there, the claimant decides) and only then takes a new lease for its new tasks.
//! * While an instance holds no lease, it reserves no task id (`reserve` waits for a lease
//!   up to the connect timeout, then fails as unavailable).
//! * One renewal at a time per instance (`turn`).

use std::sync::OnceLock;
use std::time::Duration;

use task_manager_core::{CancelDelivery, CancelReason};
use tokio::sync::{watch, Mutex};
use tokio::time::sleep;

use task_manager_core::TaskId;

use crate::error::StoreError;
use crate::id::PgId;
use crate::reason::micros;
use crate::store::PgCluster;

/// The wait before a failed renewal is tried again (at most `renew_every`).
const RETRY_SOON: Duration = Duration::from_millis(200);

/// The lease state an instance's clones share (the writers' `PgCluster` included).
pub(crate) struct LeaseState {
    /// The lease held now; 0 for none.
    id: watch::Sender<i64>,
    /// One renewal at a time.
    turn: Mutex<()>,
    /// The manager's door, for abandoning its tasks when the lease is lost.
    delivery: OnceLock<CancelDelivery>,
}

impl LeaseState {
    /// Keeps the manager's door (at `attach`).
    pub(crate) fn set_delivery(&self, delivery: CancelDelivery) -> bool {
        self.delivery.set(delivery).is_ok()
    }

    /// The manager's door, once a manager was attached.
    pub(crate) fn delivery(&self) -> Option<&CancelDelivery> {
        self.delivery.get()
    }

    pub(crate) fn new() -> Self {
        LeaseState {
            id: watch::Sender::new(0),
            turn: Mutex::new(()),
            delivery: OnceLock::new(),
        }
    }
}

/// What [`PgCluster::renew_lease`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaseRenewal {
    /// The instance held no lease and took one (its fencing token).
    Taken(i64),
    /// The lease was renewed.
    Renewed(i64),
    /// The lease had expired: the instance abandoned its tasks (`abandoned` of them; the
    /// cluster claims them) and took a new lease.
    Lost {
        /// The expired lease.
        lost: i64,
        /// How many running tasks were abandoned.
        abandoned: usize,
        /// The new lease.
        taken: i64,
    },
}

impl PgCluster {
    /// The lease this instance writes its records with, if it holds one.
    pub(crate) fn lease(&self) -> Option<i64> {
        let id = *self.inner.lease.id.borrow();
        (id > 0).then_some(id)
    }

    /// The id of the lease this instance holds (its fencing token in the cluster), if it
    /// holds one: an instance attached to a manager takes one at once and renews it.
    ///
    /// ```no_run
    /// # fn demo(cluster: task_manager_postgres::PgCluster) {
    /// if let Some(token) = cluster.lease_id() {
    ///     println!("fencing token {token}");
    /// }
    /// # }
    /// ```
    pub fn lease_id(&self) -> Option<i64> {
        self.lease()
    }

    /// Why a write of this instance's to task `id` (whose record names `owner`) matched
    /// nothing, if ownership is the reason: the task was claimed from this instance
    /// ([`StoreError::Fenced`]), or was never its own ([`StoreError::NotOwner`]).
    pub(crate) async fn fence_refusal(
        &self,
        id: TaskId,
        owner: &str,
    ) -> Result<Option<StoreError>, StoreError> {
        let s = self.inner.schema.quoted();
        let session = self.inner.link.session().await?;
        let row = session
            .client
            .query_opt(
                &format!("SELECT lease, lost_instance FROM {s}.tasks WHERE id = $1"),
                &[&PgId(id)],
            )
            .await
            .map_err(|e| StoreError::from_client("reading a task's lease", e))?;
        let Some(row) = row else {
            return Ok(Some(StoreError::NotFound { id }));
        };
        let lease: Option<i64> = row.get(0);
        let lost: Option<String> = row.get(1);
        let me = self.inner.instance.as_str();
        let fenced = || StoreError::Fenced {
            id,
            owner: owner.to_owned(),
        };
        Ok(if owner != me {
            Some(if lost.as_deref() == Some(me) {
                fenced()
            } else {
                StoreError::NotOwner {
                    id,
                    owner: owner.to_owned(),
                }
            })
        } else if lease != self.lease() {
            Some(fenced())
        } else {
            None
        })
    }

    /// Waits until this instance holds a lease, at most `limit`.
    pub(crate) async fn wait_for_lease(&self, limit: Duration) -> Option<i64> {
        let mut watching = self.inner.lease.id.subscribe();
        let held = tokio::time::timeout(limit, watching.wait_for(|id| *id > 0)).await;
        match held {
            Ok(Ok(id)) => Some(*id),
            _ => None,
        }
    }

    /// Renews this instance's lease now, or takes one if it holds none. If the lease has
    /// expired, the instance has lost its tasks to the cluster: every task its manager runs
    /// is abandoned (it stops where it stands and runs no cleanup here: the instance that
    /// claims it decides its ending), then a new lease is taken. An instance attached to a
    /// manager does this by itself every `renew_every` (see [`Connect::lease`](crate::Connect::lease)).
    ///
    /// ```no_run
    /// # async fn demo(cluster: task_manager_postgres::PgCluster) -> Result<(), task_manager_postgres::StoreError> {
    /// use task_manager_postgres::LeaseRenewal;
    /// if let LeaseRenewal::Lost { abandoned, .. } = cluster.renew_lease().await? {
    ///     eprintln!("this instance was presumed dead: {abandoned} task(s) abandoned");
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] while the server cannot be reached (the lease is then
    /// neither renewed nor known lost: it is tried again).
    pub async fn renew_lease(&self) -> Result<LeaseRenewal, StoreError> {
        let state = &self.inner.lease;
        let _turn = state.turn.lock().await;
        let Some(held) = self.lease() else {
            let taken = self.take_lease().await?;
            return Ok(LeaseRenewal::Taken(taken));
        };
        let s = self.inner.schema.quoted();
        let session = self.inner.link.session().await?;
        let renewed = session
            .client
            .execute(
                &format!(
                    "UPDATE {s}.leases
                        SET expires_at = now() + $2::bigint * interval '1 microsecond'
                      WHERE id = $1 AND expires_at > now()"
                ),
                &[&held, &micros(self.inner.options.lease_for)],
            )
            .await
            .map_err(|e| StoreError::from_client("renewing the instance's lease", e))?;
        if renewed == 1 {
            return Ok(LeaseRenewal::Renewed(held));
        }
        // Expired: from now on this instance writes with no lease (every owner's write of
        // the old tasks is refused), abandons what it runs, then takes a new lease.
        state.id.send_replace(0);
        let abandoned = state.delivery.get().map_or(0, |delivery| {
            delivery.abandon_all(CancelReason::owner_lost(self.inner.instance.as_str()))
        });
        let taken = self.take_lease().await?;
        Ok(LeaseRenewal::Lost {
            lost: held,
            abandoned,
            taken,
        })
    }

    /// Inserts a new lease and makes it this instance's.
    async fn take_lease(&self) -> Result<i64, StoreError> {
        let s = self.inner.schema.quoted();
        let session = self.inner.link.session().await?;
        let row = session
            .client
            .query_one(
                &format!(
                    "INSERT INTO {s}.leases (instance, expires_at)
                     VALUES ($1, now() + $2::bigint * interval '1 microsecond')
                     RETURNING id"
                ),
                &[&self.inner.instance, &micros(self.inner.options.lease_for)],
            )
            .await
            .map_err(|e| StoreError::from_client("taking a lease", e))?;
        let id: i64 = row.get(0);
        self.inner.lease.id.send_replace(id);
        Ok(id)
    }
}

/// Keeps an attached instance's lease (`renew_every`) and claims the tasks of the leases
/// that expired, until the manager is gone. Started by `attach`.
pub(crate) async fn lease_loop(cluster: PgCluster, delivery: CancelDelivery) {
    let every = cluster.inner.options.renew_every;
    let inner = std::sync::Arc::downgrade(&cluster.inner);
    drop(cluster);
    loop {
        if !delivery.is_attached() {
            return;
        }
        let Some(inner) = inner.upgrade() else { return };
        let cluster = PgCluster { inner };
        // A failure (the server away) is tried again soon; a lease that expired meanwhile
        // is then found lost.
        let wait = match cluster.renew_lease().await {
            Ok(_) => {
                let _ = cluster.claim_expired().await;
                every
            }
            Err(_) => every.min(RETRY_SOON),
        };
        drop(cluster);
        sleep(wait).await;
    }
}
