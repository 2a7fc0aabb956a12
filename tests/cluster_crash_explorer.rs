//! The crash explorer: the cancellation explorer's analogue for a lost instance. A clustered
//! flow (`on_owner_lost = cancel`, steps with cleanups and compensations) runs on an owner
//! instance; a first run counts its await points (each step, cleanup and compensation while
//! pending, each store write before it lands and, for a write the task awaits, after it
//! landed and before its answer); then, for every point k, a fresh run crashes the owner
//! exactly there, another instance claims its task, and the checks below hold.
//!
//! The crash is faithful: the owner's store handle stops answering at k (every later write
//! from it is dropped, every awaited write stays pending for ever, as a dead connection's),
//! its runtime is no longer driven and is then dropped, so no code of the owner runs after
//! k and no destructor's write reaches the store. The store is scripted in memory and
//! follows the contract of `task-manager-postgres` (`claim.rs`, `recover.rs`): writes fenced
//! by the writer's lease; a task of a lost owner whose record names a step with its persisted
//! state is handed to the claimant's registered flow (cleanup, then compensations), whose
//! ending it then records; one that had sealed its own ending ends as the seal said
//! (`completed` after its steps returned, `failed` after a step's `Err`); any other ends
//! cancelled by the claim itself.
//!
//! Checked at every point, for each of three runs (a task that completes, one cancelled in
//! its last step, one whose last step fails):
//! * one ending per task: the record ends exactly once, it is final (a second claim takes
//!   nothing), and a task claimed is claimed once;
//! * the record names the step that was in progress on the owner (or the next one, whose
//!   boundary was written before it began), with the outputs of the compensated steps that
//!   completed before it;
//! * the right cleanup, exactly once on the claimant: that step's, with `OwnerLost`, if
//!   and only if the record was not final; none for a task whose ending landed or was sealed;
//!   across the cluster no other step's cleanup ever runs, and a cleanup completes twice only
//!   when the owner completed it and was lost before its ending landed (the README's limit);
//! * compensations once each on the claimant, in reverse step order, from the persisted
//!   outputs, for exactly the completed compensated steps before the interrupted one.
//!
//! And for a resumable flow (`voyage`, `on_owner_lost = resume`), at every point: a task whose
//! submission recorded its state completes on the claimant, lost before its first boundary
//! too (every step from the first, once, no cleanup); lost in a step, that step's cleanup
//! once, then that step again from its input; a task lost before its state was recorded
//! (its submission never returned) ends cancelled with nothing run.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use task_manager_core::{
    flow, CancelDelivery, CancelReason, CancelSource, CancelStatus, Cluster, ClusterEnding,
    ClusterError, ClusterFuture, ClusterSeal, Compensation, EndedAs, HasTaskManager, LostTask,
    Passport, RecordedCleanup, SealedAs, Task, TaskId, TaskManager,
};
use task_manager_support::Journal;
use tokio::sync::Notify;

// --- await points and the crash -------------------------------------------------------

#[derive(Default)]
struct CrashState {
    /// The point to crash at (1-based); `None`: count only.
    at: Option<usize>,
    /// Points met so far, by label.
    seen: Vec<String>,
    crashed: bool,
}

/// The owner's await points, and its crash at one of them.
#[derive(Clone, Default)]
struct Points {
    state: Arc<Mutex<CrashState>>,
    crashed: Arc<Notify>,
}

impl Points {
    fn crash_at(at: Option<usize>) -> Self {
        let points = Points::default();
        points.state.lock().unwrap().at = at;
        points
    }

    /// One await point of the owner: `true` if the owner is dead here (it crashes now, or
    /// did before).
    fn hit(&self, label: impl Into<String>) -> bool {
        let mut state = self.state.lock().unwrap();
        if state.crashed {
            return true;
        }
        state.seen.push(label.into());
        if state.at == Some(state.seen.len()) {
            state.crashed = true;
            self.crashed.notify_one();
            return true;
        }
        false
    }

    /// An await point in user code: never returns if the owner crashes here.
    async fn pause(&self, label: impl Into<String>) {
        if self.hit(label) {
            std::future::pending::<()>().await;
        }
    }

    fn seen(&self) -> Vec<String> {
        self.state.lock().unwrap().seen.clone()
    }

    fn is_crashed(&self) -> bool {
        self.state.lock().unwrap().crashed
    }
}

// --- the scripted store ----------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum State {
    Reserved,
    Running,
    Finishing,
    Cancelling,
    Finished,
}

