//! The crash explorer's smaller sweep against the real server (the exhaustive one, which
//! also crashes at every store write, runs against a store in memory:
//! `tests/cluster_crash_explorer.rs` in the workspace root). A flow with
//! `on_owner_lost = cancel` runs on an owner instance whose runtime is its own; at each await
//! point of its user code (each step, and, for a task cancelled on its owner in its last
//! step, that step's cleanup and each compensation) the owner crashes: its runtime is no
//! longer polled and is dropped with its connections, so nothing more of it runs or
//! reaches the server. The test expires its lease; a new instance joins, and its first claim
//! takes the task. Checked each time: the record ends once, cancelled at the step that was in
//! progress, claimed once; the claimant ran that step's cleanup once, then the compensations
//! of the steps completed before it, last first, once each, and recorded them with the
//! ending; the owner ran no cleanup of another step.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use task_manager_core::{flow, CancelReason, HasTaskManager, Passport, Task, TaskId, TaskManager};
use task_manager_postgres::{CleanupRecord, Ended, PgCluster, TaskState};
use tokio::sync::Notify;

use crate::support::{admin, fresh_schema, url};

/// The owner's await points, and its crash at one of them.
#[derive(Default)]
struct Points {
    at: usize,
    seen: Mutex<Vec<String>>,
    crashed: Notify,
}

impl Points {
    /// An await point of the owner: never returns if the owner crashes here.
    async fn pause(&self, label: String) {
        let crash = {
            let mut seen = self.seen.lock().unwrap();
            seen.push(label);
            seen.len() == self.at
        };
        if crash {
            self.crashed.notify_one();
            std::future::pending::<()>().await;
        }
    }
}

#[derive(HasTaskManager)]
struct Trips {
    tasks: TaskManager,
    instance: String,
    points: Arc<Points>,
    journal: Arc<Mutex<Vec<String>>>,
}

impl Trips {
    async fn body(&self, what: String) {
        self.journal
            .lock()
            .unwrap()
            .push(format!("{}: {what}", self.instance));
        self.points.pause(what).await;
    }
}

#[flow(name = trip, on_owner_lost = cancel)]
impl Trips {
    #[step(cancel = undo_book, compensate = unbook)]
    async fn book(&self, _task: &mut Task<bool>) -> Result<u32, Infallible> {
        self.body("step book".into()).await;
        Ok(2)
    }

    #[step(cancel = undo_pay, compensate = refund)]
    async fn pay(&self, _task: &mut Task<bool>, seats: u32) -> Result<String, Infallible> {
        self.body("step pay".into()).await;
        Ok(format!("card-{seats}"))
    }

    #[step(cancel = undo_ship)]
    async fn ship(&self, task: &mut Task<bool>, _charge: String) -> Result<(), Infallible> {
        self.body("step ship".into()).await;
        if *task.payload() {
            // Cancelled on its owner: the cleanup and the compensations run there.
            self.tasks.cancel(task.id(), "user left");
            std::future::pending::<()>().await;
        }
        Ok(())
    }

    async fn undo_book(&self, _task: &mut Task<bool>, _reason: CancelReason) {
        self.body("cleanup book".into()).await;
    }

    async fn undo_pay(&self, _task: &mut Task<bool>, _reason: CancelReason) {
        self.body("cleanup pay".into()).await;
    }

    async fn undo_ship(&self, _task: &mut Task<bool>, _reason: CancelReason) {
        self.body("cleanup ship".into()).await;
    }

    async fn unbook(&self, _task: &mut Task<bool>, seats: u32) {
        self.body(format!("unbook {seats}")).await;
    }

    async fn refund(&self, _task: &mut Task<bool>, charge: String) {
        self.body(format!("refund {charge}")).await;
    }
}

async fn instance(
    schema: &str,
    name: &str,
    points: &Arc<Points>,
    journal: &Arc<Mutex<Vec<String>>>,
) -> (PgCluster, Arc<Trips>) {
    let cluster = PgCluster::connect(url())
        .instance(name)
        .schema(schema)
        .lease(Duration::from_secs(600), Duration::from_secs(300))
        .await
        .unwrap_or_else(|e| panic!("joining as `{name}`: {e}"));
    let tasks = TaskManager::builder()
        .cluster(cluster.clone())
        .build()
        .expect("builds");
    let trips = Arc::new(Trips {
        tasks,
        instance: name.to_owned(),
        points: Arc::clone(points),
        journal: Arc::clone(journal),
    });
    trips.register_trip();
    (cluster, trips)
}

