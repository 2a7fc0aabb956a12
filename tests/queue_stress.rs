//! Contract lines 1 and 5 under load: thousands of tasks of two limited flows, one with a
//! step-level resource, random priorities, failures and cancels from a fixed-seed generator.
//! Never more than N run at once (or hold the resource, cleanups included); every submitted
//! task ends exactly once; a task cancelled before it started ran nothing; and at the end the
//! queues and the registry are empty and every permit is back.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{Ending, FlowCounts, Limit, Passport, SubmitError, TaskId, TaskManager};
use task_manager_support::queue::{job, Job, JobHandle, Jobs, Then};
use task_manager_support::soon;

const WORK_LIMIT: usize = 4;
const SAVE_LIMIT: usize = 6;
const DB_PERMITS: usize = 3;

/// xorshift64: a fixed sequence, the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform-enough in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

fn manager() -> TaskManager {
    TaskManager::builder()
        .limit_flow("work", Limit::new(WORK_LIMIT).with_queue_capacity(300))
        .limit_flow("save", Limit::new(SAVE_LIMIT).with_queue_capacity(300))
        .resource("db", DB_PERMITS)
        .build()
        .unwrap()
}

struct Submitted {
    name: String,
    handle: JobHandle,
}

/// Submits one random task; `None` if its queue was full.
fn submit_random(
    jobs: &Arc<Jobs>,
    rng: &mut Rng,
    n: usize,
    pace: impl Fn(Job, &mut Rng) -> Job,
) -> Option<(TaskId, Submitted)> {
    let name = format!("t{n}");
    let then = if rng.one_in(10) {
        Then::Fail
    } else {
        Then::Succeed
    };
    let job = pace(job(&name).then(then), rng);
    let passport = Passport::new(job).with_priority(rng.below(4) as i32 - 1);
    let id = passport.id();
    let submitted = if rng.one_in(2) {
        jobs.execute_work(passport)
    } else {
        jobs.execute_save(passport)
    };
    match submitted {
        Ok(handle) => Some((id, Submitted { name, handle })),
        Err(SubmitError::QueueFull { .. }) => None,
        Err(other) => panic!("unexpected refusal: {other}"),
    }
}

/// What the outcomes say, checked against the journal.
#[derive(Debug, Default)]
struct Tally {
    completed: usize,
    failed: usize,
    cancelled_before_start: usize,
    cancelled_later: usize,
}

async fn collect(jobs: &Jobs, submitted: Vec<Submitted>, patience: Duration) -> Tally {
    let mut tally = Tally::default();
    let mut never_started = Vec::new();
    for Submitted { name, handle } in submitted {
        let outcome = tokio::time::timeout(patience, handle)
            .await
            .unwrap_or_else(|_| panic!("task {name} never ended"));
        match outcome.ending() {
            Ending::Completed(value) => {
                assert_eq!(value, &name);
                tally.completed += 1;
            }
            Ending::Failed { .. } => tally.failed += 1,
            Ending::Cancelled {
                step: None,
                steps_completed: 0,
                ..
            } => {
                tally.cancelled_before_start += 1;
                never_started.push(name);
            }
            Ending::Cancelled { .. } => tally.cancelled_later += 1,
            Ending::Panicked { step, message } => panic!("{name} panicked at {step}: {message}"),
            Ending::TimedOut { step, .. } => panic!("{name} timed out at {step}"),
            other => panic!("{name} ended in a way this test does not expect: {other}"),
        }
    }
    let journal: HashSet<String> = jobs.journal.entries().into_iter().collect();
    for name in never_started {
        for what in ["start", "load", "cleanup"] {
            assert!(
                !journal.contains(&format!("{what} {name}")),
                "{name} was cancelled before it started, yet `{what}` ran"
            );
        }
    }
    tally
}