#[derive(Debug, Clone)]
struct Record {
    instance: &'static str,
    lease: u64,
    state: State,
    flow: Option<&'static str>,
    step: Option<(usize, &'static str)>,
    payload: Option<Vec<u8>>,
    info: Option<Vec<u8>>,
    outputs: Vec<(usize, Vec<u8>)>,
    /// The input of the step the record names (a resumable flow).
    input: Option<Vec<u8>>,
    ending: Option<String>,
    cleanup: Option<RecordedCleanup>,
    /// What the seal said (`seal_as`), written with `Finishing`.
    sealed_as: Option<SealedAs>,
    endings_written: usize,
    claims: usize,
}

impl Record {
    fn new(instance: &'static str, lease: u64) -> Self {
        Record {
            instance,
            lease,
            state: State::Reserved,
            flow: None,
            step: None,
            payload: None,
            info: None,
            outputs: Vec::new(),
            input: None,
            ending: None,
            cleanup: None,
            sealed_as: None,
            endings_written: 0,
            claims: 0,
        }
    }

    fn finish(&mut self, ending: String, cleanup: Option<RecordedCleanup>) {
        self.state = State::Finished;
        self.ending = Some(ending);
        self.cleanup = cleanup;
        self.endings_written += 1;
    }
}

type Records = Arc<Mutex<Vec<(TaskId, Record)>>>;

/// One instance's handle on the shared store: its writes carry its lease and are refused
/// once the record is another's. The owner's handle dies at its crash point.
#[derive(Clone)]
struct Handle {
    records: Records,
    instance: &'static str,
    lease: u64,
    points: Points,
    delivery: Arc<Mutex<Option<CancelDelivery>>>,
    /// Writes the dead owner tried after its crash (dropped: they never reach the store).
    dropped: Arc<AtomicUsize>,
}

impl Handle {
    /// The seal, recording what it said (`None`: not said), as `task-manager-postgres` does.
    fn seal_with(
        &self,
        id: TaskId,
        sealed: Option<SealedAs>,
    ) -> ClusterFuture<Result<ClusterSeal, ClusterError>> {
        let mut answer = ClusterSeal::Sealed;
        if !self.write(id, "before seal".into(), |record| match record.state {
            State::Running => {
                record.state = State::Finishing;
                record.sealed_as = sealed;
            }
            State::Cancelling => {
                answer = ClusterSeal::CancelWon {
                    reason: CancelReason::owner_lost("a"),
                    source: CancelSource::OwnerLost,
                }
            }
            _ => {}
        }) {
            return Box::pin(std::future::pending());
        }
        self.answer("after seal".into(), Ok(answer))
    }

    fn new(records: &Records, instance: &'static str, lease: u64, points: Points) -> Self {
        Handle {
            records: Arc::clone(records),
            instance,
            lease,
            points,
            delivery: Arc::default(),
            dropped: Arc::default(),
        }
    }

    /// A write to task `id`'s record, at await point `label`: dropped if the instance is
    /// dead, refused (fenced) if the record is not under this instance's lease.
    fn write(&self, id: TaskId, label: String, apply: impl FnOnce(&mut Record)) -> bool {
        if self.points.hit(label) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let mut records = self.records.lock().unwrap();
        if let Some((_, record)) = records.iter_mut().find(|(known, _)| *known == id) {
            if record.lease == self.lease && record.instance == self.instance {
                apply(record);
            }
        }
        true
    }

    /// The answer to an awaited write: pending for ever if the instance dies after the write
    /// landed and before its answer came (`label`).
    fn answer<T: Send + 'static>(&self, label: String, value: T) -> ClusterFuture<T> {
        if self.points.hit(label) {
            return Box::pin(std::future::pending());
        }
        Box::pin(async move { value })
    }

    fn delivery(&self) -> CancelDelivery {
        self.delivery.lock().unwrap().clone().expect("attached")
    }
}

fn describe(ended: &EndedAs) -> String {
    match ended {
        EndedAs::Completed => "completed".to_owned(),
        EndedAs::Failed { step } => format!("failed at {step}"),
        EndedAs::Cancelled { step, .. } => format!("cancelled at {}", step.unwrap_or("-")),
        other => format!("{other:?}"),
    }
}

