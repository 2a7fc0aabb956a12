//! Contract 2: runtime info written by a step is seen by later steps, by the cleanup, and in
//! the outcome.

use std::convert::Infallible;
use std::sync::Arc;

use task_manager_core::{flow, CancelReason, HasTaskManager, Passport, Task, TaskManager};
use task_manager_support::{Gate, Journal};

/// Typed runtime info: what the steps learn while they run.
#[derive(Debug, Default, Clone, PartialEq)]
struct UploadInfo {
    session: Option<u32>,
    bytes_sent: usize,
    aborted_session: Option<u32>,
}

type UploadTask = Task<Vec<u8>, UploadInfo>;

#[derive(HasTaskManager)]
struct Uploads {
    tasks: TaskManager,
    journal: Journal,
    /// Where `send` waits; the tests park it there to cancel it.
    sending: Gate,
}

#[flow(name = upload)]
impl Uploads {
    #[step]
    async fn open(&self, task: &mut UploadTask) -> Result<(), Infallible> {
        task.info_mut().session = Some(41);
        tokio::task::yield_now().await;
        task.info_mut().session = Some(42); // the last write is the one that counts
        Ok(())
    }

    #[step(cancel = abort_send)]
    async fn send(&self, task: &mut UploadTask) -> Result<usize, Infallible> {
        self.journal
            .record(format!("send sees session {:?}", task.info().session));
        task.info_mut().bytes_sent = task.payload().len() / 2;
        self.sending.pass().await;
        task.info_mut().bytes_sent = task.payload().len();
        Ok(task.info().bytes_sent)
    }

    async fn abort_send(&self, task: &mut UploadTask, reason: CancelReason) {
        self.journal.record(format!(
            "abort_send sees session {:?} and {} bytes sent ({reason})",
            task.info().session,
            task.info().bytes_sent
        ));
        task.info_mut().aborted_session = task.info().session;
    }
}

fn uploads() -> Arc<Uploads> {
    Arc::new(Uploads {
        tasks: TaskManager::new(),
        journal: Journal::new(),
        sending: Gate::new(),
    })
}

#[tokio::test(start_paused = true)]
async fn a_later_step_and_the_outcome_see_what_earlier_steps_wrote() {
    let uploads = uploads();
    uploads.sending.open();
    let outcome = uploads
        .execute_upload(Passport::new(vec![0; 10]))
        .expect("submitted")
        .await;

    assert_eq!(uploads.journal.entries(), ["send sees session Some(42)"]);
    assert_eq!(
        outcome.report().info,
        UploadInfo {
            session: Some(42),
            bytes_sent: 10,
            aborted_session: None
        }
    );
    assert_eq!(outcome.into_result().expect("completed"), 10);
}

#[tokio::test(start_paused = true)]
async fn the_cleanup_sees_the_info_and_its_own_writes_reach_the_outcome() {
    let uploads = uploads();
    let passport = Passport::new(vec![0; 10]);
    let id = passport.id();
    let handle = uploads.execute_upload(passport).expect("submitted");
    uploads.sending.arrived().await;

    let _ = uploads.tasks.cancel(id, "user left").await;
    let outcome = handle.await;

    assert_eq!(
        uploads.journal.entries(),
        [
            "send sees session Some(42)",
            "abort_send sees session Some(42) and 5 bytes sent (cancelled: user left)"
        ]
    );
    assert!(outcome.is_cancelled());
    assert_eq!(
        outcome.report().info,
        UploadInfo {
            session: Some(42),
            bytes_sent: 5, // written by the interrupted step before it was stopped
            aborted_session: Some(42), // written by the cleanup
        }
    );
}
