//! When each begun step of a task ran, kept compactly while the task runs and handed to its
//! report as it is: no allocation for flows of up to four steps.

use std::time::Duration;

use tokio::time::Instant;

use crate::flow::FlowInfo;
use crate::report::{StepEnd, StepRecord};

/// How many steps fit without an allocation. Most flows are two to four steps long.
const INLINE: usize = 4;

/// One begun step: when it began and when it ended, in nanoseconds since submission.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    start: u64,
    end: u64,
}

/// The begun steps of one task, in order, as offsets from its submission (the submission
/// instant itself is kept once, in the task's shared state). Every step but the last
/// completed (a task stops at the first step that does not), so one `StepEnd` describes them
/// all.
#[derive(Debug, Clone)]
pub(crate) struct Timeline {
    len: u16,
    last_end: StepEnd,
    /// A step was retried, and its attempts are kept in the task's cell for the report (a
    /// byte of what was padding: a task without retries reads it once, at its end).
    pub(crate) retried: bool,
    /// Compensations ran, and are kept in the task's cell for the report.
    pub(crate) compensated: bool,
    /// Whether steps' starts and ends are read from the clock (`#[flow(report = minimal)]`
    /// with nobody listening says no: the spans stay zero). A byte of what was padding.
    timed: bool,
    /// The offset at which the last step ended, while nothing has happened since: the next
    /// step begins then, or the task ends then, without reading the clock again. `NONE`
    /// otherwise.
    resume_at: u64,
    inline: [Span; INLINE],
    /// Steps past the first `INLINE`, for long flows.
    #[allow(clippy::box_collection)] // eight bytes in every task instead of twenty-four
    spilled: Option<Box<Vec<Span>>>,
}

const NONE: u64 = u64::MAX;

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            len: 0,
            last_end: StepEnd::Completed,
            retried: false,
            compensated: false,
            timed: true,
            resume_at: NONE,
            inline: [Span::default(); INLINE],
            spilled: None,
        }
    }
}

impl Timeline {
    /// A timeline that reads the clock at each step's start and end if `timed`, and records
    /// only which steps began and how the last one ended otherwise.
    pub(crate) fn new(timed: bool) -> Self {
        Timeline {
            timed,
            ..Timeline::default()
        }
    }

    /// Whether the steps' times are measured.
    pub(crate) fn is_timed(&self) -> bool {
        self.timed
    }

    /// A step begins now. Right after the previous step ended (nothing awaited in between)
    /// that instant is reused: one clock read per step instead of two.
    /// Returns when it began, in nanoseconds since submission (`None` if the steps are not
    /// timed): what a time limit counts from.
    #[inline]
    pub(crate) fn begin(&mut self, submitted_at: Instant) -> Option<u64> {
        if !self.timed {
            self.push(Span::default());
            return None;
        }
        let start = self.now(submitted_at);
        self.push(Span { start, end: start });
        Some(start)
    }

    /// The offset of now: the instant the last step ended if nothing has happened since (the
    /// task ends in the same poll as its last step), else read from the clock.
    pub(crate) fn now(&mut self, submitted_at: Instant) -> u64 {
        match std::mem::replace(&mut self.resume_at, NONE) {
            NONE => offset(submitted_at, Instant::now()),
            at => at,
        }
    }

    /// The step that began last ended now, in this way; returns how long it ran.
    pub(crate) fn end(&mut self, submitted_at: Instant, how: StepEnd) -> Duration {
        if !self.timed {
            self.last_end = how;
            return Duration::ZERO;
        }
        let end = offset(submitted_at, Instant::now());
        let mut ran = Duration::ZERO;
        if let Some(span) = self.last_mut() {
            span.end = end;
            ran = Duration::from_nanos(end.saturating_sub(span.start));
        }
        self.last_end = how;
        self.resume_at = end;
        ran
    }

    /// `count` steps were done before this run began (a task resumed on the instance that
    /// claimed it from a lost one): each is recorded as completed, with no time here.
    pub(crate) fn done_elsewhere(&mut self, count: usize) {
        for _ in 0..count {
            self.push(Span::default());
        }
        self.last_end = StepEnd::Completed;
    }

    /// Something was awaited since the last step ended (a resource, a cleanup): the next
    /// instant is read from the clock.
    pub(crate) fn interrupt(&mut self) {
        self.resume_at = NONE;
    }

    /// When the step that began last began (`None` if the steps are not timed).
    pub(crate) fn last_start(&self, submitted_at: Instant) -> Option<Instant> {
        let start = self.last_start_offset()?;
        Some(submitted_at + Duration::from_nanos(start))
    }