impl Cluster for Handle {
    fn attach(&self, delivery: CancelDelivery) -> Result<(), ClusterError> {
        *self.delivery.lock().unwrap() = Some(delivery);
        Ok(())
    }
    fn reserve(&self, id: TaskId) -> ClusterFuture<Result<(), ClusterError>> {
        if self.points.hit("before reserve") {
            return Box::pin(std::future::pending());
        }
        self.records
            .lock()
            .unwrap()
            .push((id, Record::new(self.instance, self.lease)));
        self.answer("after reserve".into(), Ok(()))
    }
    fn release(&self, id: TaskId) {
        self.write(id, "release".into(), |record| {
            record.finish("released".into(), None)
        });
    }
    fn submitted(&self, id: TaskId, flow: &'static str, _queued: bool) {
        self.write(id, "submitted".into(), |record| {
            record.state = State::Running;
            record.flow = Some(flow);
        });
    }
    fn submitted_resumable(
        &self,
        id: TaskId,
        flow: &'static str,
        _queued: bool,
        payload: Option<Vec<u8>>,
        info: Option<Vec<u8>>,
    ) -> ClusterFuture<Result<(), ClusterError>> {
        if !self.write(id, "before submitted with state".into(), |record| {
            record.state = State::Running;
            record.flow = Some(flow);
            record.payload = payload;
            record.info = info;
        }) {
            return Box::pin(std::future::pending());
        }
        self.answer("after submitted with state".into(), Ok(()))
    }
    fn persist_resumable_step(
        &self,
        id: TaskId,
        index: usize,
        step: &'static str,
        payload: Option<Vec<u8>>,
        info: Option<Vec<u8>>,
        input: Option<Vec<u8>>,
        outputs: Vec<(usize, Vec<u8>)>,
    ) -> ClusterFuture<Result<(), ClusterError>> {
        let label = format!("boundary of step {index}");
        if !self.write(id, format!("before {label}"), |record| {
            if record.state == State::Running {
                record.step = Some((index, step));
                record.payload = payload;
                record.info = info;
                record.input = input;
                record.outputs = outputs;
            }
        }) {
            return Box::pin(std::future::pending());
        }
        self.answer(format!("after {label}"), Ok(()))
    }
    fn step_began(&self, id: TaskId, index: usize, step: &'static str) {
        self.write(id, format!("step {index} began"), |record| {
            if record.state == State::Running {
                record.step = Some((index, step));
            }
        });
    }
    fn persist_step(
        &self,
        id: TaskId,
        index: usize,
        step: &'static str,
        payload: Option<Vec<u8>>,
        info: Option<Vec<u8>>,
        outputs: Vec<(usize, Vec<u8>)>,
    ) -> ClusterFuture<Result<(), ClusterError>> {
        let label = format!("boundary of step {index}");
        if !self.write(id, format!("before {label}"), |record| {
            if record.state == State::Running {
                record.step = Some((index, step));
                record.payload = payload;
                record.info = info;
                record.outputs = outputs;
            }
        }) {
            return Box::pin(std::future::pending());
        }
        self.answer(format!("after {label}"), Ok(()))
    }
    fn seal(&self, id: TaskId) -> ClusterFuture<Result<ClusterSeal, ClusterError>> {
        self.seal_with(id, None)
    }
    fn seal_as(
        &self,
        id: TaskId,
        sealed: SealedAs,
    ) -> ClusterFuture<Result<ClusterSeal, ClusterError>> {
        self.seal_with(id, Some(sealed))
    }
    fn ended(&self, id: TaskId, ending: ClusterEnding) {
        self.write(id, "ending".into(), |record| {
            if record.state != State::Finished {
                record.finish(describe(&ending.ended), ending.cleanup);
            }
        });
    }
    fn request_cancel(
        &self,
        _id: TaskId,
        _reason: CancelReason,
        _source: CancelSource,
    ) -> ClusterFuture<Result<CancelStatus, ClusterError>> {
        Box::pin(async { Ok(CancelStatus::NotFound) })
    }
    fn ended_cleanup(
        &self,
        _id: TaskId,
    ) -> ClusterFuture<Result<Option<RecordedCleanup>, ClusterError>> {
        Box::pin(async { Ok(None) })
    }
}

/// What the claimant did with one task.
struct Claimed {
    recovered: Option<task_manager_core::Recovered>,
}

