//! The schema is created by the first instance, left alone by the next, migrated once when
//! instances start together, and refused when a newer version wrote it.

use std::future::IntoFuture;

use task_manager_core::TaskId;
use task_manager_postgres::{ConnectError, NewTask, PgCluster};

use crate::support::{admin, fresh_schema, join, url};

async fn versions(schema: &str) -> Vec<i32> {
    admin()
        .await
        .query(
            &format!("SELECT version FROM \"{schema}\".schema_migrations ORDER BY version"),
            &[],
        )
        .await
        .expect("reading the versions")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn joining_again_changes_nothing() {
    let schema = fresh_schema("mig_again").await;
    let first = join(&schema, "a").await;
    let id = TaskId::new();
    first.insert(NewTask::new(id, "flow")).await.unwrap();
    let second = join(&schema, "b").await;
    let third = join(&schema, "a").await;
    assert_eq!(versions(&schema).await, [1, 2, 3, 4, 5, 6, 7, 8]);
    // The records survive, and every member sees them.
    assert_eq!(second.status(id).await.unwrap().unwrap().instance, "a");
    assert!(third.status(id).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_at_once_migrate_once() {
    let schema = fresh_schema("mig_race").await;
    let joins: Vec<_> = (0..6)
        .map(|i| {
            tokio::spawn(
                PgCluster::connect(url())
                    .instance(format!("racer-{i}"))
                    .schema(&schema)
                    .into_future(),
            )
        })
        .collect();
    for join in joins {
        let joined = join.await.expect("the join task");
        assert!(joined.is_ok(), "a racing join failed: {joined:?}");
    }
    assert_eq!(versions(&schema).await, [1, 2, 3, 4, 5, 6, 7, 8]);
}

#[tokio::test]
async fn a_schema_from_a_newer_version_is_refused() {
    let schema = fresh_schema("mig_newer").await;
    drop(join(&schema, "a").await);
    admin()
        .await
        .execute(
            &format!(
                "INSERT INTO \"{schema}\".schema_migrations (version, description) VALUES (999, 'from the future')"
            ),
            &[],
        )
        .await
        .unwrap();
    let refused = PgCluster::connect(url())
        .instance("a")
        .schema(&schema)
        .await
        .unwrap_err();
    match &refused {
        ConnectError::SchemaTooNew {
            schema: named,
            found: 999,
            supported: 8,
        } if *named == schema => {}
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    assert!(refused.to_string().contains("upgrade"), "{refused}");
    // Refusing wrote nothing.
    assert_eq!(versions(&schema).await, [1, 2, 3, 4, 5, 6, 7, 8, 999]);
}

#[tokio::test]
async fn a_schema_name_that_is_not_a_plain_identifier_is_refused() {
    for bad in ["Tasks", "tm; DROP TABLE x", "", "1st"] {
        let refused = PgCluster::connect(url())
            .instance("a")
            .schema(bad)
            .await
            .unwrap_err();
        assert!(
            matches!(refused, ConnectError::InvalidSchema { .. }),
            "{bad}: {refused:?}"
        );
    }
}