    /// When the step that began last began, in nanoseconds since the task's submission
    /// (`None` if the steps are not timed).
    #[inline]
    pub(crate) fn last_start_offset(&self) -> Option<u64> {
        if !self.timed {
            return None;
        }
        Some(self.span(self.len().checked_sub(1)?)?.start)
    }

    /// How many steps began.
    pub(crate) fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// How many steps completed.
    pub(crate) fn completed(&self) -> usize {
        match self.last_end {
            StepEnd::Completed => self.len(),
            _ => self.len().saturating_sub(1),
        }
    }

    /// The record of the `index`-th begun step.
    pub(crate) fn record(
        &self,
        flow: &FlowInfo,
        submitted_at: Instant,
        index: usize,
    ) -> Option<StepRecord> {
        let span = self.span(index)?;
        let end = if index + 1 == self.len() {
            self.last_end
        } else {
            StepEnd::Completed
        };
        Some(StepRecord {
            name: flow.step_name(index),
            started_at: submitted_at + Duration::from_nanos(span.start),
            duration: Duration::from_nanos(span.end.saturating_sub(span.start)),
            end,
        })
    }

    fn span(&self, index: usize) -> Option<Span> {
        if index >= self.len() {
            return None;
        }
        match index.checked_sub(INLINE) {
            None => self.inline.get(index).copied(),
            Some(past) => self.spilled.as_ref()?.get(past).copied(),
        }
    }

    fn last_mut(&mut self) -> Option<&mut Span> {
        let index = self.len().checked_sub(1)?;
        match index.checked_sub(INLINE) {
            None => self.inline.get_mut(index),
            Some(past) => self.spilled.as_mut()?.get_mut(past),
        }
    }

    fn push(&mut self, span: Span) {
        let len = self.len();
        match self.inline.get_mut(len) {
            Some(slot) => *slot = span,
            None => self.spilled.get_or_insert_with(Box::default).push(span),
        }
        self.len = self.len.saturating_add(1);
    }
}

/// Nanoseconds from `base` to `now`; 2^64 ns is 584 years, longer than any task runs.
pub(crate) fn offset(base: Instant, now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(base).as_nanos()).unwrap_or(NONE - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::StepInfo;

    static FLOW: FlowInfo = FlowInfo::new(
        "long",
        &[
            StepInfo::new("a"),
            StepInfo::new("b"),
            StepInfo::new("c"),
            StepInfo::new("d"),
            StepInfo::new("e"),
            StepInfo::new("f"),
        ],
    );

    #[tokio::test(start_paused = true)]
    async fn records_each_step_with_its_own_duration_past_the_inline_ones() {
        let base = Instant::now();
        let mut timeline = Timeline::default();
        for (index, millis) in [1u64, 2, 3, 4, 5, 6].into_iter().enumerate() {
            tokio::time::advance(Duration::from_millis(10)).await;
            timeline.interrupt(); // a gap before each step
            timeline.begin(base);
            tokio::time::advance(Duration::from_millis(millis)).await;
            let how = if index == 5 {
                StepEnd::Cancelled
            } else {
                StepEnd::Completed
            };
            assert_eq!(timeline.end(base, how), Duration::from_millis(millis));
        }
        assert_eq!(timeline.len(), 6);
        assert_eq!(timeline.completed(), 5);
        let durations: Vec<u64> = (0..6)
            .map(|i| {
                timeline
                    .record(&FLOW, base, i)
                    .unwrap()
                    .duration
                    .as_millis() as u64
            })
            .collect();
        assert_eq!(durations, [1, 2, 3, 4, 5, 6]);
        let f = timeline.record(&FLOW, base, 5).unwrap();
        assert_eq!((f.name, f.end), ("f", StepEnd::Cancelled));
        assert_eq!(f.started_at, base + Duration::from_millis(10 * 6 + 15));
        assert_eq!(
            timeline.record(&FLOW, base, 4).unwrap().end,
            StepEnd::Completed
        );
        assert!(timeline.record(&FLOW, base, 6).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_step_begins_when_it_is_first_polled_not_at_submission() {
        let base = Instant::now();
        let mut timeline = Timeline::default();
        tokio::time::advance(Duration::from_millis(7)).await; // queued
        timeline.begin(base);
        assert_eq!(
            timeline.record(&FLOW, base, 0).unwrap().started_at,
            base + Duration::from_millis(7)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_next_step_begins_when_the_previous_one_ended() {
        let base = Instant::now();
        let mut timeline = Timeline::default();
        timeline.begin(base);
        tokio::time::advance(Duration::from_millis(3)).await;
        timeline.end(base, StepEnd::Completed);
        tokio::time::advance(Duration::from_millis(1)).await; // glue between steps, not a wait
        timeline.begin(base);
        let second = timeline.record(&FLOW, base, 1).unwrap();
        assert_eq!(second.started_at, base + Duration::from_millis(3));
    }
}
