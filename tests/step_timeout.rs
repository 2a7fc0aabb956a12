/// Timed steps share one timer per task: each step's limit still counts from its own start.
#[derive(HasTaskManager)]
struct Chain {
    tasks: TaskManager,
}

/// How long `b` takes, in ms.
type ChainTask = Task<u64>;

#[flow(name = chain)]
impl Chain {
    #[step(timeout = "10s")]
    async fn a(&self, _task: &mut ChainTask) -> Result<(), ShopError> {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(())
    }

    #[step]
    async fn between(&self, _task: &mut ChainTask) -> Result<(), ShopError> {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(())
    }

    #[step(timeout = "1s")]
    async fn b(&self, task: &mut ChainTask) -> Result<(), ShopError> {
        tokio::time::sleep(Duration::from_millis(*task.payload())).await;
        Ok(())
    }

    #[step(timeout = "3s")]
    async fn c(&self, _task: &mut ChainTask) -> Result<(), ShopError> {
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn each_timed_step_counts_its_own_limit_from_its_own_start() {
    let chain = Arc::new(Chain {
        tasks: TaskManager::new(),
    });
    // `b` within its 1 s (after `a`'s 10 s limit was armed), then `c` within its 3 s.
    let started = tokio::time::Instant::now();
    let outcome = chain.execute_chain(Passport::new(900)).unwrap().await;
    assert_eq!(outcome.ending(), &Ending::Completed(()));
    assert_eq!(started.elapsed(), Duration::from_millis(3_600));
    // `b` over its 1 s: stopped 1 s after it began, not at `a`'s 10 s.
    let started = tokio::time::Instant::now();
    let outcome = chain.execute_chain(Passport::new(5_000)).unwrap().await;
    assert_eq!(
        outcome.ending(),
        &Ending::TimedOut {
            step: "b",
            limit: Duration::from_secs(1)
        }
    );
    assert_eq!(started.elapsed(), Duration::from_millis(1_200));
}