/// `claimant` claims every unfinished task of the lost instance `lost`, as
/// `task-manager-postgres` does, and records the ending of those its flow cleaned up.
async fn claim(claimant: &Handle, lost: &'static str) -> Vec<Claimed> {
    let mut handed = Vec::new();
    let mut claimed = Vec::new();
    {
        let mut records = claimant.records.lock().unwrap();
        for (id, record) in records.iter_mut() {
            if record.instance != lost || record.state == State::Finished {
                continue;
            }
            record.claims += 1;
            record.instance = claimant.instance;
            record.lease = claimant.lease;
            // A step with its state, or (a resumable flow's task, whose submission recorded
            // its state) no step yet: handed to the flow.
            let recoverable = record.payload.is_some()
                && match record.step {
                    Some(_) => matches!(record.state, State::Running | State::Cancelling),
                    None => record.state == State::Running,
                };
            if recoverable {
                record.state = State::Cancelling;
                let task = LostTask::new(
                    *id,
                    record.flow.expect("submitted"),
                    CancelReason::owner_lost(lost),
                );
                let task = match record.step {
                    Some((index, step)) => task.at_step(index, step),
                    None => task.before_first_step(),
                }
                .with_state(record.payload.clone(), record.info.clone())
                .with_input(record.input.clone())
                .with_outputs(record.outputs.clone());
                handed.push((*id, record.step.map(|(_, step)| step), task));
            } else if record.state == State::Finishing {
                // As the seal said: completed, or failed (said so, or not said).
                let ending = match record.sealed_as {
                    Some(SealedAs::Completed { .. }) => "completed".to_owned(),
                    _ => format!("failed: its instance `{lost}` was lost"),
                };
                record.finish(ending, None);
                claimed.push(Claimed { recovered: None });
            } else {
                let cleanup = match record.step {
                    Some((_, step)) => RecordedCleanup::Lost { step: step.into() },
                    None => RecordedCleanup::NoStepInProgress,
                };
                let at = record.step.map_or("-", |(_, step)| step);
                record.finish(format!("cancelled at {at}"), Some(cleanup));
                claimed.push(Claimed { recovered: None });
            }
        }
    }
    for (id, step, task) in handed {
        let recovered = claimant
            .delivery()
            .recover(task.clone())
            .expect("a registered flow, readable state")
            .await;
        if recovered.resumes {
            // Running again on the claimant (the claim's cancel cleared), until it ends.
            claimant.write(id, "claimant's resumption".into(), |record| {
                record.state = State::Running;
            });
            let running = claimant.delivery().resume(task).expect("resumed");
            assert!(running.await, "the resumed task runs");
            while claimant.records.lock().unwrap()[0].1.state != State::Finished {
                tokio::task::yield_now().await;
            }
            claimed.push(Claimed {
                recovered: Some(recovered),
            });
            continue;
        }
        let cleanup = recovered.cleanup.clone();
        claimant.write(id, "claimant's ending".into(), |record| {
            record.finish(
                format!("cancelled at {}", step.unwrap_or("-")),
                Some(cleanup),
            );
        });
        claimed.push(Claimed {
            recovered: Some(recovered),
        });
    }
    claimed
}

// --- the flow --------------------------------------------------------------------------

#[derive(HasTaskManager)]
struct Trips {
    tasks: TaskManager,
    instance: &'static str,
    journal: Journal,
    points: Points,
}

#[derive(Debug, thiserror::Error)]
#[error("the carrier refused")]
struct Refused;

impl Trips {
    fn mark(&self, what: impl std::fmt::Display) {
        self.journal.record(format!("{}: {what}", self.instance));
    }

    async fn body(&self, what: &str) {
        self.mark(format!("{what} began"));
        self.points.pause(format!("in {what}")).await;
        self.mark(format!("{what} ended"));
    }
}

const STEPS: [&str; 3] = ["book", "pay", "ship"];
/// The steps that declare a compensation, by index, with the compensation's name.
const COMPENSATED: [(usize, &str); 2] = [(0, "unbook 2"), (1, "refund card-2")];

#[flow(name = trip, on_owner_lost = cancel)]
impl Trips {
    #[step(cancel = undo_book, compensate = unbook)]
    async fn book(&self, _task: &mut Task<String, u32>) -> Result<u32, Refused> {
        self.body("step book").await;
        Ok(2)
    }

    #[step(cancel = undo_pay, compensate = refund)]
    async fn pay(&self, _task: &mut Task<String, u32>, seats: u32) -> Result<String, Refused> {
        self.body("step pay").await;
        Ok(format!("card-{seats}"))
    }

