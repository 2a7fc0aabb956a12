//! The targets as ratios of figures from the same run.

use crate::config::HEADLINE_IN_FLIGHT;
use crate::contenders::Which;
use crate::measure::PerItem;
use crate::runtime::Flavor;
use crate::scenarios::queue::Variant;
use crate::scenarios::Results;
use crate::steps::Steps;

/// One ratio (or bound) with its target; `value` is `None` while a side is missing.
#[derive(Debug, Clone)]
pub struct Ratio {
    pub name: &'static str,
    pub flavor: Flavor,
    pub value: Option<f64>,
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
    /// The headline cost: 3 steps, 1,000 in flight.
    pub fn headline(&self, which: Which, flavor: Flavor) -> Option<PerItem> {
        self.throughput
            .iter()
            .find(|row| {
                row.contender == which
                    && row.shape.flavor == flavor
                    && row.shape.steps == Steps::Three
                    && row.shape.in_flight == HEADLINE_IN_FLIGHT
            })
            .map(|row| row.cost)
    }

    /// The largest share of the cores other processes took during a throughput row (median
    /// over its repetitions): 0 on a quiet machine.
    pub fn interference(&self) -> Option<f64> {
        self.throughput
            .iter()
            .map(|row| row.cost.foreign)
            .reduce(f64::max)
    }

    pub fn ratios(&self) -> Vec<Ratio> {
        let mut ratios = Vec::new();
        for flavor in Flavor::ALL {
            let wall = |which| self.headline(which, flavor).map(|cost| cost.wall_ns);
            let cpu = |which| self.headline(which, flavor).map(|cost| cost.cpu_ns);
            let original = self.original.headline().map(|figure| figure.wall_ns);
            let original_microtask = self
                .original
                .figure("microtask", 3, HEADLINE_IN_FLIGHT)
                .map(|figure| figure.wall_ns);
            let cancel = |which| {
                self.cancel
                    .iter()
                    .find(|r| r.contender == which && r.flavor == flavor)
            };
            let memory = |which| {
                self.memory
                    .iter()
                    .find(|r| r.contender == which && r.flavor == flavor)
            };
            let mut push = |name, value, target| {
                ratios.push(Ratio {
                    name,
                    flavor,
                    value,
                    target,
                })
            };
            push(
                "library / token+registry, wall ns/task",
                divide(wall(Which::Library), wall(Which::Token)),
                Some(Target::AtMost(0.8)),
            );
            push(
                "library / token+registry, CPU ns/task",
                divide(cpu(Which::Library), cpu(Which::Token)),
                Some(Target::AtMost(0.8)),
            );
            push(
                "original (setImmediate) / library, wall ns/task",
                divide(original, wall(Which::Library)),
                Some(Target::AtLeast(25.0)),
            );
            push(
                "original (microtask) / library, wall ns/task",
                divide(original_microtask, wall(Which::Library)),
                None,
            );
            push(
                "original (setImmediate) / token+registry, wall ns/task",
                divide(original, wall(Which::Token)),
                None,
            );
            push(
                "token+registry / plain, wall ns/task",
                divide(wall(Which::Token), wall(Which::Plain)),
                None,
            );
            push(
                "library / plain, wall ns/task",
                divide(wall(Which::Library), wall(Which::Plain)),
                None,
            );
            push(
                "library cancel p99, canceller on runtime (ns)",
                cancel(Which::Library).map(|row| row.on_runtime.p99_ns as f64),
                Some(Target::AtMost(1_000.0)),
            );
            let cancel_all = |which| cancel(which).map(|row| row.cancel_all.as_nanos() as f64);
            push(
                "library / token+registry, cancel all",
                divide(cancel_all(Which::Library), cancel_all(Which::Token)),
                Some(Target::AtMost(1.2)),
            );
            let rss = |which| memory(which).map(|row| row.rss_bytes_per_task);
            push(
                "library / token+registry, RSS bytes per parked task",
                divide(rss(Which::Library), rss(Which::Token)),
                Some(Target::AtMost(0.8)),
            );
            let queue = |variant| {
                self.queue
                    .iter()
                    .find(|row| row.variant == variant && row.flavor == flavor)
                    .map(|row| row.cost.wall_ns)
            };
            // Issue 4's goal: the add-on against the hand-written semaphore whose submitter
            // acquires a permit before spawning.
            push(
                "library queue / semaphore acquire before spawn, wall ns/task",
                divide(queue(Variant::Library), queue(Variant::AcquireBeforeSpawn)),
                Some(Target::AtMost(1.1)),
            );
        }
        ratios
    }
}

fn divide(numerator: Option<f64>, denominator: Option<f64>) -> Option<f64> {
    let (numerator, denominator) = (numerator?, denominator?);
    (denominator > 0.0).then(|| numerator / denominator)
}
