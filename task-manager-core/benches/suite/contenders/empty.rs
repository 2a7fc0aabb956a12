//! The floor under everything: spawn a task that does nothing and join it.

use std::future::Future;
use std::mem::size_of_val;

use crate::contender::Contender;
use crate::steps::Steps;

pub struct Empty;

impl Contender for Empty {
    fn spawn(&self, steps: Steps) -> impl Future<Output = u64> + Send + 'static {
        // Returns what a flow would, so the driver's check stays the same for everyone.
        let output = steps.expected_output();
        let handle = tokio::spawn(async move { output });
        async move { handle.await.expect("empty task panicked") }
    }

    fn task_future_size(&self, steps: Steps) -> Option<usize> {
        let output = steps.expected_output();
        Some(size_of_val(&async move { output }))
    }
}