    #[step(cancel = undo_ship)]
    async fn ship(&self, task: &mut Task<String, u32>, _charge: String) -> Result<(), Refused> {
        self.mark("step ship began");
        self.points.pause("in step ship").await;
        match task.payload().as_str() {
            "cancel" => {
                // A cancel on the owner: its cleanup and compensations run there.
                self.tasks.cancel(task.id(), "user left");
                std::future::pending::<()>().await;
            }
            "fail" => return Err(Refused),
            _ => {}
        }
        self.mark("step ship ended");
        Ok(())
    }

    async fn undo_book(&self, _task: &mut Task<String, u32>, reason: CancelReason) {
        self.body(&format!("cleanup book ({reason})")).await;
    }

    async fn undo_pay(&self, _task: &mut Task<String, u32>, reason: CancelReason) {
        self.body(&format!("cleanup pay ({reason})")).await;
    }

    async fn undo_ship(&self, _task: &mut Task<String, u32>, reason: CancelReason) {
        self.body(&format!("cleanup ship ({reason})")).await;
    }

    async fn unbook(&self, _task: &mut Task<String, u32>, seats: u32) {
        self.body(&format!("unbook {seats}")).await;
    }

    async fn refund(
        &self,
        _task: &mut Task<String, u32>,
        charge: String,
    ) -> Result<(), Infallible> {
        self.body(&format!("refund {charge}")).await;
        Ok(())
    }
}

/// The resumable flow: a task lost before its first boundary (its submission recorded its
/// state) runs from its first step on the claimant; one lost in a step has that step's
/// cleanup run there, then the step again from its persisted input.
#[flow(name = voyage, on_owner_lost = resume)]
impl Trips {
    #[step(cancel = undo_embark)]
    async fn embark(&self, _task: &mut Task<String, u32>) -> Result<u32, Refused> {
        self.body("step embark").await;
        Ok(3)
    }

    #[step(cancel = undo_sail)]
    async fn sail(&self, _task: &mut Task<String, u32>, crew: u32) -> Result<(), Refused> {
        if crew != 3 {
            self.mark(format!("sail given {crew}"));
        }
        self.body("step sail").await;
        Ok(())
    }

    async fn undo_embark(&self, _task: &mut Task<String, u32>, reason: CancelReason) {
        self.body(&format!("cleanup embark ({reason})")).await;
    }

    async fn undo_sail(&self, _task: &mut Task<String, u32>, reason: CancelReason) {
        self.body(&format!("cleanup sail ({reason})")).await;
    }
}

const VOYAGE: [&str; 2] = ["embark", "sail"];

fn trips(handle: &Handle, journal: &Journal, points: &Points) -> Arc<Trips> {
    let trips = Arc::new(Trips {
        tasks: TaskManager::builder()
            .cluster(handle.clone())
            .build()
            .expect("builds"),
        instance: handle.instance,
        journal: journal.clone(),
        points: points.clone(),
    });
    trips.register_trip();
    trips.register_voyage();
    trips
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

// --- one case, and the sweep -----------------------------------------------------------

/// What one run left: the owner's await points met, the record before and after the claim,
/// what the claimant did, and the journal of both instances.
struct Case {
    plan: &'static str,
    at: Option<usize>,
    seen: Vec<String>,
    before: Option<Record>,
    after: Option<Record>,
    claimed: Vec<Claimed>,
    second_claim: usize,
    journal: Vec<String>,
}

/// Runs a task of `plan` on owner `a`, crashing it at await point `at` (none: never), then
/// lets instance `b` claim.
fn run_case(plan: &'static str, at: Option<usize>) -> Case {
    run_flow_case(plan, at, false)
}

/// [`run_case`] for flow `trip`, or (`voyage`) for the resumable flow `voyage`.
fn run_flow_case(plan: &'static str, at: Option<usize>, voyage: bool) -> Case {
    let records: Records = Arc::default();
    let journal = Journal::new();
    let points = Points::crash_at(at);
    let owner = Handle::new(&records, "a", 1, points.clone());
    let owner_runtime = runtime();
    owner_runtime.block_on(async {
        let trips = trips(&owner, &journal, &points);
        let crashed = Arc::clone(&points.crashed);
        let run = async {
            let passport = Passport::new(plan.to_owned());
            if voyage {
                let handle = trips
                    .tasks
                    .submit_in_cluster(passport, |p| trips.execute_voyage(p))
                    .await
                    .expect("submitted");
                let _ = handle.await;
            } else {
                let handle = trips
                    .tasks
                    .submit_in_cluster(passport, |p| trips.execute_trip(p))
                    .await
                    .expect("submitted");
                let _ = handle.await;
            }
        };
        tokio::select! {
            _ = run => {}
            () = crashed.notified() => {}
        }
    });
    // The crash: nothing of the owner runs any more; its runtime (with the task's future) is
    // dropped, and whatever a destructor would write is dropped by its dead handle.
    drop(owner_runtime);
    let before = only_record(&records);
    let claimant = Handle::new(&records, "b", 2, Points::default());
    let claimant_runtime = runtime();
    let (claimed, second_claim) = claimant_runtime.block_on(async {
        let _trips = trips(&claimant, &journal, &Points::default());
        let claimed = if points.is_crashed() {
            claim(&claimant, "a").await
        } else {
            Vec::new()
        };
        let second = claim(&claimant, "a").await.len() + claim(&claimant, "b").await.len();
        (claimed, second)
    });
    Case {
        plan,
        at,
        seen: points.seen(),
        before,
        after: only_record(&records),
        claimed,
        second_claim,
        journal: journal.entries(),
    }
}

/// The task's record; `None` if the owner crashed before its reservation landed.
fn only_record(records: &Records) -> Option<Record> {
    let records = records.lock().unwrap();
    assert!(records.len() <= 1, "one task");
    records.first().map(|(_, record)| record.clone())
}

fn entries_of<'a>(journal: &'a [String], instance: &str) -> Vec<&'a str> {
    let prefix = format!("{instance}: ");
    journal
        .iter()
        .filter_map(|entry| entry.strip_prefix(&prefix))
        .collect()
}

