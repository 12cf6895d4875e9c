//! The chaos harness: a real worker run while a test kills the driver's
//! backend connections, again and again; the run must complete, every job
//! must have run, and nothing may be left behind. Each driver's test says
//! how to kill its connections and how its backend reports a duplicate key.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use std::collections::HashSet;

use asynctasq_core::{Client, Driver, Envelope, Error, JobId, Worker, WorkerReport};
use tokio::task::JoinHandle;
use tokio::time::error::Elapsed;

/// How a driver's test kills the driver's backend sessions.
pub trait Kill {
    /// Kills them; returns how many it killed.
    fn kill(&mut self) -> impl Future<Output = u64>;
}

/// What a driver's test gives the harness.
pub struct Chaos<K> {
    /// Kills the driver's sessions.
    pub kill: K,
    /// Whether an enqueue error is a duplicate key (the lost answer of an
    /// insert that committed): the batch is not retried then.
    pub is_duplicate: fn(&Error) -> bool,
}

/// Enqueues `envelopes` in batches, retrying a batch whose insert failed
/// (until `is_duplicate` says the lost answer hid a commit).
pub async fn produce(client: &Client, envelopes: &[Envelope], is_duplicate: fn(&Error) -> bool) {
    for batch in envelopes.chunks(100) {
        let mut pause = Duration::from_millis(20);
        loop {
            match client.enqueue(batch).await {
                Ok(()) => break,
                Err(e) if is_duplicate(&e) => break,
                Err(_) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}

/// A worker run spawned with a 120 s timeout.
pub type Run = JoinHandle<Result<asynctasq_core::Result<WorkerReport>, Elapsed>>;

/// The report of `run`; panics, saying how many of `expected` ran, when it
/// did not finish in time.
pub async fn finished(run: Run, expected: &HashSet<JobId>) -> WorkerReport {
    run.await
        .unwrap()
        .unwrap_or_else(|_| {
            panic!(
                "the run did not finish within 120 s: {} of {} jobs ran",
                super::ran(expected),
                expected.len()
            )
        })
        .expect("worker")
}

/// Preloads 3 000 jobs, streams 1 000 more while a worker (concurrency 32,
/// 2 s lease) runs them, and calls `chaos.kill` every 200 ms until the run
/// ends; then checks that every job ran and the queue is empty.
pub async fn killed_connections_during_a_worker_run_lose_nothing<K: Kill>(
    driver: Arc<dyn Driver>,
    queue: &str,
    mut chaos: Chaos<K>,
) {
    const PRELOADED: usize = 3000;
    const STREAMED: usize = 1000;
    let client = Client::new(driver.clone());
    // Each job takes 15 ms, so 4,000 jobs at concurrency 32 last about two
    // seconds however fast the driver is: time for about ten rounds of kills.
    let preloaded = super::envelopes(queue, PRELOADED, Duration::from_millis(15));
    let streamed = super::envelopes(queue, STREAMED, Duration::from_millis(15));
    produce(&client, &preloaded, chaos.is_duplicate).await;

    let expected = super::ids(preloaded.iter().chain(&streamed));
    let all_ran = super::all_ran(expected.clone());
    let worker = Worker::new(client.clone())
        .registry(super::registry())
        .queues([queue])
        .concurrency(32)
        .lease(Duration::from_secs(2));
    let run = tokio::spawn(tokio::time::timeout(
        Duration::from_secs(120),
        worker.run_until(all_ran),
    ));
    let producer = {
        let client = client.clone();
        let is_duplicate = chaos.is_duplicate;
        tokio::spawn(async move { produce(&client, &streamed, is_duplicate).await })
    };
    let (mut killed, mut rounds) = (0, 0);
    while !run.is_finished() {
        tokio::time::sleep(Duration::from_millis(200)).await;
        killed += chaos.kill.kill().await;
        rounds += 1;
    }
    producer.await.unwrap();
    let report = finished(run, &expected).await;
    assert!(
        rounds >= 5 && killed >= 5,
        "only {killed} sessions killed in {rounds} rounds: the run was too short to test anything"
    );
    let ran = super::runs(&expected);
    let missing: Vec<_> = expected.iter().filter(|id| !ran.contains_key(id)).collect();
    assert!(
        missing.is_empty(),
        "{} jobs never ran (e.g. {:?}); report {report:?}",
        missing.len(),
        missing.first()
    );
    let stats = driver.stats(Some(&[queue.to_string()])).await.unwrap();
    let stats = stats.first().expect("stats");
    assert_eq!(
        (stats.outstanding(), stats.dead),
        (0, 0),
        "jobs left behind: {stats:?}"
    );
    let reruns: u32 = ran.values().map(|n| n - 1).sum();
    eprintln!(
        "killed {killed} sessions in {rounds} rounds; {} jobs ran, {reruns} of them more than once; {report:?}",
        ran.len()
    );
}
