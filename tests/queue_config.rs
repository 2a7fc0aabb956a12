//! Configuration errors are typed and name what is wrong: the builder's at `build`, a step's
//! unknown resource at submission (the manager meets its flows only then). The macro's are
//! compile errors: see `queue_ui.rs`.

mod queue_common;

use std::time::Duration;

use queue_common::{job, Jobs};
use task_manager_core::{ConfigError, Limit, LimitOf, Passport, SubmitError, TaskManager};

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
