//! What sub-flows cost (issue 17), on a current_thread runtime:
//!
//! * `roots N`: N tasks of a three-step flow submitted from outside any task, 1,000 in
//!   flight, every outcome kept in order (what a fan-out does);
//! * `children N`: the same N tasks as children of one parent task, through
//!   `task.fan_out(..).limit(1000).join_all()`;
//! * `cancel`: a parent with 1,000 parked children cancelled, until every cleanup is done
//!   (the parent's `Cancellation` answers), against `cancel_all` of 1,000 parked tasks
//!   awaited to the last cleanup; 31 alternating rounds, medians.
//!
//! `benches/children.sh` counts the instructions of the first two with valgrind; `cargo
//! bench -p task-manager-core --bench children -- cancel` times the third. Run as a test
//! (`cargo test`, no `--bench`), it runs each mode at a tiny size so that it cannot rot.

use std::convert::Infallible;
use std::future::pending;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use task_manager_core::{flow, CancelReason, HasTaskManager, Outcome, Passport, Task, TaskManager};

/// The children's flows.
#[derive(HasTaskManager)]
struct Kids {
    tasks: TaskManager,
    parked: AtomicUsize,
    cleaned: AtomicUsize,
}

async fn step(input: u64) -> u64 {
    tokio::task::yield_now().await;
    input + 1
}

#[flow(name = three)]
impl Kids {
    #[step(cancel = undo)]
    async fn three_1(&self, _task: &mut Task) -> Result<u64, Infallible> {
        Ok(step(0).await)
    }
    #[step(cancel = undo)]
    async fn three_2(&self, _task: &mut Task, input: u64) -> Result<u64, Infallible> {
        Ok(step(input).await)
    }
    #[step(cancel = undo)]
    async fn three_3(&self, _task: &mut Task, input: u64) -> Result<u64, Infallible> {
        Ok(step(input).await)
    }
    async fn undo(&self, _task: &mut Task, _reason: CancelReason) {}
}

#[flow(name = parked)]
impl Kids {
    #[step(cancel = unpark)]
    async fn park(&self, _task: &mut Task) -> Result<(), Infallible> {
        self.parked.fetch_add(1, Ordering::Relaxed);
        pending().await
    }
    async fn unpark(&self, _task: &mut Task, _reason: CancelReason) {
        self.cleaned.fetch_add(1, Ordering::Relaxed);
    }
}

/// The parent flows.
#[derive(HasTaskManager)]
struct Parents {
    tasks: TaskManager,
    kids: Arc<Kids>,
}

#[flow(name = fan)]
impl Parents {
    #[step]
    async fn fan(&self, task: &mut Task<usize>) -> Result<usize, Infallible> {
        let n = *task.payload();
        let children = (0..n).map(|_| self.kids.execute_three(task.child(Passport::new(()))));
        let outcomes = task.fan_out(children).limit(1000).join_all().await;
        Ok(outcomes.map_or(0, |outcomes| outcomes.len()))
    }
}

#[flow(name = hold)]
impl Parents {
    #[step(cancel = release)]
    async fn hold(&self, task: &mut Task<usize>) -> Result<(), Infallible> {
        let n = *task.payload();
        let children = (0..n).map(|_| self.kids.execute_parked(task.child(Passport::new(()))));
        let _ = task.fan_out(children).join_all().await;
        Ok(())
    }
    async fn release(&self, _task: &mut Task<usize>, _reason: CancelReason) {}
}

fn parts() -> (Arc<Kids>, Arc<Parents>) {
    let tasks = TaskManager::new();
    let kids = Arc::new(Kids {
        tasks: tasks.clone(),
        parked: AtomicUsize::new(0),
        cleaned: AtomicUsize::new(0),
    });
    let parents = Arc::new(Parents {
        tasks,
        kids: Arc::clone(&kids),
    });
    (kids, parents)
}

