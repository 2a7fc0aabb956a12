//! How the throughput scenario keeps a number of tasks in flight.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::contender::Contender;
use crate::steps::Steps;

/// Two ways to keep `in_flight` tasks running; every contender is driven the same way.
///
/// On a quiet 2-core machine both give the same multi_thread figures within 10%; the window
/// costs less on current_thread (no client task to wake per join), so more of what it
/// measures is the contender's own cost. Hence the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// One driver task with a FIFO window: spawn until `in_flight` are running, then join the
    /// oldest before spawning the next.
    Window,
    /// `in_flight` client tasks, each spawning and joining its share of the tasks one after
    /// another: a server with that many concurrent requests. The original's node script is
    /// written this way.
    Clients,
}

impl Driver {
    pub fn name(self) -> &'static str {
        match self {
            Driver::Clients => "clients",
            Driver::Window => "window",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Driver::Clients, Driver::Window]
            .into_iter()
            .find(|driver| driver.name() == name)
    }

    pub async fn drive<C: Contender>(
        self,
        contender: Arc<C>,
        tasks: usize,
        in_flight: usize,
        steps: Steps,
    ) {
        let wrong = match self {
            Driver::Clients => clients(contender, tasks, in_flight, steps).await,
            Driver::Window => window(contender, tasks, in_flight, steps).await,
        };
        assert_eq!(wrong, 0, "{wrong} tasks returned a wrong output");
    }
}

/// Returns how many tasks returned a wrong output.
async fn clients<C: Contender>(
    contender: Arc<C>,
    tasks: usize,
    in_flight: usize,
    steps: Steps,
) -> usize {
    let clients = in_flight.clamp(1, tasks.max(1));
    let handles: Vec<_> = (0..clients)
        .map(|client| {
            // Whole shares, the remainder spread over the first clients.
            let share = tasks / clients + usize::from(client < tasks % clients);
            let contender = contender.clone();
            tokio::spawn(async move {
                let mut wrong = 0;
                for _ in 0..share {
                    wrong += usize::from(contender.spawn(steps).await != steps.expected_output());
                }
                wrong
            })
        })
        .collect();
    let mut wrong = 0;
    for handle in handles {
        wrong += handle.await.expect("client task panicked");
    }
    wrong
}

async fn window<C: Contender>(
    contender: Arc<C>,
    tasks: usize,
    in_flight: usize,
    steps: Steps,
) -> usize {
    let mut window = VecDeque::with_capacity(in_flight.min(tasks));
    let mut wrong = 0;
    for _ in 0..tasks {
        if window.len() == in_flight {
            if let Some(oldest) = window.pop_front() {
                wrong += usize::from(oldest.await != steps.expected_output());
            }
        }
        window.push_back(contender.spawn(steps));
    }
    while let Some(task) = window.pop_front() {
        wrong += usize::from(task.await != steps.expected_output());
    }
    wrong
}
