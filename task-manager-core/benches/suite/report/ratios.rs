//! The targets, and the comparisons a reader asks for, as ratios of figures from the
//! same run. Where both sides were repeated in turns, the ratio is taken within each
//! repetition and reported as the median with its spread.

use crate::config::HEADLINE_IN_FLIGHT;
use crate::contenders::Which;
use crate::measure::{PerItem, Spread};
use crate::runtime::Flavor;
use crate::scenarios::queue::Variant;
use crate::scenarios::throughput::Clock;
use crate::scenarios::Results;
use crate::steps::Steps;

/// One ratio (or bound) with its target; `value` is `None` while a side is missing.
#[derive(Debug, Clone)]
pub struct Ratio {
    pub name: &'static str,
    pub flavor: Flavor,
    pub value: Option<f64>,
    /// The per-repetition ratios behind `value` (their median), where there are some.
    pub spread: Option<Spread>,
    pub target: Option<Target>,
}

#[derive(Debug, Clone, Copy)]
pub enum Target {
    AtMost(f64),
    AtLeast(f64),
}

impl Target {
    pub fn describe(self) -> String {
        match self {
            Target::AtMost(bound) => format!("<= {bound}"),
            Target::AtLeast(bound) => format!(">= {bound}"),
        }
    }
}

impl Ratio {
    /// Whether the target is met; `None` without a value or a target.
    pub fn met(&self) -> Option<bool> {
        let value = self.value?;
        Some(match self.target? {
            Target::AtMost(bound) => value <= bound,
            Target::AtLeast(bound) => value >= bound,
        })
    }
}

impl Results {
    /// The headline cost: 3 steps, 1,000 in flight (median over the repetitions).
    pub fn headline(&self, which: Which, flavor: Flavor) -> Option<PerItem> {
        self.headline_row(which, flavor).map(|row| row.cost)
    }

    pub fn headline_row(
        &self,
        which: Which,
        flavor: Flavor,
    ) -> Option<&crate::scenarios::throughput::Row> {
        self.throughput_group(flavor, Steps::Three, HEADLINE_IN_FLIGHT)?
            .row(which)
    }

    /// The largest share of the cores other processes took during a throughput row (median
    /// over its repetitions): 0 on a quiet machine.
    pub fn interference(&self) -> Option<f64> {
        self.throughput
            .iter()
            .flat_map(|group| &group.rows)
            .map(|row| row.cost.foreign)
            .reduce(f64::max)
    }

    pub fn ratios(&self) -> Vec<Ratio> {
        use Which::{Library, Plain, Token, Tuned};
        let mut ratios = Vec::new();
        for flavor in Flavor::ALL {
            let headline = self.throughput_group(flavor, Steps::Three, HEADLINE_IN_FLIGHT);
            let per_rep = |numerator, denominator, clock| {
                headline.and_then(|group| group.ratio(numerator, denominator, clock))
            };
            let wall = |which| self.headline(which, flavor).map(|cost| cost.wall_ns);
            let original = self.original.headline().map(|figure| figure.wall_ns);
            let original_microtask = self
                .original
                .figure("microtask", 3, HEADLINE_IN_FLIGHT)
                .map(|figure| figure.wall_ns);
            let cancel = self.cancel_group(flavor);
            let memory = |which| {
                self.memory
                    .iter()
                    .find(|r| r.contender == which && r.flavor == flavor)
            };
            let single = |name, value, target| Ratio {
                name,
                flavor,
                value,
                spread: None,
                target,
            };
            let repeated = |name, spread: Option<Spread>, target| Ratio {
                name,
                flavor,
                value: spread.as_ref().map(|s| s.median),
                spread,
                target,
            };
            ratios.push(repeated(
                "library / token+registry, wall ns/task",
                per_rep(Library, Token, Clock::Wall),
                Some(Target::AtMost(0.8)),
            ));
            ratios.push(repeated(
                "library / token+registry, CPU ns/task",
                per_rep(Library, Token, Clock::Cpu),
                Some(Target::AtMost(0.8)),
            ));
            ratios.push(repeated(
                "library / tuned, wall ns/task",
                per_rep(Library, Tuned, Clock::Wall),
                None,
            ));
            ratios.push(repeated(
                "library / tuned, CPU ns/task",
                per_rep(Library, Tuned, Clock::Cpu),
                None,
            ));
            ratios.push(repeated(
                "token+registry / plain, wall ns/task",
                per_rep(Token, Plain, Clock::Wall),
                None,
            ));
            ratios.push(repeated(
                "tuned / plain, wall ns/task",
                per_rep(Tuned, Plain, Clock::Wall),
                None,
            ));
            ratios.push(repeated(
                "library / plain, wall ns/task",
                per_rep(Library, Plain, Clock::Wall),
                None,
            ));
            ratios.push(repeated(
                "library / token+registry, cancel all",
                cancel.and_then(|group| group.cancel_all_ratio(Library, Token)),
                Some(Target::AtMost(1.2)),
            ));
            ratios.push(repeated(
                "library / tuned, cancel all",
                cancel.and_then(|group| group.cancel_all_ratio(Library, Tuned)),
                None,
            ));
            ratios.push(single(
                "original (setImmediate) / library, wall ns/task",
                divide(original, wall(Library)),
                Some(Target::AtLeast(25.0)),
            ));
            ratios.push(single(
                "original (microtask) / library, wall ns/task",
                divide(original_microtask, wall(Library)),
                None,
            ));
            ratios.push(single(
                "original (setImmediate) / token+registry, wall ns/task",
                divide(original, wall(Token)),
                None,
            ));
            ratios.push(single(
                "library cancel p99, canceller on runtime (ns)",
                cancel
                    .and_then(|group| group.row(Library))
                    .map(|row| row.on_runtime.p99_ns as f64),
                Some(Target::AtMost(1_000.0)),
            ));
            let rss = |which| memory(which).map(|row| row.weight.rss_bytes_per_task);
            ratios.push(single(
                "library / token+registry, RSS bytes per parked task",
                divide(rss(Library), rss(Token)),
                Some(Target::AtMost(0.8)),
            ));
            ratios.push(single(
                "library / tuned, RSS bytes per parked task",
                divide(rss(Library), rss(Tuned)),
                None,
            ));
            let queue = |variant| {
                self.queue
                    .iter()
                    .find(|row| row.variant == variant && row.flavor == flavor)
                    .map(|row| row.cost.wall_ns)
            };
            // Issue 4's goal: the add-on against the hand-written semaphore whose submitter
            // acquires a permit before spawning.
            ratios.push(single(
                "library queue / semaphore acquire before spawn, wall ns/task",
                divide(queue(Variant::Library), queue(Variant::AcquireBeforeSpawn)),
                Some(Target::AtMost(1.1)),
            ));
        }
        ratios
    }
}

fn divide(numerator: Option<f64>, denominator: Option<f64>) -> Option<f64> {
    let (numerator, denominator) = (numerator?, denominator?);
    (denominator > 0.0).then(|| numerator / denominator)
}