async fn roots(kids: &Arc<Kids>, n: usize) -> usize {
    let mut running = FuturesUnordered::new();
    let mut outcomes: Vec<Option<Outcome<u64, Infallible, ()>>> = Vec::with_capacity(n);
    let mut next = 0;
    while next < n || !running.is_empty() {
        while next < n && running.len() < 1000 {
            let handle = kids.execute_three(Passport::new(())).expect("submitted");
            let index = next;
            running.push(async move { (index, handle.await) });
            outcomes.push(None);
            next += 1;
        }
        if let Some((index, outcome)) = running.next().await {
            outcomes[index] = Some(outcome);
        }
    }
    outcomes.into_iter().flatten().count()
}

async fn children(parents: &Arc<Parents>, n: usize) -> usize {
    let outcome = parents
        .execute_fan(Passport::new(n))
        .expect("submitted")
        .await;
    outcome.into_result().expect("the parent completes")
}

async fn wait_parked(kids: &Kids, n: usize) {
    while kids.parked.load(Ordering::Relaxed) < n {
        tokio::task::yield_now().await;
    }
}

/// One round: the time from the cancel to the last cleanup, for a tree and for `cancel_all`.
async fn cancel_round(n: usize) -> (Duration, Duration) {
    let (kids, parents) = parts();
    let parent = Passport::new(n);
    let id = parent.id();
    parents.execute_hold(parent).expect("submitted").detach();
    wait_parked(&kids, n).await;
    let started = Instant::now();
    let cancellation = parents.tasks.cancel(id, "bench");
    cancellation.await;
    let tree = started.elapsed();
    assert_eq!(kids.cleaned.load(Ordering::Relaxed), n);
    assert!(parents.tasks.is_empty());

    let (kids, _) = parts();
    for _ in 0..n {
        kids.execute_parked(Passport::new(()))
            .expect("submitted")
            .detach();
    }
    wait_parked(&kids, n).await;
    let started = Instant::now();
    kids.tasks.cancel_all("bench").finished().await;
    let all = started.elapsed();
    assert_eq!(kids.cleaned.load(Ordering::Relaxed), n);
    (tree, all)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let benching = args.iter().any(|arg| arg == "--bench");
    let words: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    if !benching {
        // As a test: every mode, tiny.
        runtime.block_on(async {
            let (kids, parents) = parts();
            assert_eq!(roots(&kids, 10).await, 10);
            assert_eq!(children(&parents, 10).await, 10);
            let _ = cancel_round(10).await;
        });
        return;
    }
    match words.as_slice() {
        ["roots", n] | ["children", n] => {
            let n: usize = n.parse().expect("a task count");
            let (kids, parents) = parts();
            // Each driver runs as a spawned task, as the parent does.
            let roots_mode = words[0] == "roots";
            let done = runtime.block_on(async move {
                tokio::spawn(async move {
                    if roots_mode {
                        roots(&kids, n).await
                    } else {
                        children(&parents, n).await
                    }
                })
                .await
                .expect("the driver ends")
            });
            assert_eq!(done, n);
        }
        ["cancel"] | [] => {
            let n = 1000;
            let rounds = 31;
            let mut trees = Vec::new();
            let mut alls = Vec::new();
            runtime.block_on(async {
                // One warm-up round.
                let _ = cancel_round(n).await;
                for _ in 0..rounds {
                    let (tree, all) = cancel_round(n).await;
                    trees.push(tree);
                    alls.push(all);
                }
            });
            let ratios: Vec<f64> = trees
                .iter()
                .zip(&alls)
                .map(|(tree, all)| tree.as_secs_f64() / all.as_secs_f64())
                .collect();
            let mut sorted = ratios.clone();
            sorted.sort_by(f64::total_cmp);
            let (tree, all) = (median(trees), median(alls));
            println!(
                "cancel of a parent of {n} parked children, to the last cleanup: {tree:?} (median of {rounds})"
            );
            println!("cancel_all of {n} parked tasks, to the last cleanup: {all:?} (median)");
            println!(
                "ratio tree / cancel_all: median {:.2} (min {:.2}, max {:.2})",
                sorted[sorted.len() / 2],
                sorted[0],
                sorted[sorted.len() - 1]
            );
        }
        other => panic!("unknown mode {other:?}: roots N | children N | cancel"),
    }
}
