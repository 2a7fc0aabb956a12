//! The two tokio runtimes every scenario runs on.

use tokio::runtime::{Builder, Runtime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    CurrentThread,
    MultiThread,
}

impl Flavor {
    pub const ALL: [Flavor; 2] = [Flavor::CurrentThread, Flavor::MultiThread];

    pub fn name(self) -> &'static str {
        match self {
            Flavor::CurrentThread => "current_thread",
            Flavor::MultiThread => "multi_thread",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Flavor::ALL.into_iter().find(|flavor| flavor.name() == name)
    }

    /// A fresh runtime per measurement, so no scenario inherits another's queues or memory.
    /// Drivers are enabled as a real application would have them: with a time driver the
    /// runtime parks in the driver, which changes the cost of a wake-up from outside.
    pub fn runtime(self) -> Runtime {
        let mut builder = match self {
            Flavor::CurrentThread => Builder::new_current_thread(),
            // Default worker count: one per core, two on the reference machine.
            Flavor::MultiThread => Builder::new_multi_thread(),
        };
        builder
            .enable_all()
            .build()
            .expect("building a tokio runtime")
    }
}
