//! The sub-flow storm: trees of depth 3 and 4 (roots, their children, grandchildren and
//! some great-grandchildren, each level fanning in with a random helper: `join_all`,
//! `try_join`, `race`, `join_any`, or none), random step durations and failures, random
//! timeouts at every level, random cancels by id of random running tasks at every level, and
//! dropped root handles, all on one paused clock from a fixed-seed generator. Checked at the
//! end: every task ended exactly once (one `Finished` per `Submitted`), every cleanup ran
//! once, every descendant's last word comes before its ancestor's cleanup begins, a cleanup
//! told `parent(..)` belongs to a child, and the registry is empty.
//!
//! ```sh
//! TM_TREE_STORM_SEED=0x5eed TM_TREE_STORM_ROOTS=2000 cargo test --test subflow_storm -- --nocapture
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use task_manager_core::{Addon, EventKind, TaskEvent, TaskId, TaskManager};
use task_manager_support::tree::{FanIn, Node, Then, Tree};

const DEFAULT_SEED: u64 = 0x7EE5_5EED_0017;
const DEFAULT_ROOTS: usize = 300;

/// xorshift64*, as in the fault storm.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// A random node named `name` at `depth` (0 for a root), with children down to `max_depth`.
fn plan(rng: &mut Rng, name: String, depth: u32, max_depth: u32) -> Node {
    let mut node = Node::leaf(&name);
    node.then = match rng.below(10) {
        0 => Then::Fail,
        1 => Then::Return,
        _ => Then::Sleep(Duration::from_millis(1 + rng.below(40))),
    };
    if rng.chance(15) {
        node = node.timeout(Duration::from_millis(5 + rng.below(80)));
    }
    if depth < max_depth {
        let count = 1 + rng.below(3);
        let children = (0..count)
            .map(|i| plan(rng, format!("{name}.{i}"), depth + 1, max_depth))
            .collect();
        let fan_in = match rng.below(5) {
            0 => FanIn::All,
            1 => FanIn::Try,
            2 => FanIn::Race,
            3 => FanIn::Any,
            _ => FanIn::Leave,
        };
        node = node.with(fan_in, children);
        if rng.chance(30) {
            node = node.limit(1 + rng.below(2) as usize);
        }
    }
    node
}

/// Counts each task's `Submitted` and `Finished` events.
#[derive(Clone, Default)]
struct Endings(Arc<Mutex<HashMap<TaskId, (u32, u32)>>>);

impl Addon for Endings {
    fn on_event(&self, event: &TaskEvent<'_>) {
        let mut seen = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let counts = seen.entry(event.id).or_default();
        match event.kind {
            EventKind::Submitted => counts.0 += 1,
            EventKind::Finished { .. } => counts.1 += 1,
            _ => {}
        }
    }
}

#[tokio::test(start_paused = true)]
async fn random_cancels_at_every_level_of_trees_keep_the_contract() {
    let seed = env_u64("TM_TREE_STORM_SEED").unwrap_or(DEFAULT_SEED);
    let roots = env_u64("TM_TREE_STORM_ROOTS").map_or(DEFAULT_ROOTS, |n| n as usize);
    let mut rng = Rng(seed.max(1));
    let endings = Endings::default();
    let tasks = TaskManager::builder()
        .addon(endings.clone())
        .build()
        .expect("a valid manager");
    let tree = Tree::with_manager(tasks);

    let mut handles = Vec::new();
    let mut deepest = 0;
    for r in 0..roots {
        let max_depth = 2 + u32::from(rng.chance(30));
        deepest = deepest.max(max_depth);
        let node = plan(&mut rng, format!("t{r}"), 0, max_depth);
        let handle = tree.execute_node(node.passport()).expect("submitted");
        handles.push(Some(handle));
        // Random cancels of random running tasks (any level) and dropped root handles,
        // between submissions, on the paused clock.
        tokio::time::sleep(Duration::from_millis(rng.below(3))).await;
        for _ in 0..rng.below(3) {
            let running = tree.tasks.running_ids();
            if running.is_empty() {
                break;
            }
            let victim = running[rng.below(running.len() as u64) as usize];
            tree.tasks.cancel(victim, "storm");
        }
        if rng.chance(5) {
            let victim = rng.below(handles.len() as u64) as usize;
            handles[victim] = None;
        }
    }
    assert!(deepest >= 3, "the storm has trees of depth 3 or more");
    for handle in handles.into_iter().flatten() {
        handle.await;
    }
    // Dropped roots end in the background: wait until the registry is empty.
    for _ in 0..10_000 {
        if tree.tasks.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        tree.tasks.is_empty(),
        "seed {seed:#x}: the registry is not empty"
    );

    // Each task ended once.
    let seen = endings
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert!(seen.len() > roots * 3, "seed {seed:#x}: trees were built");
    for (id, (submitted, finished)) in &seen {
        assert_eq!(
            (*submitted, *finished),
            (1, 1),
            "seed {seed:#x}: task {id} submitted/finished"
        );
    }

    // Each cleanup once; each descendant's last entry before its ancestor's cleanup began.
    let entries = tree.journal.entries();
    let mut last: HashMap<&str, usize> = HashMap::new();
    let mut cleanups: HashMap<&str, (usize, usize)> = HashMap::new();
    let mut cleanup_began_at: Vec<(&str, usize)> = Vec::new();
    for (at, entry) in entries.iter().enumerate() {
        let name_of = |text: &'static str| entry.strip_prefix(text);
        if let Some(rest) = name_of("cleanup ") {
            let name = rest.split(' ').next().unwrap_or_default();
            let counts = cleanups.entry(name).or_default();
            if rest.contains(" began: ") {
                counts.0 += 1;
                cleanup_began_at.push((name, at));
                let is_child = name.contains('.');
                if rest.contains("began: parent") {
                    assert!(is_child, "seed {seed:#x}: a root was told parent: {entry}");
                }
            } else {
                counts.1 += 1;
            }
            last.insert(name, at);
        } else {
            let name = entry.split(' ').next().unwrap_or_default();
            last.insert(name, at);
        }
    }
    for (name, (began, finished)) in &cleanups {
        assert_eq!(
            (*began, *finished),
            (1, 1),
            "seed {seed:#x}: cleanup of {name}"
        );
    }
    for (ancestor, began_at) in cleanup_began_at {
        let prefix = format!("{ancestor}.");
        for (name, at) in &last {
            if name.starts_with(&prefix) {
                assert!(
                    *at < began_at,
                    "seed {seed:#x}: {name} did something (entry {at}) after its ancestor {ancestor}'s cleanup began (entry {began_at})"
                );
            }
        }
    }
    println!(
        "seed {seed:#x}: {} tasks in {roots} trees (depth up to {deepest}), {} cleanups",
        seen.len(),
        cleanups.len()
    );
}