/// The checks of one case (see the module docs); `Err` says what broke.
fn check(case: &Case) -> Result<(), String> {
    let owner = entries_of(&case.journal, "a");
    let claimant = entries_of(&case.journal, "b");
    let (Some(before), Some(after)) = (&case.before, &case.after) else {
        // Lost before its reservation landed: no record, and nothing ran anywhere.
        if case.before.is_some() || case.after.is_some() || !case.journal.is_empty() {
            return Err(format!("no reservation, yet {:?}", case.journal));
        }
        return Ok(());
    };
    // One ending per task; the record final.
    if after.state != State::Finished || after.endings_written != 1 {
        return Err(format!(
            "the record is not final with one ending: {after:?}"
        ));
    }
    if case.second_claim != 0 {
        return Err("a second claim took the finished task again".into());
    }
    let crashed = case.at.is_some_and(|at| at <= case.seen.len());
    if after.claims != usize::from(crashed && before.state != State::Finished) {
        return Err(format!("claimed {} times", after.claims));
    }
    // Across the cluster, no cleanup of another step than the one the ending names.
    let cleaned: Vec<&str> = case
        .journal
        .iter()
        .filter_map(|entry| entry.split_once(": cleanup ").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split(' ').next())
        .collect();
    let ending_step = after
        .ending
        .as_deref()
        .and_then(|e| e.strip_prefix("cancelled at "));
    if let Some(step) = cleaned.iter().find(|step| Some(**step) != ending_step) {
        return Err(format!(
            "the cleanup of step `{step}` ran, the task ended {:?}",
            after.ending
        ));
    }
    // A task that ended cancelled at a step had every compensation it owed completed
    // somewhere, and none completed twice on one instance.
    if let Some(step) = ending_step {
        let index = STEPS.iter().position(|name| *name == step).unwrap_or(0);
        for (_, compensation) in COMPENSATED.iter().filter(|(i, _)| *i < index) {
            let done = format!("{compensation} ended");
            let (on_owner, on_claimant) = (
                owner.iter().filter(|e| **e == done).count(),
                claimant.iter().filter(|e| **e == done).count(),
            );
            if on_owner + on_claimant == 0 || on_owner > 1 || on_claimant > 1 {
                return Err(format!(
                    "ended cancelled at `{step}`: `{compensation}` completed {on_owner} times on the owner, {on_claimant} on the claimant"
                ));
            }
        }
    }
    let recovering = crashed
        && matches!(before.state, State::Running | State::Cancelling)
        && before.step.is_some()
        && before.payload.is_some();
    if !recovering {
        if !claimant.is_empty() {
            return Err(format!(
                "the claimant ran {claimant:?} for a record it could not hand to the flow"
            ));
        }
        // A task sealed before the loss ends as its seal said.
        let sealed = match before.sealed_as {
            Some(SealedAs::Completed { .. }) => "completed",
            _ => "failed",
        };
        if crashed
            && before.state == State::Finishing
            && !after
                .ending
                .as_deref()
                .is_some_and(|e| e.starts_with(sealed))
        {
            return Err(format!(
                "a task sealed {:?} lost ended {:?}",
                before.sealed_as, after.ending
            ));
        }
        return Ok(());
    }
    let (index, step) = before.step.expect("recovering");
    // The record names the step in progress on the owner, or the next one whose boundary
    // was written before it began; every step before it completed there.
    let last_begun = STEPS
        .iter()
        .rposition(|name| owner.contains(&format!("step {name} began").as_str()));
    if !(last_begun == Some(index) || last_begun.map_or(0, |i| i + 1) == index) {
        return Err(format!(
            "the record names step `{step}`, the owner had begun {last_begun:?}"
        ));
    }
    for name in &STEPS[..index] {
        if !owner.contains(&format!("step {name} ended").as_str()) {
            return Err(format!(
                "the record names `{step}`, step `{name}` never completed"
            ));
        }
    }
    let persisted: Vec<usize> = before.outputs.iter().map(|(i, _)| *i).collect();
    let expected: Vec<usize> = COMPENSATED
        .iter()
        .map(|(i, _)| *i)
        .filter(|i| *i < index)
        .collect();
    if persisted != expected {
        return Err(format!(
            "the boundary of `{step}` persisted the outputs of steps {persisted:?}, not {expected:?}"
        ));
    }
    // The claimant: that step's cleanup once, with `OwnerLost`, then the compensations in
    // reverse order, each once, from the persisted outputs.
    let mut want = vec![
        format!("cleanup {step} (its instance `a` was lost) began"),
        format!("cleanup {step} (its instance `a` was lost) ended"),
    ];
    for (_, compensation) in COMPENSATED.iter().rev().filter(|(i, _)| *i < index) {
        want.push(format!("{compensation} began"));
        want.push(format!("{compensation} ended"));
    }
    if claimant != want {
        return Err(format!("the claimant ran {claimant:?}, not {want:?}"));
    }
    let [Claimed {
        recovered: Some(recovered),
    }] = &case.claimed[..]
    else {
        return Err("the task was not handed to the claimant's flow once".into());
    };
    if !matches!(&recovered.cleanup, RecordedCleanup::Completed { step: s, .. } if s == step) {
        return Err(format!("the claimant's cleanup: {:?}", recovered.cleanup));
    }
    let compensated: Vec<&str> = recovered
        .compensations
        .iter()
        .filter(|c| c.is_completed())
        .map(Compensation::step)
        .collect();
    let want: Vec<&str> = STEPS[..index]
        .iter()
        .enumerate()
        .rev()
        .filter(|(i, _)| COMPENSATED.iter().any(|(c, _)| c == i))
        .map(|(_, name)| *name)
        .collect();
    if compensated != want {
        return Err(format!("compensated {compensated:?}, not {want:?}"));
    }
    if after.ending.as_deref() != Some(&format!("cancelled at {step}")) {
        return Err(format!("the record ended {:?}", after.ending));
    }
    Ok(())
}

