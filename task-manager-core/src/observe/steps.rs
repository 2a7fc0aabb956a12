//! The trait of the step enum that `#[flow]` generates for each flow.

use std::fmt;

/// A flow's steps as a type: `#[flow(name = query)]` generates `enum QueryStep { Prepare,
/// Send }` (one variant per step, in order, named after the step's method in CamelCase) and
/// implements this trait for it. The enum has the same items as inherent `const` items and
/// `const fn`s, so the trait is only needed by generic code.
///
/// Name the enum yourself with `#[flow(name = query, steps = QueryPhase)]`, or do without
/// it with `steps = false`. The enum reaches your module through a glob re-export, so a type
/// of yours with its name keeps that name, and two flows of one name in one module (on two
/// types) cost no error unless you use the name (then rustc calls it ambiguous: rename one
/// enum with `steps = ..`).
///
/// ```
/// use task_manager_core::{flow, FlowStep, HasTaskManager, Task, TaskManager};
///
/// #[derive(HasTaskManager)]
/// struct Queries { tasks: TaskManager }
///
/// #[flow(name = query)]
/// impl Queries {
///     #[step]
///     async fn prepare(&self, _task: &mut Task) -> Result<(), std::io::Error> { Ok(()) }
///     #[step]
///     async fn send(&self, _task: &mut Task) -> Result<(), std::io::Error> { Ok(()) }
/// }
///
/// assert_eq!(QueryStep::ALL, [QueryStep::Prepare, QueryStep::Send]);
/// assert_eq!(QueryStep::Send.name(), "send");
/// assert_eq!(QueryStep::Send.index(), 1);
/// assert_eq!(QueryStep::from_index(1), Some(QueryStep::Send));
/// assert_eq!(QueryStep::from_index(2), None);
/// assert_eq!(<QueryStep as FlowStep>::FLOW, "query");
/// ```
pub trait FlowStep: Copy + Eq + fmt::Debug + Send + Sync + 'static {
    /// The flow's name.
    const FLOW: &'static str;
    /// Every step, in the order they run: `ALL[i].index() == i`.
    const ALL: &'static [Self];

    /// The step's position in the flow (0-based), as in
    /// [`TaskStatus::step_index`](crate::TaskStatus::step_index) and
    /// [`StepRef::index`](crate::StepRef::index).
    fn index(self) -> usize;

    /// The step's name (its method's name).
    fn name(self) -> &'static str;

    /// The step at `index`, if the flow has one there.
    fn from_index(index: usize) -> Option<Self> {
        Self::ALL.get(index).copied()
    }
}
