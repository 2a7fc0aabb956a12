//! Joining fails with a typed error that says what to fix, and never shows the password.

use task_manager_postgres::{ConnectError, PgCluster};

use crate::support::{fresh_schema, url_with};

#[tokio::test]
async fn a_malformed_url_is_a_typed_error() {
    for bad in [
        "postgresql://app:s3cret@127.0.0.1:99999999/app",
        "postgresql://app:s3cret@127.0.0.1:port/app",
        "host=127.0.0.1 password='s3cret unterminated",
        "postgresql://app:s3cret@127.0.0.1/app?sslmode=sometimes",
    ] {
        let builder = PgCluster::connect(bad).instance("a");
        assert!(!format!("{builder:?}").contains("s3cret"), "{builder:?}");
        let error = builder.await.unwrap_err();
        assert!(
            matches!(error, ConnectError::InvalidUrl { .. }),
            "{bad}: {error:?}"
        );
        let message = error.to_string();
        assert!(message.contains("malformed"), "{message}");
        assert!(
            !message.contains("s3cret"),
            "the password leaked: {message}"
        );
    }
}

#[tokio::test]
async fn a_wrong_password_is_a_typed_error() {
    let schema = fresh_schema("wrong_password").await;
    let error = PgCluster::connect(url_with(Some("not-the-password"), None))
        .instance("a")
        .schema(schema)
        .await
        .expect_err("the server must require a password over TCP (see support.rs)");
    match &error {
        ConnectError::Authentication { detail, .. } => {
            assert!(detail.contains("28P01"), "{detail}")
        }
        other => panic!("expected Authentication, got {other:?}"),
    }
    assert!(
        !format!("{error} {error:?}").contains("not-the-password"),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_a_typed_error() {
    // A port nobody listens on: bound by us, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let error = PgCluster::connect(format!("postgresql://app:s3cret@127.0.0.1:{port}/app"))
        .instance("a")
        .await
        .unwrap_err();
    match &error {
        ConnectError::Unreachable { target, .. } => {
            assert_eq!(*target, format!("127.0.0.1:{port}"))
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(
        !format!("{error} {error:?}").contains("s3cret"),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_invalid_instance_name_is_a_typed_error() {
    for (bad, problem) in [
        ("", "empty"),
        ("api\0one", "NUL"),
        (&*"x".repeat(201), "longer"),
    ] {
        let error = PgCluster::connect("postgresql://app@127.0.0.1/app")
            .instance(bad)
            .await
            .unwrap_err();
        match &error {
            ConnectError::InvalidInstance { problem: said, .. } => {
                assert!(said.contains(problem), "{said}")
            }
            other => panic!("expected InvalidInstance, got {other:?}"),
        }
    }
}