fn explore(plan: &'static str) -> usize {
    let first = run_case(plan, None);
    if let Err(error) = check(&first) {
        panic!(
            "flow `trip` ({plan}), without a crash: {error}\n{:#?}",
            first.journal
        );
    }
    let points = first.seen.len();
    for at in 1..=points {
        let case = run_case(plan, Some(at));
        assert_eq!(
            case.seen[..at.min(case.seen.len())],
            first.seen[..at.min(case.seen.len())],
            "the runs are deterministic"
        );
        if let Err(error) = check(&case) {
            panic!(
                "flow `trip` ({}), owner crashed at await point {at} of {points} ({}): {error}\njournal: {:#?}\nrecord at the crash: {:#?}",
                case.plan,
                first.seen[at - 1],
                case.journal,
                case.before,
            );
        }
    }
    points
}

#[test]
fn a_completing_task_keeps_the_crash_contract_at_every_await_point() {
    let points = explore("complete");
    assert!(points >= 10, "{points} await points");
}

#[test]
fn a_task_cancelled_on_its_owner_keeps_the_crash_contract_at_every_await_point() {
    let points = explore("cancel");
    assert!(points >= 14, "{points} await points");
}

#[test]
fn a_failing_task_keeps_the_crash_contract_at_every_await_point() {
    let points = explore("fail");
    assert!(points >= 8, "{points} await points");
}

