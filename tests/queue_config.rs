//! Configuration errors are typed and name what is wrong: the builder's at `build`, a step's
//! unknown resource at submission (the manager meets its flows only then). The macro's are
//! compile errors: see `tests/ui/queue_*.rs`. The builder also sets the manager's cleanup
//! deadline, with the same check as every other setting.

use std::time::Duration;

use task_manager_core::{Cleanup, ConfigError, Limit, LimitOf, Passport, SubmitError, TaskManager};
use task_manager_support::queue::{gated, job, settle, Jobs};
use task_manager_support::soon;

#[test]
fn zero_permits_are_refused() {
    let error = TaskManager::builder()
        .limit_flow("query", 0)
        .build()
        .unwrap_err();
    assert_eq!(
        error,
        ConfigError::ZeroPermits {
            of: LimitOf::Flow("query".into())
        }
    );
    assert!(error.to_string().contains("flow `query`"), "{error}");
    assert_eq!(
        TaskManager::builder().limit_all(0).build().unwrap_err(),
        ConfigError::ZeroPermits {
            of: LimitOf::AllFlows
        }
    );
    let error = TaskManager::builder()
        .resource("db", 0)
        .build()
        .unwrap_err();
    assert_eq!(
        error,
        ConfigError::ZeroPermits {
            of: LimitOf::Resource("db".into())
        }
    );
    assert!(error.to_string().contains("resource `db`"), "{error}");
}

#[test]
fn a_zero_capacity_or_max_wait_is_refused() {
    assert_eq!(
        TaskManager::builder()
            .limit_flow("query", Limit::new(2).with_queue_capacity(0))
            .build()
            .unwrap_err(),
        ConfigError::ZeroQueueCapacity {
            of: LimitOf::Flow("query".into())
        }
    );
    assert_eq!(
        TaskManager::builder()
            .limit_all(Limit::new(2).with_max_wait(Duration::ZERO))
            .build()
            .unwrap_err(),
        ConfigError::ZeroMaxWait {
            of: LimitOf::AllFlows
        }
    );
}

#[test]
fn a_flow_or_resource_configured_twice_is_refused() {
    assert_eq!(
        TaskManager::builder()
            .limit_flow("query", 2)
            .limit_flow("query", 3)
            .build()
            .unwrap_err(),
        ConfigError::Duplicate {
            of: LimitOf::Flow("query".into())
        }
    );
    assert_eq!(
        TaskManager::builder()
            .resource("db", 2)
            .resource("db", 3)
            .build()
            .unwrap_err(),
        ConfigError::Duplicate {
            of: LimitOf::Resource("db".into())
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_step_naming_an_unknown_resource_is_refused_at_submission() {
    // `save`'s step `store` is `#[step(resource = "db")]`; this manager has no "db".
    let jobs = Jobs::new(TaskManager::builder().resource("disk", 1).build().unwrap());
    let passport = Passport::new(job("s"));
    let id = passport.id();
    let error = jobs.execute_save(passport).unwrap_err();
    assert_eq!(
        error,
        SubmitError::UnknownResource {
            id,
            flow: "save",
            step: "store",
            resource: "db",
        }
    );
    assert!(
        error.to_string().contains(".resource(\"db\", permits)"),
        "{error}"
    );
    assert!(!jobs.tasks.contains(id));
    assert!(jobs.journal.entries().is_empty(), "nothing of it ran");
    // A plain manager has no resources at all.
    let plain = Jobs::new(TaskManager::new());
    assert!(matches!(
        plain.execute_save(Passport::new(job("s"))),
        Err(SubmitError::UnknownResource { resource: "db", .. })
    ));
}

#[test]
fn a_zero_cleanup_timeout_is_refused_by_the_builder() {
    let error = TaskManager::builder()
        .resource("db", 1)
        .cleanup_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(
        error,
        ConfigError::Zero {
            setting: "cleanup_timeout",
            why: "every cleanup would be dropped before it could run"
        }
    );
    let tasks = TaskManager::builder()
        .cleanup_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    assert_eq!(tasks.cleanup_timeout(), Some(Duration::from_secs(5)));
    assert_eq!(
        TaskManager::builder().build().unwrap().cleanup_timeout(),
        None
    );
}

#[tokio::test(start_paused = true)]
async fn the_builders_cleanup_timeout_cuts_a_cleanup_short_and_its_resource_comes_back() {
    // `store`'s cleanup takes 10 ms and holds "db" all along; the deadline is 5 ms.
    let jobs = Jobs::new(
        TaskManager::builder()
            .resource("db", 1)
            .cleanup_timeout(Duration::from_millis(5))
            .build()
            .unwrap(),
    );
    let (holder, _release) = gated("holder");
    let (holder_id, holder) = jobs.submit(Jobs::execute_save, holder);
    jobs.journal.wait_for("store holder").await;
    let next = jobs.execute_save(Passport::new(job("next"))).unwrap();
    settle().await;

    let cleanup = soon("the holder's cleanup", jobs.tasks.cancel(holder_id, "stop")).await;
    assert_eq!(
        cleanup,
        Some(Cleanup::TimedOut {
            step: "store",
            after: Duration::from_millis(5)
        })
    );
    assert!(soon("the holder's end", holder).await.is_cancelled());
    soon("the next one's end", next)
        .await
        .into_result()
        .unwrap();
    assert!(jobs.journal.contains("store next"), "the permit came back");
    assert!(
        !jobs.journal.contains("cleaned holder"),
        "the cleanup was dropped at its deadline"
    );
    assert!(jobs.tasks.is_empty());
}
