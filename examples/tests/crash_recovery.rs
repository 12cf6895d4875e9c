//! A worker killed with SIGKILL mid-run loses nothing: another worker rescues
//! the expired leases and every job completes at least once.

mod support;

use std::time::Duration;

use asynctasq_examples::chaos::record;
use support::{Scratch, stats, wait_exit, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_in_the_middle_of_1000_sqlite_jobs_loses_nothing() {
    sigkill_mid_run_loses_nothing(Scratch::new(), 1000, 300).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_in_the_middle_of_10000_redis_jobs_loses_nothing() {
    let prefix = format!("crash-{}", uuid::Uuid::now_v7().simple());
    let url = format!("redis://127.0.0.1:6379/?prefix={prefix}");
    let scratch = Scratch::with_url(tempfile::tempdir().unwrap(), url);
    sigkill_mid_run_loses_nothing(scratch, 10_000, 3000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_in_the_middle_of_10000_postgres_jobs_loses_nothing() {
    let url = support::postgres_database("asynctasq_crash_test").await;
    let scratch = Scratch::with_url(tempfile::tempdir().unwrap(), url);
    sigkill_mid_run_loses_nothing(scratch, 10_000, 3000).await;
}

/// Dispatches `total` jobs, SIGKILLs the worker once `kill_after` are done,
/// lets a second worker finish, and checks that every job completed.
async fn sigkill_mid_run_loses_nothing(scratch: Scratch, total: u64, kill_after: usize) {
    let client = scratch.client().await;
    let queue = &format!("crash-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    for chunk in (0..total).collect::<Vec<_>>().chunks(1000) {
        let jobs = chunk
            .iter()
            .map(|&n| record(n, scratch.log.clone(), 2).on_queue(queue));
        client.dispatch_many(jobs).await.expect("dispatch");
    }

    let mut first = scratch.worker(&["--queues", queue, "--concurrency", "20", "--lease", "2s"]);
    wait_for(
        Duration::from_secs(120),
        "the first jobs to complete",
        || scratch.done().len() >= kill_after,
    );
    first.kill().expect("SIGKILL the first worker");
    first.wait().expect("reap");
    let done_at_kill = scratch.done().len();
    let in_flight = stats(&client, queue).await.running;
    eprintln!("killed the first worker after {done_at_kill} jobs, {in_flight} left running");
    assert!(
        (done_at_kill as u64) < total,
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
    let status = wait_exit(&mut second, Duration::from_secs(300));
    assert!(
        status.success(),
        "second worker failed: {}",
        support::stderr_of(&mut second)
    );

    let done = scratch.done();
    let missing: Vec<u64> = (0..total).filter(|n| !done.contains_key(n)).collect();
    assert!(missing.is_empty(), "jobs never completed: {missing:?}");
    let repeated = done.values().filter(|&&c| c > 1).count();
    eprintln!("all {total} completed; {repeated} ran twice (at-least-once)");
    let s = stats(&client, queue).await;
    assert_eq!(
        (s.ready, s.scheduled, s.running, s.dead),
        (0, 0, 0, 0),
        "{s:?}"
    );
}