/// The checks of one case of the resumable flow `voyage`: one ending; a task whose
/// submission recorded its state completes whenever its owner was lost before its ending,
/// on the claimant: lost before its first boundary, every step runs there from the first,
/// once, with no cleanup; lost in a step, that step's cleanup runs there once with
/// `OwnerLost`, then that step again and the next; the steps before it never run again.
fn check_voyage(case: &Case) -> Result<(), String> {
    let owner = entries_of(&case.journal, "a");
    let claimant = entries_of(&case.journal, "b");
    if case
        .journal
        .iter()
        .any(|entry| entry.contains("sail given"))
    {
        return Err(format!(
            "`sail` was not given `embark`'s output: {:?}",
            case.journal
        ));
    }
    let (Some(before), Some(after)) = (&case.before, &case.after) else {
        if case.before.is_some() || case.after.is_some() || !case.journal.is_empty() {
            return Err(format!("no reservation, yet {:?}", case.journal));
        }
        return Ok(());
    };
    if after.state != State::Finished || after.endings_written != 1 {
        return Err(format!(
            "the record is not final with one ending: {after:?}"
        ));
    }
    if case.second_claim != 0 {
        return Err("a second claim took the finished task again".into());
    }
    let crashed = case.at.is_some_and(|at| at <= case.seen.len());
    if after.claims != usize::from(crashed && before.state != State::Finished) {
        return Err(format!("claimed {} times", after.claims));
    }
    let steps = |from: usize| -> Vec<String> {
        VOYAGE[from..]
            .iter()
            .flat_map(|step| [format!("step {step} began"), format!("step {step} ended")])
            .collect()
    };
    let resumed = crashed && before.state == State::Running && before.payload.is_some();
    if !resumed {
        if !claimant.is_empty() {
            return Err(format!("the claimant ran {claimant:?}"));
        }
        let want =
            if !crashed || before.state == State::Finished || before.state == State::Finishing {
                "completed"
            } else {
                // Lost before its submission recorded its state: `submit_in_cluster` never
                // returned; no step began.
                if !owner.is_empty() {
                    return Err(format!("lost before its state was recorded, yet {owner:?}"));
                }
                "cancelled at -"
            };
        if after.ending.as_deref() != Some(want) {
            return Err(format!("the record ended {:?}, not {want}", after.ending));
        }
        return Ok(());
    }
    if after.ending.as_deref() != Some("completed") {
        return Err(format!("a resumable task ended {:?}", after.ending));
    }
    let mut want = Vec::new();
    let from = match before.step {
        // Lost before its first boundary: nothing had begun, nothing is cleaned up.
        None => {
            if !owner.is_empty() {
                return Err(format!("no boundary, yet the owner ran {owner:?}"));
            }
            0
        }
        Some((index, step)) => {
            want.push(format!("cleanup {step} (its instance `a` was lost) began"));
            want.push(format!("cleanup {step} (its instance `a` was lost) ended"));
            for name in &VOYAGE[..index] {
                if owner
                    .iter()
                    .filter(|e| **e == format!("step {name} ended"))
                    .count()
                    != 1
                {
                    return Err(format!(
                        "the record names `{step}`, `{name}` did not complete once on the owner"
                    ));
                }
            }
            index
        }
    };
    want.extend(steps(from));
    if claimant != want {
        return Err(format!("the claimant ran {claimant:?}, not {want:?}"));
    }
    Ok(())
}

#[test]
fn a_resumable_task_lost_at_every_await_point_completes_lost_before_its_first_boundary_too() {
    let first = run_flow_case("complete", None, true);
    check_voyage(&first).unwrap_or_else(|error| panic!("without a crash: {error}"));
    let points = first.seen.len();
    let mut unbegun = 0;
    for at in 1..=points {
        let case = run_flow_case("complete", Some(at), true);
        if let Err(error) = check_voyage(&case) {
            panic!(
                "flow `voyage`, owner crashed at await point {at} of {points} ({}): {error}\njournal: {:#?}\nrecord at the crash: {:#?}",
                first.seen[at - 1],
                case.journal,
                case.before,
            );
        }
        if case
            .before
            .as_ref()
            .is_some_and(|record| record.payload.is_some() && record.step.is_none())
        {
            unbegun += 1;
        }
    }
    assert!(points >= 8, "{points} await points");
    // The owner lost after its submission recorded the state, before its first boundary.
    assert!(unbegun >= 2, "{unbegun} points before the first boundary");
}
