//! `tracing`: one span per task and one under it per step, with the outcome and the cancel
//! reason recorded; the step's own logs nest under its span; and nothing of the runner's
//! when the subscriber does not want it.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use task_manager_core::{flow, CancelReason, HasTaskManager, Passport, Task, TaskManager};
use task_manager_support::Gate;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{filter, Layer};

/// The tests install thread-local subscribers; `tracing` caches each call site's interest
/// across all of them, so they take turns rather than race on that cache.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A layer that writes what happens to spans and events as lines.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

impl Capture {
    fn lines(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn push(&self, line: String) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
    }
}

/// Writes ` name=value` for each field but `id` (random) and `duration`.
#[derive(Default)]
struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "id" | "duration" => {}
            "message" => {
                let _ = write!(self.0, " {value:?}"); // a message's Debug is its plain text
            }
            name => {
                let _ = write!(self.0, " {name}={value:?}");
            }
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let parent = attrs
            .parent()
            .and_then(|id| ctx.span(id))
            .or_else(|| {
                attrs
                    .is_contextual()
                    .then(|| ctx.lookup_current())
                    .flatten()
            })
            .map_or(String::new(), |span| format!(" in {}", span.name()));
        self.push(format!(
            "open {}{}{parent}",
            attrs.metadata().name(),
            fields.0
        ));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        values.record(&mut fields);
        let name = ctx.span(id).map_or("?", |span| span.name());
        self.push(format!("record {name}{}", fields.0));
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let scope = ctx
            .event_scope(event)
            .map(|scope| scope.map(|span| span.name()).collect::<Vec<_>>().join("<"))
            .unwrap_or_default();
        self.push(format!("event{} in [{scope}]", fields.0));
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let name = ctx.span(&id).map_or("?", |span| span.name());
        self.push(format!("close {name}"));
    }
}

#[derive(HasTaskManager)]
struct Traced {
    tasks: TaskManager,
    gate: Gate,
}

#[flow(name = traced)]
impl Traced {
    #[step]
    async fn a(&self, _task: &mut Task<u32>) -> Result<(), Infallible> {
        tracing::info!("inside a");
        Ok(())
    }

    #[step(cancel = clean_b)]
    async fn b(&self, _task: &mut Task<u32>) -> Result<(), Infallible> {
        self.gate.pass().await;
        Ok(())
    }

    async fn clean_b(&self, _task: &mut Task<u32>, _reason: CancelReason) {
        tracing::info!("cleaning b");
    }
}

#[tokio::test(start_paused = true)]
async fn a_task_has_a_span_with_a_child_span_per_step_recording_outcome_and_cancel() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let capture = Capture::default();
    let _default = tracing::subscriber::set_default(
        tracing_subscriber::registry()
            .with(capture.clone().with_filter(filter::LevelFilter::DEBUG)),
    );
    let traced = Arc::new(Traced {
        tasks: TaskManager::new(),
        gate: Gate::new(),
    });
    let passport = Passport::new(7_u32);
    let id = passport.id();
    let handle = traced.execute_traced(passport).expect("submitted");
    traced.gate.arrived().await;
    traced.tasks.cancel(id, "stop");
    assert!(handle.await.is_cancelled());

    assert_eq!(
        capture.lines(),
        [
            "open task flow=traced payload=u32",
            "open step step=a index=0 in task",
            "event inside a in [step<task]",
            "record step outcome=completed",
            "event step finished step=a outcome=completed in [step<task]",
            "close step",
            "open step step=b index=1 in task",
            "record task cancel_reason=cancelled: stop",
            "record task cancelled_by=a cancel request",
            "record step cancel_reason=cancelled: stop",
            "event cancel requested reason=cancelled: stop by=a cancel request in [step<task]",
            "record step outcome=cancelled",
            "event step finished step=b outcome=cancelled in [step<task]",
            "event cleanup started step=b reason=cancelled: stop in [step<task]",
            "event cleaning b in [step<task]",
            "event cleanup finished step=b in [step<task]",
            "record task ending=cancelled: stop at step `b`",
            "event task finished ending=cancelled: stop at step `b` in [task]",
            "close step",
            "close task",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_subscriber_that_wants_none_of_the_runner_s_spans_gets_only_the_steps_own_logs() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let capture = Capture::default();
    let not_the_runner = filter::filter_fn(|meta| meta.target() != "task_manager");
    let _default = tracing::subscriber::set_default(
        tracing_subscriber::registry().with(capture.clone().with_filter(not_the_runner)),
    );
    let traced = Arc::new(Traced {
        tasks: TaskManager::new(),
        gate: Gate::new(),
    });
    traced.gate.open();
    let outcome = traced
        .execute_traced(Passport::new(1))
        .expect("submitted")
        .await;
    assert!(outcome.is_completed());
    assert_eq!(capture.lines(), ["event inside a in []"]);
}

#[derive(Debug, thiserror::Error)]
#[error("busy")]
struct Busy;

fn twice() -> task_manager_core::Retry<Busy> {
    task_manager_core::Retry::attempts(2).fixed(std::time::Duration::from_millis(10))
}

#[derive(HasTaskManager)]
struct Retried {
    tasks: TaskManager,
    calls: std::sync::atomic::AtomicU32,
}

#[flow(name = retried)]
impl Retried {
    #[step(retry = twice, compensate = undo)]
    async fn call(&self, _task: &mut Task) -> Result<u32, Busy> {
        match self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 => Err(Busy),
            n => Ok(n),
        }
    }

    #[step]
    async fn fail(&self, _task: &mut Task, _n: u32) -> Result<u32, Busy> {
        Err(Busy)
    }

    async fn undo(&self, _task: &mut Task, _n: u32) {}
}

#[tokio::test(start_paused = true)]
async fn attempts_and_compensations_are_traced() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let capture = Capture::default();
    let _default = tracing::subscriber::set_default(
        tracing_subscriber::registry()
            .with(capture.clone().with_filter(filter::LevelFilter::DEBUG)),
    );
    let retried = Arc::new(Retried {
        tasks: TaskManager::new(),
        calls: std::sync::atomic::AtomicU32::new(0),
    });
    let outcome = retried
        .execute_retried(Passport::new(()))
        .expect("submitted")
        .await;
    assert!(!outcome.is_completed());
    let lines = capture.lines();
    assert!(
        lines.contains(
            &"event step attempt failed; retrying step=call attempt=1 delay=10ms error=busy in [step<task]"
                .to_string()
        ),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("event compensation finished step=call")),
        "{lines:#?}"
    );
}
