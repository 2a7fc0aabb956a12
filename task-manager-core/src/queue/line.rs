//! The waiting line of a [`PermitQueue`](super::permits::PermitQueue): higher priority
//! first, then arrival order, with O(1) entry and exit at the ends and a cheap leave from
//! the middle.
//!
//! A balanced tree keyed by (priority, arrival) does all of that in O(log n), but a queue
//! holds up to its capacity (thousands of tasks submitted at once), and every entry into a
//! tree that deep walks several nodes: it would be the queue add-on's largest cost per task.
//! Here each priority level is a `VecDeque` in arrival order (arrival numbers only grow, so each
//! level is sorted by them), and the levels sit in a small `BTreeMap` (most lines have one):
//! - entering is a push at the back of its level;
//! - the first waiter is at the front of the first level;
//! - leaving from the middle (a task cancelled while queued) finds the place by binary
//!   search and leaves a hole there instead of shifting everyone behind it. Holes are
//!   dropped when they reach the front, or all at once when they outnumber the waiters, so
//!   the memory they hold stays within a constant factor of the line's length.

use std::cmp::Reverse;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// A place in the line: lower keys go first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    pub(crate) rank: Reverse<i32>,
    pub(crate) seq: u64,
}

/// Holes are dropped all at once only past this many, so that a small line never compacts.
const COMPACT_AFTER: usize = 64;

pub(crate) struct Line<W> {
    levels: BTreeMap<Reverse<i32>, VecDeque<Place<W>>>,
    /// Places that hold a waiter (not holes).
    len: usize,
    /// Places that are holes.
    holes: usize,
}

struct Place<W> {
    seq: u64,
    /// `None`: a hole, left by a waiter that left from the middle.
    waiter: Option<Arc<W>>,
}

impl<W> Default for Line<W> {
    fn default() -> Self {
        Line {
            levels: BTreeMap::new(),
            len: 0,
            holes: 0,
        }
    }
}

impl<W> Line<W> {
    /// How many waiters the line holds (holes not counted).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Puts `waiter` at `key`. Keys must be entered in increasing `seq` order.
    pub(crate) fn push(&mut self, key: Key, waiter: Arc<W>) {
        let level = self.levels.entry(key.rank).or_default();
        debug_assert!(level.back().is_none_or(|last| last.seq < key.seq));
        level.push_back(Place {
            seq: key.seq,
            waiter: Some(waiter),
        });
        self.len += 1;
    }

    /// Takes the first waiter out of the line.
    pub(crate) fn pop_first(&mut self) -> Option<Arc<W>> {
        loop {
            let mut first = self.levels.first_entry()?;
            let level = first.get_mut();
            let place = level.pop_front();
            if level.is_empty() {
                first.remove();
            }
            match place?.waiter {
                None => self.holes -= 1,
                Some(waiter) => {
                    self.len -= 1;
                    return Some(waiter);
                }
            }
        }
    }

    /// Takes the waiter at `key` out of the line, if it is still there.
    pub(crate) fn remove(&mut self, key: Key) -> Option<Arc<W>> {
        let level = self.levels.get_mut(&key.rank)?;
        let index = level
            .binary_search_by_key(&key.seq, |place| place.seq)
            .ok()?;
        let waiter = level[index].waiter.take()?;
        self.len -= 1;
        self.holes += 1;
        if self.holes > COMPACT_AFTER && self.holes > self.len {
            self.retain(|_| true);
        }
        Some(waiter)
    }

    /// Keeps only the waiters for which `keep` says yes; drops every hole.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&W) -> bool) {
        for level in self.levels.values_mut() {
            level.retain(|place| place.waiter.as_deref().is_some_and(&mut keep));
        }
        self.levels.retain(|_, level| !level.is_empty());
        self.len = self.levels.values().map(VecDeque::len).sum();
        self.holes = 0;
    }

    /// The waiters in line order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Arc<W>> {
        self.levels
            .values()
            .flat_map(|level| level.iter().filter_map(|place| place.waiter.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(priority: i32, seq: u64) -> Key {
        Key {
            rank: Reverse(priority),
            seq,
        }
    }

    fn names(line: &Line<&'static str>) -> Vec<&'static str> {
        line.iter().map(|name| **name).collect()
    }

    #[test]
    fn higher_priorities_first_then_arrival_order() {
        let mut line = Line::default();
        for (seq, (priority, name)) in [(0, "a"), (5, "b"), (0, "c"), (5, "d"), (-1, "e")]
            .into_iter()
            .enumerate()
        {
            line.push(key(priority, seq as u64), Arc::new(name));
        }
        assert_eq!(names(&line), ["b", "d", "a", "c", "e"]);
        let popped: Vec<_> = std::iter::from_fn(|| line.pop_first().map(|name| *name)).collect();
        assert_eq!(popped, ["b", "d", "a", "c", "e"]);
        assert_eq!((line.len(), line.levels.len()), (0, 0), "empty levels go");
    }

    #[test]
    fn leaving_from_the_middle_leaves_a_hole_that_the_front_skips() {
        let mut line = Line::default();
        for (seq, name) in ["a", "b", "c"].into_iter().enumerate() {
            line.push(key(0, seq as u64), Arc::new(name));
        }
        assert_eq!(line.remove(key(0, 1)).map(|name| *name), Some("b"));
        assert_eq!(line.remove(key(0, 1)), None, "already gone");
        assert_eq!(line.remove(key(3, 1)), None, "no such level");
        assert_eq!((line.len(), line.holes), (2, 1));
        assert_eq!(names(&line), ["a", "c"]);
        assert_eq!(line.pop_first().map(|name| *name), Some("a"));
        assert_eq!(line.pop_first().map(|name| *name), Some("c"));
        assert_eq!((line.len(), line.holes), (0, 0));
        assert_eq!(line.pop_first(), None);
    }

    #[test]
    fn holes_are_dropped_once_they_outnumber_the_waiters() {
        let mut line = Line::default();
        let total = 1_000u64;
        for seq in 0..total {
            line.push(key(0, seq), Arc::new("w"));
        }
        for seq in 0..total - 1 {
            line.remove(key(0, seq));
            let places: usize = line.levels.values().map(VecDeque::len).sum();
            assert!(
                places <= 2 * line.len() + COMPACT_AFTER + 1,
                "{places} places for {} waiters",
                line.len()
            );
        }
        assert_eq!(line.len(), 1);
    }

    #[test]
    fn retain_keeps_the_order_and_drops_the_holes() {
        let mut line = Line::default();
        for (seq, name) in ["a", "b", "c", "d"].into_iter().enumerate() {
            line.push(key((seq % 2) as i32, seq as u64), Arc::new(name));
        }
        line.remove(key(1, 3));
        line.retain(|name| *name != "c");
        assert_eq!(names(&line), ["b", "a"]);
        assert_eq!((line.len(), line.holes), (2, 0));
    }
}
