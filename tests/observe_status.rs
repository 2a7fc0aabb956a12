//! Live status: progress in `status`, every task in `snapshot`, and the generated step enum
//! naming steps with a type (renamed, disabled, with a `#[cfg]`-ed step).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use task_manager_core::{
    flow, CancelReason, CancelStatus, Ending, FlowStep, HasTaskManager, Passport, Progress, Task,
    TaskManager, TaskState,
};
use task_manager_support::panics::{silence_planned_panics, PLANNED};
use task_manager_support::{EventLog, Gate};

#[derive(HasTaskManager)]
struct Files {
    tasks: TaskManager,
    gates: [Gate; 2],
}

#[flow(name = copy_files)]
impl Files {
    #[step]
    async fn list_files(&self, task: &mut Task<u64>) -> Result<u64, Infallible> {
        self.gates[0].pass().await;
        Ok(*task.payload())
    }

    #[step]
    async fn copy(&self, task: &mut Task<u64>, total: u64) -> Result<(), Infallible> {
        task.set_progress(37, total);
        self.gates[1].pass().await;
        Ok(())
    }
}

/// Same shape, another flow, and its enum renamed.
#[derive(HasTaskManager)]
struct Mirror {
    tasks: TaskManager,
    gate: Gate,
}

#[flow(name = mirror, steps = MirrorPhase)]
impl Mirror {
    #[step]
    async fn sync(&self, _task: &mut Task) -> Result<(), Infallible> {
        self.gate.pass().await;
        Ok(())
    }
}

#[test]
fn the_step_enum_is_named_after_the_flow_and_its_variants_after_the_steps() {
    assert_eq!(
        CopyFilesStep::ALL,
        [CopyFilesStep::ListFiles, CopyFilesStep::Copy]
    );
    assert_eq!(CopyFilesStep::FLOW, "copy_files");
    assert_eq!(CopyFilesStep::ListFiles.name(), "list_files");
    assert_eq!(CopyFilesStep::Copy.index(), 1);
    assert_eq!(CopyFilesStep::from_index(0), Some(CopyFilesStep::ListFiles));
    assert_eq!(CopyFilesStep::from_index(2), None);
    assert_eq!(CopyFilesStep::Copy.to_string(), "copy");
    assert_eq!(<MirrorPhase as FlowStep>::ALL, [MirrorPhase::Sync]);
    assert_eq!(<MirrorPhase as FlowStep>::FLOW, "mirror");
    // Usable in constants.
    const LAST: usize = CopyFilesStep::Copy.index();
    assert_eq!(LAST, 1);
}

#[tokio::test(start_paused = true)]
async fn status_gives_the_step_as_the_enum_and_the_progress() {
    let files = Arc::new(Files {
        tasks: TaskManager::new(),
        gates: Default::default(),
    });
    let passport = Passport::new(120);
    let id = passport.id();
    let handle = files.execute_copy_files(passport).expect("submitted");

    let status = files.tasks.status(id).expect("running");
    assert_eq!(
        (status.step_as::<CopyFilesStep>(), status.progress),
        (None, None)
    );

    files.gates[0].arrived().await;
    let status = files.tasks.status(id).expect("running");
    assert_eq!(
        status.step_as::<CopyFilesStep>(),
        Some(CopyFilesStep::ListFiles)
    );
    assert_eq!(status.step_as::<MirrorPhase>(), None, "not a mirror task");

    files.gates[0].open();
    files.gates[1].arrived().await;
    let status = files.tasks.status(id).expect("running");
    assert_eq!(status.step_as::<CopyFilesStep>(), Some(CopyFilesStep::Copy));
    assert_eq!(
        status.progress,
        Some(Progress {
            done: 37,
            total: 120
        })
    );

    files.gates[1].open();
    assert!(handle.await.is_completed());
    assert_eq!(files.tasks.status(id), None);
}

