//! A worker killed with SIGKILL mid-run loses nothing: another worker rescues
//! the expired leases and every job completes at least once.

mod support;

use std::time::Duration;

use asynctasq_examples::chaos::record;
use support::{Scratch, stats, wait_exit, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_in_the_middle_of_1000_sqlite_jobs_loses_nothing() {
    let scratch = Scratch::new();
    let client = scratch.client().await;
    let queue = "crash";
    let jobs = (0..1000).map(|n| record(n, scratch.log.clone(), 2).on_queue(queue));
    let ids = client.dispatch_many(jobs).await.expect("dispatch");
    assert_eq!(ids.len(), 1000);

    let mut first = scratch.worker(&["--queues", queue, "--concurrency", "20", "--lease", "2s"]);
    wait_for(Duration::from_secs(60), "300 completed jobs", || {
        scratch.done().len() >= 300
    });
    first.kill().expect("SIGKILL the first worker");
    first.wait().expect("reap");
    let done_at_kill = scratch.done().len();
    let in_flight = stats(&client, queue).await.running;
    eprintln!("killed the first worker after {done_at_kill} jobs, {in_flight} left running");
    assert!(
        done_at_kill < 1000,
        "the first worker finished everything before the kill"
    );

    let mut second = scratch.worker(&[
        "--queues",
        queue,
        "--concurrency",
        "20",
        "--lease",
        "2s",
        "--burst",
    ]);
    let status = wait_exit(&mut second, Duration::from_secs(120));
    assert!(
        status.success(),
        "second worker failed: {}",
        support::stderr_of(&mut second)
    );

    let done = scratch.done();
    let missing: Vec<u64> = (0..1000).filter(|n| !done.contains_key(n)).collect();
    assert!(missing.is_empty(), "jobs never completed: {missing:?}");
    let repeated = done.values().filter(|&&c| c > 1).count();
    eprintln!("all 1000 completed; {repeated} ran twice (at-least-once)");
    let s = stats(&client, queue).await;
    assert_eq!(
        (s.ready, s.scheduled, s.running, s.dead),
        (0, 0, 0, 0),
        "{s:?}"
    );
}