/// Runs a task (`cancel`: cancelled on its owner in its last step) on a fresh owner that
/// crashes at await point `at` (none past the last), in a runtime of its own; then, if it
/// crashed, a claimant. Returns the task, the points the owner met and the journal.
fn run_case(schema: &str, cancel: bool, at: usize) -> (TaskId, Vec<String>, Vec<String>) {
    let owner_name = format!("a{at}{}", if cancel { "c" } else { "" });
    let points = Arc::new(Points {
        at,
        ..Points::default()
    });
    let journal: Arc<Mutex<Vec<String>>> = Arc::default();
    let owner_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (id, crashed) = owner_runtime.block_on(async {
        let (cluster, owner) = instance(schema, &owner_name, &points, &journal).await;
        let handle = owner
            .tasks
            .submit_in_cluster(Passport::new(cancel), |p| owner.execute_trip(p))
            .await
            .expect("submitted");
        let id = handle.id();
        tokio::select! {
            _ = handle => {
                cluster.flush().await;
                (id, false)
            }
            () = points.crashed.notified() => (id, true),
        }
    });
    // The crash: the runtime is no longer polled, and goes with its connections.
    drop(owner_runtime);
    let claimant_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    claimant_runtime.block_on(async {
        if crashed {
            admin()
                .await
                .execute(
                    &format!(
                        "UPDATE \"{schema}\".leases SET expires_at = now() - interval '1 second' \
                         WHERE instance = $1"
                    ),
                    &[&owner_name],
                )
                .await
                .expect("expiring the owner's lease");
            // Its first claim, right after it attaches, takes the task.
            let (claimant, _flow) =
                instance(schema, &format!("b{owner_name}"), &Arc::default(), &journal).await;
            loop {
                let record = claimant.status(id).await.expect("read").expect("a record");
                if record.state == TaskState::Finished {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            claimant.flush().await;
        }
    });
    let seen = points.seen.lock().unwrap().clone();
    let journal = journal.lock().unwrap().clone();
    (id, seen, journal)
}

const STEPS: [&str; 3] = ["book", "pay", "ship"];

fn explore(schema: &str, cancel: bool) -> usize {
    let (_, first, _) = run_case(schema, cancel, usize::MAX);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let reader = runtime.block_on(crate::support::join(schema, "reader"));
    for at in 1..=first.len() {
        let (id, seen, journal) = run_case(schema, cancel, at);
        let point = &seen[at - 1];
        let owner: Vec<&str> = journal
            .iter()
            .filter_map(|entry| {
                entry.strip_prefix(&format!("a{at}{}: ", if cancel { "c" } else { "" }))
            })
            .collect();
        let claimant: Vec<&str> = journal
            .iter()
            .filter_map(|entry| {
                entry
                    .split_once(": ")
                    .filter(|(who, _)| who.starts_with('b'))
            })
            .map(|(_, what)| what)
            .collect();
        let context = format!(
            "owner crashed at await point {at} of {} ({point}){}",
            first.len(),
            if cancel {
                ", cancelled on its owner"
            } else {
                ""
            }
        );
        // The step in progress: the last the owner began.
        let index = STEPS
            .iter()
            .rposition(|step| owner.contains(&format!("step {step}").as_str()))
            .expect("a step began");
        let step = STEPS[index];
        let mut want = vec![format!("cleanup {step}")];
        let compensations = [(0, "unbook 2"), (1, "refund card-2")];
        for (_, compensation) in compensations.iter().rev().filter(|(i, _)| *i < index) {
            want.push((*compensation).to_owned());
        }
        assert_eq!(claimant, want, "{context}: what the claimant ran");
        let cleaned_on_owner: Vec<&&str> = owner
            .iter()
            .filter(|entry| entry.starts_with("cleanup ") && **entry != format!("cleanup {step}"))
            .collect();
        assert!(
            cleaned_on_owner.is_empty(),
            "{context}: {cleaned_on_owner:?}"
        );
        let record = runtime
            .block_on(reader.status(id))
            .expect("read")
            .expect("a record");
        assert_eq!(record.state, TaskState::Finished, "{context}");
        let ending = record.ending.expect("ended");
        assert_eq!(
            ending.ended,
            Ended::Cancelled {
                step: Some(step.into())
            },
            "{context}"
        );
        assert!(
            matches!(&ending.cleanup, Some(CleanupRecord::Completed { step: s, .. }) if s == step),
            "{context}: {:?}",
            ending.cleanup
        );
        let recorded: Vec<&str> = ending
            .compensations
            .iter()
            .filter(|c| c.is_completed())
            .map(|c| c.step())
            .collect();
        let expected: Vec<&str> = STEPS[..index].iter().rev().copied().collect();
        assert_eq!(recorded, expected, "{context}: the compensations recorded");
        let fence: i32 = runtime.block_on(async {
            admin()
                .await
                .query_one(
                    &format!("SELECT fence FROM \"{schema}\".tasks WHERE id = $1::text::uuid"),
                    &[&id.to_string()],
                )
                .await
                .expect("reading the fence")
                .get(0)
        });
        assert_eq!(fence, 1, "{context}: claimed once");
    }
    first.len()
}

#[test]
fn a_crashed_owner_at_each_await_point_of_its_steps_cleanups_and_compensations() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let schema = runtime.block_on(fresh_schema("crash_explorer"));
    drop(runtime);
    assert_eq!(explore(&schema, false), 3, "one point per step");
    assert_eq!(
        explore(&schema, true),
        6,
        "the steps, the cleanup and two compensations"
    );
}