/// After everything ended: nothing is left, and every permit is back (the limits admit as
/// many new tasks as they allow, at once).
async fn assert_empty_and_whole(jobs: &Arc<Jobs>) {
    assert!(jobs.tasks.is_empty(), "{} tasks left", jobs.tasks.len());
    assert_eq!(jobs.tasks.counts("work"), FlowCounts::default());
    assert_eq!(jobs.tasks.counts("save"), FlowCounts::default());
    let mut probes = Vec::new();
    for n in 0..WORK_LIMIT {
        probes.push(jobs.submit_gated(Jobs::execute_work, &format!("probe-work{n}")));
    }
    for n in 0..DB_PERMITS {
        probes.push(jobs.submit_gated(Jobs::execute_save, &format!("probe-save{n}")));
    }
    for n in 0..WORK_LIMIT {
        jobs.journal.wait_for(&format!("start probe-work{n}")).await;
    }
    for n in 0..DB_PERMITS {
        jobs.journal.wait_for(&format!("store probe-save{n}")).await;
    }
    for (handle, release) in probes {
        release.release();
        soon("a probe's end", handle).await.into_result().unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn thousands_of_tasks_with_random_cancels_never_exceed_the_limits() {
    const TASKS: usize = 4_000;
    let jobs = Jobs::new(manager());
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut ids: Vec<TaskId> = Vec::new();
    let mut submitted = Vec::new();
    let mut refused = 0;
    for n in 0..TASKS {
        let pace = |job: Job, rng: &mut Rng| job.pausing(Duration::from_millis(rng.below(20)));
        match submit_random(&jobs, &mut rng, n, pace) {
            Some((id, task)) => {
                ids.push(id);
                submitted.push(task);
            }
            None => refused += 1,
        }
        if rng.one_in(3) {
            // A random task: queued, running, waiting for "db", or long gone.
            let id = ids[rng.below(ids.len() as u64) as usize];
            jobs.tasks.cancel(id, "random cancel");
        }
        if rng.one_in(8) {
            tokio::time::sleep(Duration::from_millis(rng.below(10))).await;
        }
    }
    let accepted = submitted.len();
    let tally = collect(&jobs, submitted, Duration::from_secs(24 * 3600)).await;

    assert_eq!(
        tally.completed + tally.failed + tally.cancelled_before_start + tally.cancelled_later,
        accepted,
        "every accepted task ended exactly once: {tally:?}"
    );
    assert_eq!(accepted + refused, TASKS);
    // The run must reach every interesting case, or it proves little.
    assert!(refused > 0, "no queue was ever full");
    assert!(
        tally.cancelled_before_start > 0 && tally.cancelled_later > 0,
        "{tally:?}"
    );
    assert!(tally.completed > 0 && tally.failed > 0, "{tally:?}");

    assert_eq!(
        jobs.working.most(),
        WORK_LIMIT,
        "the work limit held, and was reached"
    );
    assert_eq!(
        jobs.in_db.most(),
        DB_PERMITS,
        "the db limit held, cleanups included"
    );
    assert_empty_and_whole(&jobs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_two_threads_with_a_concurrent_canceller_the_limits_still_hold() {
    const TASKS: usize = 2_000;
    let jobs = Jobs::new(manager());
    let (ids_in, mut ids_out) = tokio::sync::mpsc::unbounded_channel::<TaskId>();
    // Cancels every third task it hears of, from another thread, while they run.
    let canceller = tokio::spawn({
        let jobs = Arc::clone(&jobs);
        async move {
            let mut rng = Rng(0xD1B5_4A32_D192_ED03);
            while let Some(id) = ids_out.recv().await {
                if rng.one_in(3) {
                    tokio::task::yield_now().await;
                    jobs.tasks.cancel(id, "concurrent cancel");
                }
            }
        }
    });
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut submitted = Vec::new();
    for n in 0..TASKS {
        let pace = |job: Job, rng: &mut Rng| job.yielding(rng.below(4) as u32);
        if let Some((id, task)) = submit_random(&jobs, &mut rng, n, pace) {
            let _ = ids_in.send(id);
            submitted.push(task);
        }
        if rng.one_in(16) {
            tokio::task::yield_now().await;
        }
    }
    drop(ids_in);
    let accepted = submitted.len();
    // A hang guard on the real clock, not a timing assertion.
    let tally = collect(&jobs, submitted, Duration::from_secs(60)).await;
    canceller.await.unwrap();
    assert_eq!(
        tally.completed + tally.failed + tally.cancelled_before_start + tally.cancelled_later,
        accepted,
        "{tally:?}"
    );
    assert!(
        jobs.working.most() <= WORK_LIMIT,
        "{} ran at once",
        jobs.working.most()
    );
    assert!(
        jobs.in_db.most() <= DB_PERMITS,
        "{} held db at once",
        jobs.in_db.most()
    );
    assert_empty_and_whole(&jobs).await;
}
