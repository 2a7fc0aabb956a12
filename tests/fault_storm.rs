//! The fault storm: thousands of tasks with random step durations, step errors, step panics,
//! slow and panicking cleanups, cancels by id (some twice), timeouts and dropped handles, all
//! interleaved on one paused clock, and cleanups that hang until the manager's cleanup
//! deadline drops them. Each task's fate is predicted from its plan, and checked:
//! it ended exactly once, the right way; the steps that began are the ones that should have;
//! a cleanup ran exactly for the step in progress, with the right reason; each canceller was
//! told the truth; nothing is left registered; the counts balance.
//!
//! The plans come from a fixed-seed xorshift generator, and the runtime is single-threaded
//! with a paused clock, so a seed replays exactly:
//!
//! ```sh
//! TM_STORM_SEED=0x5eed TM_STORM_TASKS=100000 cargo test --test fault_storm -- --nocapture
//! ```
//!
//! Events never tie: steps start and end on multiples of 10 ms; the first cancel lands at
//! 3 ms past one, the second at 1 ms, the timeout at 5 ms and the handle drop at 7 ms.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use task_manager_core::{
    flow, CancelReason, CancelStatus, Cleanup, Ending, HasTaskManager, Passport, Task, TaskManager,
};
use task_manager_support::panics::{silence_planned_panics, PLANNED};
use tokio::time::Instant;

const DEFAULT_SEED: u64 = 0x5EED_F00D_CAFE;
const DEFAULT_TASKS: usize = 20_000;
/// The manager's cleanup deadline: longer than any cleanup that finishes (at most 30 ms),
/// shorter than one that hangs.
const CLEANUP_DEADLINE: Duration = Duration::from_millis(35);
const STEPS: [&str; 3] = ["alpha", "beta", "gamma"];
/// Steps 0 and 1 declare a cleanup; `gamma` does not.
const CLEANUPS: usize = 2;

fn ms(value: u64) -> Duration {
    Duration::from_millis(value)
}

/// xorshift64*: small, fast, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    /// `true` with probability `percent`%.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepEnd {
    Ok,
    Err,
    Panic,
}

#[derive(Debug, Clone, Copy)]
struct StepPlan {
    ticks: u64,
    end: StepEnd,
}

#[derive(Debug, Clone, Copy)]
struct CleanupPlan {
    ticks: u64,
    panics: bool,
    /// Never finishes by itself: the manager's cleanup deadline drops it.
    hangs: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interrupt {
    FirstCancel,
    SecondCancel,
    Timeout,
    HandleDrop,
}

impl Interrupt {
    fn reason(self) -> CancelReason {
        match self {
            Interrupt::FirstCancel => CancelReason::from("storm: first cancel"),
            Interrupt::SecondCancel => CancelReason::from("storm: second cancel"),
            Interrupt::Timeout => CancelReason::Timeout,
            Interrupt::HandleDrop => CancelReason::HandleDropped,
        }
    }
}

/// One task's fate, drawn before it runs. Times are in ms after its submission.
#[derive(Debug, Clone, Copy)]
struct Plan {
    start: u64,
    steps: [StepPlan; 3],
    cleanups: [CleanupPlan; CLEANUPS],
    first_cancel: Option<u64>,
    second_cancel: Option<u64>,
    timeout: Option<u64>,
    handle_drop: Option<u64>,
}

impl Plan {
    fn draw(rng: &mut Rng) -> Plan {
        let mut step = || StepPlan {
            ticks: rng.below(5),
            end: match rng.below(100) {
                0..=5 => StepEnd::Err,
                6..=9 => StepEnd::Panic,
                _ => StepEnd::Ok,
            },
        };
        let steps = [step(), step(), step()];
        let mut cleanup = || CleanupPlan {
            ticks: rng.below(4),
            panics: rng.chance(15),
            hangs: rng.chance(5),
        };
        let cleanups = [cleanup(), cleanup()];
        let mut at = |percent, offset| rng.chance(percent).then(|| rng.below(14) * 10 + offset);
        let first_cancel = at(35, 3);
        let second_cancel = at(15, 1);
        let timeout = at(25, 5);
        let handle_drop = at(15, 7);
        Plan {
            start: rng.below(2_000) * 10,
            steps,
            cleanups,
            first_cancel,
            second_cancel,
            timeout,
            handle_drop,
        }
    }

