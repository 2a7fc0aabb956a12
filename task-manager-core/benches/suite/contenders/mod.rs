//! Every contender the suite measures, and the names they go by in tables and JSON.

pub mod empty;
pub mod library;
pub mod plain;
pub mod registry;
pub mod token;
pub mod tuned;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Spawn + join of an empty task: the floor.
    Empty,
    /// Baseline (a): 3-step task, no cancel support.
    Plain,
    /// Baseline (b): token raced on every step + registry.
    Token,
    /// Baseline (c): an atomic flag + `AtomicWaker` checked around every step + registry.
    Tuned,
    Library,
}

impl Which {
    pub const ALL: [Which; 5] = [
        Which::Empty,
        Which::Plain,
        Which::Token,
        Which::Tuned,
        Which::Library,
    ];

    /// The hand-written contenders the library is compared with, ratio by ratio.
    pub const BASELINES: [Which; 2] = [Which::Token, Which::Tuned];

    pub fn name(self) -> &'static str {
        match self {
            Which::Empty => "empty",
            Which::Plain => "plain",
            Which::Token => "token+registry",
            Which::Tuned => "tuned",
            Which::Library => "library",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Which::Empty => "spawn + join of an empty task (floor)",
            Which::Plain => "hand-written, no cancel support",
            Which::Token => "hand-written, CancellationToken + select! + registry",
            Which::Tuned => "hand-written, AtomicBool + AtomicWaker checked per poll + registry",
            Which::Library => "task-manager-core #[flow]",
        }
    }

    /// Whether its tasks can be parked (memory scenario) and cancelled (cancel scenario).
    pub fn parks(self) -> bool {
        self != Which::Empty
    }

    pub fn cancels(self) -> bool {
        matches!(self, Which::Token | Which::Tuned | Which::Library)
    }

    pub fn parse(name: &str) -> Option<Self> {
        Which::ALL.into_iter().find(|which| which.name() == name)
    }
}
