//! The benchmark flow's shape: how many steps, and what one hand-written step does.

/// Flow lengths the suite measures. A closed set because the library's flows are generated at
/// compile time, one `#[flow]` per length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steps {
    One,
    Three,
    Ten,
}

impl Steps {
    pub fn count(self) -> usize {
        match self {
            Steps::One => 1,
            Steps::Three => 3,
            Steps::Ten => 10,
        }
    }

    pub fn from_count(count: usize) -> Self {
        match count {
            1 => Steps::One,
            3 => Steps::Three,
            10 => Steps::Ten,
            other => panic!("the library flows have 1, 3 or 10 steps, not {other}"),
        }
    }

    /// What a flow of this length returns: every step adds one to its input.
    pub fn expected_output(self) -> u64 {
        self.count() as u64
    }
}

/// One hand-written step: yields to the scheduler once, like the library's benchmark steps.
pub async fn step(input: u64) -> u64 {
    tokio::task::yield_now().await;
    input + 1
}