    fn interrupts(&self) -> impl Iterator<Item = (u64, Interrupt)> {
        [
            self.first_cancel.map(|at| (at, Interrupt::FirstCancel)),
            self.second_cancel.map(|at| (at, Interrupt::SecondCancel)),
            self.timeout.map(|at| (at, Interrupt::Timeout)),
            self.handle_drop.map(|at| (at, Interrupt::HandleDrop)),
        ]
        .into_iter()
        .flatten()
    }
}

/// What a task's plan says must happen.
#[derive(Debug, Clone, PartialEq)]
enum Fate {
    Completed,
    Failed(usize),
    Panicked(usize),
    Cancelled { by: Interrupt, step: usize },
}

#[derive(Debug)]
struct Expected {
    fate: Fate,
    begun: Vec<usize>,
    /// The step whose cleanup runs, with the reason it gets.
    cleanup: Option<(usize, CancelReason)>,
    /// The cleanup as the report and the cancellers see it.
    cleanup_result: Option<Cleanup>,
}

fn predict(plan: &Plan) -> Expected {
    let first = plan.interrupts().min_by_key(|(at, _)| *at);
    let mut now = 0;
    let mut begun = Vec::new();
    let mut fate = Fate::Completed;
    for (index, step) in plan.steps.iter().enumerate() {
        begun.push(index);
        let end = now + step.ticks * 10;
        if let Some((at, by)) = first {
            if at < end {
                fate = Fate::Cancelled { by, step: index };
                break;
            }
        }
        now = end;
        match step.end {
            StepEnd::Ok => continue,
            StepEnd::Err => fate = Fate::Failed(index),
            StepEnd::Panic => fate = Fate::Panicked(index),
        }
        break;
    }
    let stopped = match fate {
        Fate::Cancelled { by, step } => Some((step, by.reason())),
        Fate::Panicked(step) => Some((step, CancelReason::StepPanicked)),
        Fate::Completed | Fate::Failed(_) => None,
    };
    let cleanup_result = stopped.as_ref().map(|&(step, _)| {
        let name = STEPS[step];
        match plan.cleanups.get(step) {
            None => Cleanup::NotDeclared { step: name },
            Some(cleanup) if cleanup.hangs => Cleanup::TimedOut {
                step: name,
                after: CLEANUP_DEADLINE,
            },
            Some(cleanup) if cleanup.panics => Cleanup::Panicked {
                step: name,
                message: format!("{PLANNED}: cleanup of {name}"),
            },
            Some(cleanup) => Cleanup::Completed {
                step: name,
                duration: ms(cleanup.ticks * 10),
            },
        }
    });
    Expected {
        fate,
        begun,
        cleanup: stopped.filter(|(step, _)| *step < CLEANUPS),
        cleanup_result,
    }
}

/// What a task did, as its steps and cleanups wrote it down.
#[derive(Debug, Default)]
struct Log {
    begun: Vec<usize>,
    cleanups: Vec<(usize, CancelReason)>,
    /// How many times the payload was dropped: once per ended task.
    ended: usize,
}

type SharedLog = Arc<Mutex<Log>>;

fn log(log: &SharedLog) -> std::sync::MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Payload {
    plan: Plan,
    log: SharedLog,
}

impl Drop for Payload {
    fn drop(&mut self) {
        log(&self.log).ended += 1;
    }
}

#[derive(Debug, PartialEq)]
struct StepFailed(usize);

type StormTask = Task<Payload, ()>;

#[derive(HasTaskManager)]
struct Storm {
    tasks: TaskManager,
}

async fn run_step(task: &mut StormTask, index: usize) -> Result<(), StepFailed> {
    let plan = task.payload().plan.steps[index];
    log(&task.payload().log).begun.push(index);
    if plan.ticks > 0 {
        tokio::time::sleep(ms(plan.ticks * 10)).await;
    }
    match plan.end {
        StepEnd::Ok => Ok(()),
        StepEnd::Err => Err(StepFailed(index)),
        StepEnd::Panic => panic!("{PLANNED}: step {}", STEPS[index]),
    }
}

async fn run_cleanup(task: &mut StormTask, index: usize, reason: CancelReason) {
    let plan = task.payload().plan.cleanups[index];
    log(&task.payload().log).cleanups.push((index, reason));
    if plan.hangs {
        std::future::pending::<()>().await;
    }
    if plan.ticks > 0 {
        tokio::time::sleep(ms(plan.ticks * 10)).await;
    }
    if plan.panics {
        panic!("{PLANNED}: cleanup of {}", STEPS[index]);
    }
}

#[flow(name = storm)]
impl Storm {
    #[step(cancel = undo_alpha)]
    async fn alpha(&self, task: &mut StormTask) -> Result<(), StepFailed> {
        run_step(task, 0).await
    }

