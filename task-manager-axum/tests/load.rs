//! Load: 1,000 concurrent requests to the "wait for the result" route, each on its own
//! connection, 30% of the clients (chosen from a fixed seed) disconnecting in the middle of a
//! step (half of them in the first step, half in the second). Every task ends exactly once,
//! every interrupted step's cleanup runs exactly once with the disconnect's reason (and no
//! other cleanup runs), every client that stayed gets its result, the registry empties, and
//! the server keeps answering.
//!
//! After the run `/metrics` is scraped over HTTP: the counters match what happened.
//!
//! Deterministic: the steps wait at gates the test opens; a client disconnects only once its
//! task is inside the step it was chosen for, and the gates open only once every disconnect
//! has been seen by the server (its cleanup started).

mod common;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use common::{client, serve_with, soon};
use task_manager_axum::{AllowAll, CLIENT_DISCONNECTED};
use task_manager_core::TaskId;
use task_manager_metrics::TaskMetrics;

const CLIENTS: usize = 1_000;
const SEED: u64 = 0x5eed_2026_1206;

/// What one client does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Stays,
    LeavesIn(&'static str),
}

/// xorshift64*: the plan of every client from one seed.
fn plans() -> Vec<Plan> {
    let mut state = SEED;
    (0..CLIENTS)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            match state.wrapping_mul(0x2545_f491_4f6c_dd1d) % 100 {
                0..15 => Plan::LeavesIn("prepare"),
                15..30 => Plan::LeavesIn("query"),
                _ => Plan::Stays,
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_clients_thirty_percent_leaving_mid_step_every_task_ends_once() {
    // This test binary's only test: the global recorder is its own.
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("the recorder");
    let metrics = Router::new().route("/metrics", get(move || async move { prometheus.render() }));
    let server = serve_with(AllowAll, Some(Arc::new(TaskMetrics::new())), metrics).await;
    let journal = server.journal();
    let plans = plans();
    let leaving = |step: &'static str| plans.iter().filter(|p| **p == Plan::LeavesIn(step)).count();
    let (leave_in_prepare, leave_in_query) = (leaving("prepare"), leaving("query"));
    assert!(
        leave_in_prepare > 100 && leave_in_query > 100,
        "the seed's plan: {leave_in_prepare} / {leave_in_query}"
    );
    // Cleanups do not wait in this test: they run to their end as soon as they start.
    server.release_cleanups(CLIENTS);

    let ids: Vec<TaskId> = (0..CLIENTS).map(|_| TaskId::new()).collect();
    let mut requests: Vec<_> = ids
        .iter()
        .map(|id| {
            let url = server.url(&format!("/jobs/wait?id={id}"));
            Some(tokio::spawn(async move {
                let response = client().post(url).send().await?;
                let status = response.status();
                let body: serde_json::Value = response.json().await?;
                Ok::<_, reqwest::Error>((status, body))
            }))
        })
        .collect();

    // Every task is in `prepare`, held at its gate.
    for id in &ids {
        journal.wait_for(&format!("{id} prepare entered")).await;
    }
    // Those chosen to leave in `prepare` go now; the server sees each (its cleanup starts).
    let leave = |step: &'static str, requests: &mut Vec<Option<_>>| {
        for (index, plan) in plans.iter().enumerate() {
            if *plan == Plan::LeavesIn(step) {
                let request: tokio::task::JoinHandle<_> = requests[index].take().unwrap();
                request.abort();
            }
        }
    };
    leave("prepare", &mut requests);
    for (id, plan) in ids.iter().zip(&plans) {
        if *plan == Plan::LeavesIn("prepare") {
            journal
                .wait_for(&format!(
                    "{id} cleanup prepare started: cancelled: {CLIENT_DISCONNECTED}"
                ))
                .await;
        }
    }
    // The others all finish `prepare` and wait in `query`.
    server.release_steps(CLIENTS - leave_in_prepare);
    for (id, plan) in ids.iter().zip(&plans) {
        if *plan != Plan::LeavesIn("prepare") {
            journal.wait_for(&format!("{id} query entered")).await;
        }
    }
    leave("query", &mut requests);
    for (id, plan) in ids.iter().zip(&plans) {
        if *plan == Plan::LeavesIn("query") {
            journal
                .wait_for(&format!(
                    "{id} cleanup query started: cancelled: {CLIENT_DISCONNECTED}"
                ))
                .await;
        }
    }
    // The clients that stayed get their results.
    server.release_steps(CLIENTS - leave_in_prepare - leave_in_query);
    for (index, request) in requests.into_iter().enumerate() {
        let Some(request) = request else { continue };
        let (status, body) = soon("a staying client's answer", request)
            .await
            .expect("the request task")
            .expect("the request");
        assert_eq!(status, 200);
        assert_eq!(body["id"], ids[index].to_string());
        assert_eq!(body["completed"], true, "{body}");
    }

    // Every task has ended (awaiting a cancel waits for the task's end; by now each has
    // ended or is ending): none is left, and each ended once, as planned.
    for id in &ids {
        soon(
            "a task's end",
            server.service.tasks.cancel(*id, "end of test"),
        )
        .await;
    }
    assert!(server.service.tasks.is_empty(), "the registry empties");
    for (id, plan) in ids.iter().zip(&plans) {
        for step in ["prepare", "query"] {
            let cleanups = journal.count(&format!("{id} cleanup {step} done"));
            let expected = usize::from(*plan == Plan::LeavesIn(step));
            assert_eq!(cleanups, expected, "{id} ({plan:?}): cleanups of {step}");
            assert_eq!(
                journal.count(&format!(
                    "{id} cleanup {step} started: cancelled: {CLIENT_DISCONNECTED}"
                )),
                expected,
                "{id} ({plan:?}): the cleanup's reason"
            );
        }
        // A step that was interrupted never went on past its gate.
        if let Plan::LeavesIn(step) = plan {
            assert!(journal.contains(&format!("{id} {step} dropped")), "{id}");
        }
    }

    // The server still answers.
    let snapshot: serde_json::Value =
        soon("the snapshot", client().get(server.url("/tasks")).send())
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(snapshot["tasks"], serde_json::json!([]));

    // The counters say the same, scraped over HTTP.
    let text = soon("the scrape", client().get(server.url("/metrics")).send())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count = |name: &str, labels: &str| -> usize {
        text.lines()
            .find(|line| line.starts_with(name) && line.contains(labels))
            .and_then(|line| line.rsplit(' ').next())
            .map_or(0, |value| value.parse::<f64>().expect("a number") as usize)
    };
    let left = leave_in_prepare + leave_in_query;
    assert_eq!(
        count("task_manager_tasks_submitted_total", "flow=\"job\""),
        CLIENTS,
        "{text}"
    );
    assert_eq!(
        count("task_manager_tasks_finished_total", "ending=\"completed\""),
        CLIENTS - left,
        "{text}"
    );
    assert_eq!(
        count("task_manager_tasks_finished_total", "ending=\"cancelled\""),
        left,
        "{text}"
    );
    assert_eq!(
        count("task_manager_tasks_registered", "flow=\"job\""),
        0,
        "{text}"
    );
}
