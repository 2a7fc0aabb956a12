//! A manager's instance purges its cluster's finished records by itself, once they are older
//! than `keep_finished`, every `purge_every`; an unfinished record stays.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{flow, HasTaskManager, Passport, Task, TaskManager};
use task_manager_postgres::PgCluster;
use tokio::sync::Notify;

use crate::support::{fresh_schema, url, DEADLINE};

#[derive(HasTaskManager)]
struct Jobs {
    tasks: TaskManager,
    release: Notify,
}

#[flow(name = job)]
impl Jobs {
    #[step]
    async fn work(&self, task: &mut Task<bool>) -> Result<(), Infallible> {
        if *task.payload() {
            self.release.notified().await;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_records_go_and_unfinished_ones_stay() {
    let schema = fresh_schema("auto_purge").await;
    let cluster = PgCluster::connect(url())
        .instance("purging")
        .schema(&schema)
        .keep_finished(Duration::ZERO)
        .purge_every(Duration::from_millis(10))
        .await
        .expect("joins");
    let tasks = TaskManager::builder()
        .cluster(cluster.clone())
        .build()
        .expect("builds");
    let jobs = Arc::new(Jobs {
        tasks,
        release: Notify::new(),
    });
    let quick = jobs
        .tasks
        .submit_in_cluster(Passport::new(false), |p| jobs.execute_job(p))
        .await
        .expect("submitted");
    let parked = jobs
        .tasks
        .submit_in_cluster(Passport::new(true), |p| jobs.execute_job(p))
        .await
        .expect("submitted");
    let (quick_id, parked_id) = (quick.id(), parked.id());
    quick.await;
    cluster.flush().await;
    // The purge runs on its own: wait (within the deadline) until the finished record is gone.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while cluster.status(quick_id).await.expect("reads").is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the finished record was never purged"
        );
        tokio::task::yield_now().await;
    }
    // The running task's record stays, however old.
    assert!(cluster.status(parked_id).await.expect("reads").is_some());
    jobs.release.notify_one();
    parked.await;
}

/// The leases table does not grow without end: a lease that expired longer ago than the
/// retention goes with the finished records, unless an unfinished task still names it (a
/// claim finds a lost owner's tasks through it); a live lease stays.
#[tokio::test]
async fn expired_leases_go_unless_an_unfinished_task_names_them() {
    let schema = fresh_schema("lease_purge").await;
    let cluster = PgCluster::connect(url())
        .instance("purging")
        .schema(&schema)
        .await
        .expect("joins");
    let admin = crate::support::admin().await;
    let lease = |expires: &'static str| {
        let (admin, schema) = (&admin, &schema);
        async move {
            let row = admin
                .query_one(
                    &format!(
                        "INSERT INTO \"{schema}\".leases (instance, expires_at)
                         VALUES ('gone', now() + $1::text::interval) RETURNING id"
                    ),
                    &[&expires],
                )
                .await
                .expect("inserts a lease");
            row.get::<_, i64>(0)
        }
    };
    let (old, named, live) = (
        lease("-2 hours").await,
        lease("-2 hours").await,
        lease("1 hour").await,
    );
    admin
        .execute(
            &format!(
                "INSERT INTO \"{schema}\".tasks (id, flow, instance, state, lease)
                 VALUES (gen_random_uuid(), 'job', 'gone', 'running', $1)"
            ),
            &[&named],
        )
        .await
        .expect("inserts an unfinished task of the expired lease");
    cluster
        .purge_finished_older_than(Duration::from_secs(3600))
        .await
        .expect("purges");
    let left: Vec<i64> = admin
        .query(
            &format!("SELECT id FROM \"{schema}\".leases ORDER BY id"),
            &[],
        )
        .await
        .expect("reads the leases")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(
        !left.contains(&old),
        "an expired, unnamed lease stayed: {left:?}"
    );
    assert!(
        left.contains(&named),
        "a lease an unfinished task names went"
    );
    assert!(left.contains(&live), "a live lease went");
}