    #[step(cancel = undo_beta)]
    async fn beta(&self, task: &mut StormTask) -> Result<(), StepFailed> {
        run_step(task, 1).await
    }

    #[step]
    async fn gamma(&self, task: &mut StormTask) -> Result<u64, StepFailed> {
        run_step(task, 2).await.map(|()| task.payload().plan.start)
    }

    async fn undo_alpha(&self, task: &mut StormTask, reason: CancelReason) {
        run_cleanup(task, 0, reason).await;
    }

    async fn undo_beta(&self, task: &mut StormTask, reason: CancelReason) {
        run_cleanup(task, 1, reason).await;
    }
}

/// What the driver of one task saw from outside.
struct Observed {
    /// The outcome, unless the handle was dropped first.
    outcome: Option<(Ending<u64, StepFailed>, Option<Cleanup>)>,
    /// Each canceller's status and what awaiting it gave.
    cancels: Vec<(Interrupt, CancelStatus, Option<Cleanup>)>,
}

async fn drive(storm: Arc<Storm>, plan: Plan, shared_log: SharedLog, origin: Instant) -> Observed {
    tokio::time::sleep_until(origin + ms(plan.start)).await;
    let mut passport = Passport::new(Payload {
        plan,
        log: shared_log,
    });
    if let Some(timeout) = plan.timeout {
        passport = passport.with_timeout(ms(timeout));
    }
    let submitted = Instant::now();
    let mut handle = match storm.execute_storm(passport) {
        Ok(handle) => handle,
        Err(error) => panic!("submission refused: {error}"),
    };
    let id = handle.id();
    let cancellers: Vec<_> = [
        (plan.first_cancel, Interrupt::FirstCancel),
        (plan.second_cancel, Interrupt::SecondCancel),
    ]
    .into_iter()
    .filter_map(|(at, which)| Some((at?, which)))
    .map(|(at, which)| {
        let tasks = storm.tasks.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(submitted + ms(at)).await;
            let cancellation = tasks.cancel(id, which.reason());
            let status = cancellation.status();
            (which, status, cancellation.await)
        })
    })
    .collect();
    let outcome = match plan.handle_drop {
        None => Some(handle.await),
        Some(at) => tokio::select! {
            outcome = &mut handle => Some(outcome),
            () = tokio::time::sleep_until(submitted + ms(at)) => {
                drop(handle);
                None
            }
        },
    };
    let mut cancels = Vec::new();
    for canceller in cancellers {
        match canceller.await {
            Ok(cancel) => cancels.push(cancel),
            Err(error) => panic!("a canceller failed: {error}"),
        }
    }
    Observed {
        outcome: outcome.map(|outcome| {
            let (ending, report) = outcome.into_parts();
            (ending, report.cleanup)
        }),
        cancels,
    }
}

fn check(plan: &Plan, expected: &Expected, log: &Log, observed: &Observed) -> Result<(), String> {
    if log.ended != 1 {
        return Err(format!("the task ended {} times", log.ended));
    }
    if log.begun != expected.begun {
        return Err(format!(
            "steps began: {:?}, expected {:?}",
            log.begun, expected.begun
        ));
    }
    let cleanups: Vec<(usize, CancelReason)> = expected.cleanup.iter().cloned().collect();
    if log.cleanups != cleanups {
        return Err(format!(
            "cleanups ran: {:?}, expected {cleanups:?}",
            log.cleanups
        ));
    }
    if let Some((ending, cleanup)) = &observed.outcome {
        let right = match (&expected.fate, ending) {
            (Fate::Completed, Ending::Completed(start)) => *start == plan.start,
            (Fate::Failed(step), Ending::Failed { step: name, error }) => {
                *name == STEPS[*step] && *error == StepFailed(*step)
            }
            (Fate::Panicked(step), Ending::Panicked { step: name, .. }) => *name == STEPS[*step],
            (
                Fate::Cancelled { by, step },
                Ending::Cancelled {
                    reason,
                    step: Some(name),
                    steps_completed,
                },
            ) => *reason == by.reason() && *name == STEPS[*step] && steps_completed == step,
            _ => false,
        };
        if !right {
            return Err(format!("ended {ending:?}, expected {:?}", expected.fate));
        }
        if *cleanup != expected.cleanup_result {
            return Err(format!(
                "the report's cleanup is {cleanup:?}, expected {:?}",
                expected.cleanup_result
            ));
        }
    } else if plan.handle_drop.is_none() {
        return Err("no outcome, though the handle was kept".into());
    }
    for (which, status, answer) in &observed.cancels {
        let won = expected.fate
            == Fate::Cancelled {
                by: *which,
                step: expected.begun.len() - 1,
            };
        let right = match status {
            CancelStatus::Requested => won && *answer == expected.cleanup_result,
            CancelStatus::AlreadyRequested => {
                !won && matches!(expected.fate, Fate::Cancelled { .. })
                    && *answer == expected.cleanup_result
            }
            // The task had sealed its own ending: no cleanup of the canceller's doing (a
            // panicked step's cleanup is in the outcome, not in this answer).
            CancelStatus::AlreadyFinished => {
                !matches!(expected.fate, Fate::Cancelled { .. }) && answer.is_none()
            }
            CancelStatus::NotFound => !won && answer.is_none(),
        };
        if !right {
            return Err(format!(
                "the {which:?} found {status:?} and awaiting it gave {answer:?}; expected fate {:?}, cleanup {:?}",
                expected.fate, expected.cleanup_result
            ));
        }
    }
    Ok(())
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let text = text.trim().replace('_', "");
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    match parsed {
        Ok(value) => Some(value),
        Err(_) => panic!("{name}={text} is not a number"),
    }
}