#[tokio::test(start_paused = true)]
async fn snapshot_lists_every_task_oldest_first_with_its_step_age_and_progress() {
    let tasks = TaskManager::new();
    let files = Arc::new(Files {
        tasks: tasks.clone(),
        gates: Default::default(),
    });
    let mirror = Arc::new(Mirror {
        tasks: tasks.clone(),
        gate: Gate::new(),
    });
    assert!(tasks.snapshot().is_empty());

    files.gates[0].open();
    let copying = Passport::new(10);
    let copying_id = copying.id();
    let copy = files.execute_copy_files(copying).expect("submitted");
    files.gates[1].arrived().await;
    tokio::time::advance(Duration::from_secs(3)).await;
    let mirroring = Passport::new(());
    let mirroring_id = mirroring.id();
    let sync = mirror.execute_mirror(mirroring).expect("submitted");
    mirror.gate.arrived().await;
    tokio::time::advance(Duration::from_secs(2)).await;

    let snapshot = tasks.snapshot();
    let seen: Vec<_> = snapshot
        .iter()
        .map(|task| {
            (
                task.id,
                task.status.flow,
                task.status.step,
                task.status.state,
                task.elapsed,
                task.status.progress,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                copying_id,
                "copy_files",
                Some("copy"),
                TaskState::Running,
                Duration::from_secs(5),
                Some(Progress {
                    done: 37,
                    total: 10
                }),
            ),
            (
                mirroring_id,
                "mirror",
                Some("sync"),
                TaskState::Running,
                Duration::from_secs(2),
                None,
            ),
        ]
    );
    assert_eq!(
        snapshot[0].to_string(),
        format!("{copying_id} copy_files Running at step 1 `copy`, 5s old, progress 37/10")
    );

    files.gates[1].open();
    mirror.gate.open();
    assert!(copy.await.is_completed() && sync.await.is_completed());
    assert!(tasks.snapshot().is_empty());
}

/// A step under a `#[cfg]` that is off: it has no variant, and the steps after it keep the
/// indices they have in this build.
#[derive(HasTaskManager)]
struct Partial {
    tasks: TaskManager,
}

