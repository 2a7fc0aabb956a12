//! Every contender the suite measures, and the names they go by in tables and JSON.

pub mod empty;
pub mod library;
pub mod plain;
pub mod token;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Spawn + join of an empty task: the floor.
    Empty,
    /// Baseline (a): 3-step task, no cancel support.
    Plain,
    /// Baseline (b): token raced on every step + registry.
    Token,
    Library,
}

impl Which {
    pub const ALL: [Which; 4] = [Which::Empty, Which::Plain, Which::Token, Which::Library];

    pub fn name(self) -> &'static str {
        match self {
            Which::Empty => "empty",
            Which::Plain => "plain",
            Which::Token => "token+registry",
            Which::Library => "library",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Which::Empty => "spawn + join of an empty task (floor)",
            Which::Plain => "hand-written, no cancel support",
            Which::Token => "hand-written, CancellationToken + select! + registry",
            Which::Library => "task-manager-core #[flow]",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Which::ALL.into_iter().find(|which| which.name() == name)
    }
}