/// Prints the seed if the storm fails in any way, so that it can be replayed.
struct ReplayHint {
    seed: u64,
    tasks: usize,
}

impl Drop for ReplayHint {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "\nfault storm failed; replay with: TM_STORM_SEED={:#x} TM_STORM_TASKS={} cargo test --test fault_storm\n",
                self.seed, self.tasks
            );
        }
    }
}

#[test]
fn every_task_ends_once_the_right_way_under_a_fault_storm() {
    let seed = env_number("TM_STORM_SEED").unwrap_or(DEFAULT_SEED);
    let tasks = env_number("TM_STORM_TASKS").map_or(DEFAULT_TASKS, |tasks| tasks as usize);
    let _hint = ReplayHint { seed, tasks };
    println!("fault storm: seed {seed:#x}, {tasks} tasks");
    silence_planned_panics();
    let mut rng = Rng::new(seed);
    let plans: Vec<Plan> = (0..tasks).map(|_| Plan::draw(&mut rng)).collect();
    let logs: Vec<SharedLog> = plans.iter().map(|_| SharedLog::default()).collect();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    let storm = Arc::new(Storm {
        tasks: TaskManager::builder()
            .cleanup_timeout(CLEANUP_DEADLINE)
            .build()
            .expect("a valid deadline"),
    });
    let observed: Vec<Observed> = runtime.block_on(async {
        let origin = Instant::now();
        let drivers: Vec<_> = plans
            .iter()
            .zip(&logs)
            .map(|(plan, log)| {
                tokio::spawn(drive(Arc::clone(&storm), *plan, Arc::clone(log), origin))
            })
            .collect();
        let mut observed = Vec::with_capacity(drivers.len());
        for driver in drivers {
            match driver.await {
                Ok(seen) => observed.push(seen),
                Err(error) => panic!("a driver failed: {error}"),
            }
        }
        observed
    });
    drop(runtime);

    let mut fates: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut cleanups_expected, mut cleanups_ran) = (0, 0);
    for (index, ((plan, log), seen)) in plans.iter().zip(&logs).zip(&observed).enumerate() {
        let expected = predict(plan);
        let log = log.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(problem) = check(plan, &expected, &log, seen) {
            panic!("task #{index}: {problem}\n  plan: {plan:?}");
        }
        let fate = match expected.fate {
            Fate::Completed => "completed",
            Fate::Failed(_) => "failed",
            Fate::Panicked(_) => "panicked",
            Fate::Cancelled { .. } => "cancelled",
        };
        *fates.entry(fate).or_default() += 1;
        cleanups_expected += usize::from(expected.cleanup.is_some());
        cleanups_ran += log.cleanups.len();
    }
    assert!(
        storm.tasks.is_empty(),
        "{} tasks left registered",
        storm.tasks.len()
    );
    assert_eq!(fates.values().sum::<usize>(), tasks);
    assert_eq!(cleanups_ran, cleanups_expected);
    // A storm that never produced some kind of ending would prove little.
    for fate in ["completed", "failed", "panicked", "cancelled"] {
        assert!(
            fates.get(fate).copied().unwrap_or(0) > 0 || tasks < 100,
            "no task {fate}: {fates:?}"
        );
    }
    println!("fault storm: {fates:?}, {cleanups_ran} cleanups");
}
