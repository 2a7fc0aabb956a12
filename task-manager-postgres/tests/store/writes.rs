//! The write path of a flow with `on_owner_lost` (see `src/cluster.rs`): what each task's
//! record is updated with, in which order, and on which connection. A trigger on the tasks
//! table logs every update that matched a row (its task, the row's new state and step, and
//! the server process that made it), so that the test counts the writes, not the time. A
//! task that does not wait in a line has its flow named by its first boundary (no write of
//! its own); one that waits, or a resumable flow's (whose submission records its state with
//! it), has it written at its submission.

use task_manager_core::TaskId;

use crate::nodes::Node;
use crate::support::{admin, fresh_schema};

/// A task id whose writes go to writer `shard` (`cluster.rs` shards by the id's two halves
/// XORed, modulo 16 writers; writer `k` writes on connection `k % 2`).
fn id_on_writer(shard: u128) -> TaskId {
    // A version-8 UUID: 0x8000 in the high half's low bits, the variant in the low half's top.
    TaskId::from_u128((0x8000_u128 << 64) | (0x8000_0000_0000_0000_u128 | shard))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persisted_boundary_is_one_update_and_tasks_are_written_on_two_connections() {
    let schema = fresh_schema("persisted_writes").await;
    let mut a = Node::start_with_lease(&schema, "a", 60_000, 20_000);
    admin()
        .await
        .batch_execute(&format!(
            r#"CREATE TABLE "{schema}".updates (
                   seq bigserial PRIMARY KEY, id uuid, state text, step text, backend integer,
                   flow text);
               CREATE FUNCTION "{schema}".log_update() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN
                   INSERT INTO "{schema}".updates (id, state, step, backend, flow)
                   VALUES (NEW.id, NEW.state, NEW.step, pg_backend_pid(), NEW.flow);
                   RETURN NEW;
               END $$;
               CREATE TRIGGER log_update AFTER UPDATE ON "{schema}".tasks
                   FOR EACH ROW EXECUTE FUNCTION "{schema}".log_update();"#
        ))
        .await
        .expect("installing the update log");
    // Writers 1 and 2: connections 1 and 0.
    let ids = [id_on_writer(1), id_on_writer(2)];
    for id in ids {
        a.send(&format!("durable {id} 0 0"));
        a.wait_line(|line| line == format!("ended {id} completed - -"));
    }
    a.flush();

    let mut backends = Vec::new();
    let mut seals = Vec::new();
    for id in ids {
        let rows = admin()
            .await
            .query(
                &format!(
                    "SELECT state, step, backend, flow FROM \"{schema}\".updates \
                     WHERE id = $1::text::uuid ORDER BY seq"
                ),
                &[&id.to_string()],
            )
            .await
            .expect("reading the update log");
        let writes: Vec<(String, Option<String>)> =
            rows.iter().map(|row| (row.get(0), row.get(1))).collect();
        let step = |name: &str| Some(name.to_owned());
        // Each step's boundary with its state once (the plain boundary that the runner
        // tells right after is not sent again), the first naming the flow (the task did
        // not wait in a line: no write of its own for that), and its seal, which carries
        // its ending (nothing runs between them): no final record after it.
        assert_eq!(
            writes,
            [
                ("running".to_owned(), step("d0")),
                ("running".to_owned(), step("d1")),
                ("running".to_owned(), step("d2")),
                ("finished".to_owned(), step("d2")),
            ],
            "task {id}: one update per write"
        );
        let by: Vec<i32> = rows.iter().map(|row| row.get(2)).collect();
        // The seal is awaited on the store's own connection; every other write of the task
        // on its writer's.
        let flows: Vec<Option<String>> = rows.iter().map(|row| row.get(3)).collect();
        assert!(
            flows.iter().all(|flow| flow.as_deref() == Some("durable")),
            "task {id}: {flows:?}"
        );
        seals.push(by[3]);
        let writer = by[0];
        assert!(
            by.iter()
                .enumerate()
                .all(|(n, backend)| (n == 3) == (*backend != writer)),
            "task {id}: written by {by:?}"
        );
        backends.push(writer);
    }
    assert_eq!(seals[0], seals[1], "both seals on the store's connection");
    assert_ne!(
        backends[0], backends[1],
        "writers 1 and 2 write on two connections"
    );
    assert!(!backends.contains(&seals[0]), "{backends:?} {seals:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flow_is_written_at_submission_only_for_a_task_that_waits_in_a_line_or_resumes() {
    let schema = fresh_schema("flow_writes").await;
    let mut a = Node::start_with_lease(&schema, "a", 60_000, 20_000);
    admin()
        .await
        .batch_execute(&format!(
            r#"CREATE TABLE "{schema}".updates (
                   seq bigserial PRIMARY KEY, id uuid, state text, step text, flow text,
                   payload boolean);
               CREATE FUNCTION "{schema}".log_update() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN
                   INSERT INTO "{schema}".updates (id, state, step, flow, payload)
                   VALUES (NEW.id, NEW.state, NEW.step, NEW.flow, NEW.state_payload IS NOT NULL);
                   RETURN NEW;
               END $$;
               CREATE TRIGGER log_update AFTER UPDATE ON "{schema}".tasks
                   FOR EACH ROW EXECUTE FUNCTION "{schema}".log_update();"#
        ))
        .await
        .expect("installing the update log");
    // `probe` is limited cluster-wide (it waits for its line's answer); `resumable` is not
    // limited, and records its state with its flow. The probe task is held in its first
    // step until its queued writes are applied: a plain boundary is not awaited, and the
    // seal (on another connection) would otherwise overtake them.
    let (probe, resumable) = (TaskId::new(), TaskId::new());
    a.submit(probe, true, 0);
    a.wait_line(|line| line == format!("began {probe} 0"));
    a.flush();
    for gate in 0..3 {
        a.open(probe, gate);
    }
    a.wait_line(|line| line == format!("ended {probe} completed - -"));
    a.send(&format!("resumable {resumable} 0 0"));
    a.wait_line(|line| line == format!("ended {resumable} completed - -"));
    a.flush();
    let log = admin().await;
    let first = |id: TaskId| {
        let (log, schema) = (&log, &schema);
        async move {
            let row = log
                .query_one(
                    &format!(
                        "SELECT state, step, flow, payload FROM \"{schema}\".updates \
                         WHERE id = $1::text::uuid ORDER BY seq LIMIT 1"
                    ),
                    &[&id.to_string()],
                )
                .await
                .expect("reading the update log");
            let first: (String, Option<String>, String, bool) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            first
        }
    };
    assert_eq!(
        first(probe).await,
        ("queued".to_owned(), None, "probe".to_owned(), false)
    );
    assert_eq!(
        first(resumable).await,
        ("queued".to_owned(), None, "resumable".to_owned(), true)
    );
}