#[flow(name = partial)]
impl Partial {
    #[step]
    async fn first(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    #[cfg(any())]
    #[step]
    async fn never_built(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    #[step]
    async fn last(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_cfg_ed_out_step_has_no_variant_and_indices_match_the_events() {
    assert_eq!(PartialStep::ALL, [PartialStep::First, PartialStep::Last]);
    assert_eq!(PartialStep::Last.index(), 1);

    let log = EventLog::new();
    let partial = Arc::new(Partial {
        tasks: TaskManager::builder()
            .addon(log.clone())
            .build()
            .expect("nothing to refuse"),
    });
    let _ = partial
        .execute_partial(Passport::new(()))
        .expect("submitted")
        .await;
    assert!(log.journal().contains("step last#1 completed"));
}

/// Step names whose CamelCase would not be an identifier get a `Step` prefix.
#[derive(HasTaskManager)]
struct Odd {
    tasks: TaskManager,
}

#[flow(name = odd)]
impl Odd {
    #[step]
    async fn _2nd_pass(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    #[step]
    async fn self_(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }

    #[step]
    async fn r#type(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn step_names_that_camel_case_badly_still_make_variants() {
    assert_eq!(
        OddStep::ALL,
        [OddStep::Step2ndPass, OddStep::StepSelf, OddStep::Type]
    );
    // As the flow's step names (and so status and events) spell it.
    assert_eq!(OddStep::Type.name(), "r#type");

    let log = EventLog::new();
    let odd = Arc::new(Odd {
        tasks: TaskManager::builder()
            .addon(log.clone())
            .build()
            .expect("nothing to refuse"),
    });
    let _ = odd.execute_odd(Passport::new(())).expect("submitted").await;
    assert!(log.journal().contains("step r#type#2 completed"));
}

/// `steps = false`: no enum (`tests/ui/steps_false.rs` shows that naming it fails).

#[derive(HasTaskManager)]
struct Quiet {
    tasks: TaskManager,
}

#[flow(name = quiet, steps = false)]
impl Quiet {
    #[step]
    async fn only(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn steps_false_generates_no_enum() {
    let quiet = Arc::new(Quiet {
        tasks: TaskManager::new(),
    });
    let outcome = quiet
        .execute_quiet(Passport::new(()))
        .expect("submitted")
        .await;
    assert!(outcome.is_completed());
}

/// A type of the user's named as a flow's enum would be: the user's type keeps the name (the
/// enum is re-exported by a glob, which yields to an item), and nothing clashes.
#[derive(Debug, PartialEq)]
struct ShadowedStep(&'static str);

#[derive(HasTaskManager)]
struct Shadowed {
    tasks: TaskManager,
}

#[flow(name = shadowed)]
impl Shadowed {
    #[step]
    async fn only(&self, _task: &mut Task) -> Result<(), Infallible> {
        Ok(())
    }
}

/// Two flows of one name on two types of one module: each type has its `execute_twin`, and
/// their two `TwinStep` enums cost no error unless the name is used (then it is ambiguous).
#[derive(HasTaskManager)]
struct LeftTwin {
    tasks: TaskManager,
}

#[flow(name = twin)]
impl LeftTwin {
    #[step]
    async fn left(&self, _task: &mut Task) -> Result<&'static str, Infallible> {
        Ok("left")
    }
}

#[derive(HasTaskManager)]
struct RightTwin {
    tasks: TaskManager,
}

#[flow(name = twin)]
impl RightTwin {
    #[step]
    async fn right(&self, _task: &mut Task) -> Result<&'static str, Infallible> {
        Ok("right")
    }
}

#[tokio::test(start_paused = true)]
async fn a_step_enum_never_clashes_with_a_users_type_or_a_namesake_flow() {
    assert_eq!(ShadowedStep("mine"), ShadowedStep("mine"));
    let shadowed = Arc::new(Shadowed {
        tasks: TaskManager::new(),
    });
    let outcome = shadowed
        .execute_shadowed(Passport::new(()))
        .expect("submitted")
        .await;
    assert!(outcome.is_completed());

    let left = Arc::new(LeftTwin {
        tasks: TaskManager::new(),
    });
    let right = Arc::new(RightTwin {
        tasks: TaskManager::new(),
    });
    let left = left.execute_twin(Passport::new(())).expect("submitted");
    let right = right.execute_twin(Passport::new(())).expect("submitted");
    assert_eq!(left.await.into_result().expect("completed"), "left");
    assert_eq!(right.await.into_result().expect("completed"), "right");
}

/// A step that panics, and a cleanup held at a gate.
#[derive(HasTaskManager)]
struct Fragile {
    tasks: TaskManager,
    cleanup_gate: Gate,
}

#[flow(name = fragile)]
impl Fragile {
    #[step(cancel = undo)]
    async fn work(&self, _task: &mut Task) -> Result<(), Infallible> {
        tokio::task::yield_now().await;
        panic!("{PLANNED}: in the step");
    }

    async fn undo(&self, _task: &mut Task, _reason: CancelReason) {
        self.cleanup_gate.pass().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicked_steps_cleanup_shows_the_task_finishing_not_running() {
    silence_planned_panics();
    let fragile = Arc::new(Fragile {
        tasks: TaskManager::new(),
        cleanup_gate: Gate::new(),
    });
    let passport = Passport::new(());
    let id = passport.id();
    let handle = fragile.execute_fragile(passport).expect("submitted");

    fragile.cleanup_gate.arrived().await;
    let status = fragile
        .tasks
        .status(id)
        .expect("registered while its cleanup runs");
    assert_eq!(status.state, TaskState::Finishing);
    assert_eq!(status.step, Some("work"));
    assert_eq!(
        fragile.tasks.snapshot()[0].status.state,
        TaskState::Finishing
    );
    assert_eq!(fragile.tasks.counts("fragile").running, 1);
    // Its ending is decided: a cancel now is too late, and changes nothing.
    assert_eq!(
        fragile.tasks.cancel(id, "too late").status(),
        CancelStatus::AlreadyFinished
    );

    fragile.cleanup_gate.open();
    let outcome = handle.await;
    assert!(matches!(
        outcome.ending(),
        Ending::Panicked { step: "work", .. }
    ));
    assert!(fragile.tasks.status(id).is_none());
}
