//! Claims: ordering, scheduling, batches, queue selection, pause, concurrency.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::{claim, claim_one_queue, job, plus_ms, unique_queue};
use crate::driver::Driver;
use crate::job::JobId;

/// Higher priority first; within a priority, earlier `run_at` first.
pub async fn orders_by_priority_then_run_at(driver: &Arc<dyn Driver>) {
    let q = unique_queue("order");
    let now = Utc::now();
    let mut jobs = Vec::new();
    for (priority, age_ms) in [(0, 300), (5, 100), (0, 900), (5, 500), (-1, 2000), (10, 0)] {
        let mut j = job(&q);
        j.priority = priority;
        j.run_at = plus_ms(now, -age_ms);
        jobs.push(j);
    }
    driver.enqueue(&jobs).await.unwrap();
    let claimed = claim_one_queue(driver, &q, 10).await;
    let got: Vec<JobId> = claimed.iter().map(|c| c.receipt.id).collect();
    let want: Vec<JobId> = [5, 3, 1, 2, 0, 4].iter().map(|&i| jobs[i].id).collect();
    assert_eq!(
        got, want,
        "claims must be ordered by priority desc, then run_at asc"
    );
    for c in &claimed {
        assert_eq!(c.attempt, 1, "a first claim is attempt 1");
        assert_eq!(c.queue, q);
        assert_eq!(c.max_attempts, 3);
        assert_eq!(c.task, "conformance");
    }
}

/// A job with a future `run_at` is not claimable until it is due.
pub async fn skips_scheduled_until_due(driver: &Arc<dyn Driver>) {
    let q = unique_queue("delay");
    let mut delayed = job(&q);
    delayed.run_at = plus_ms(Utc::now(), 400);
    driver.enqueue(&[delayed.clone()]).await.unwrap();
    assert!(
        claim_one_queue(driver, &q, 10).await.is_empty(),
        "scheduled job claimed early"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let claimed = claim_one_queue(driver, &q, 10).await;
    assert_eq!(claimed.len(), 1, "due job not claimed");
    assert_eq!(claimed[0].receipt.id, delayed.id);
}

/// One claim returns at most `max` jobs; the rest stay for the next claim.
pub async fn claims_in_batches_up_to_max(driver: &Arc<dyn Driver>) {
    let q = unique_queue("batch");
    let jobs: Vec<_> = (0..250).map(|_| job(&q)).collect();
    driver.enqueue(&jobs).await.unwrap();
    let first = claim_one_queue(driver, &q, 100).await;
    let second = claim_one_queue(driver, &q, 100).await;
    let third = claim_one_queue(driver, &q, 100).await;
    let fourth = claim_one_queue(driver, &q, 100).await;
    assert_eq!(
        (first.len(), second.len(), third.len(), fourth.len()),
        (100, 100, 50, 0)
    );
    let ids: HashSet<JobId> = first
        .iter()
        .chain(&second)
        .chain(&third)
        .map(|c| c.receipt.id)
        .collect();
    assert_eq!(ids.len(), 250, "every job claimed exactly once");
}

/// Claims take only from the queues asked for.
pub async fn claims_only_requested_queues(driver: &Arc<dyn Driver>) {
    let a = unique_queue("qa");
    let b = unique_queue("qb");
    let c = unique_queue("qc");
    driver.enqueue(&[job(&a), job(&b), job(&c)]).await.unwrap();
    let claimed = claim(driver, &[a.clone(), b.clone()], 10, Duration::from_secs(30)).await;
    let queues: HashSet<String> = claimed.iter().map(|c| c.queue.clone()).collect();
    assert_eq!(queues, HashSet::from([a, b]));
    assert_eq!(claim_one_queue(driver, &c, 10).await.len(), 1);
}

/// A paused queue yields nothing until resumed; stats show the flag.
pub async fn pause_and_resume(driver: &Arc<dyn Driver>) {
    let q = unique_queue("pause");
    driver.enqueue(&[job(&q), job(&q)]).await.unwrap();
    driver.queue_pause(&q).await.unwrap();
    assert!(
        claim_one_queue(driver, &q, 10).await.is_empty(),
        "claimed from a paused queue"
    );
    let stats = super::stats_of(driver, &q).await;
    assert!(stats.paused);
    assert_eq!(stats.ready, 2);
    driver.queue_resume(&q).await.unwrap();
    assert_eq!(claim_one_queue(driver, &q, 10).await.len(), 2);
    assert!(!super::stats_of(driver, &q).await.paused);
}

/// Many concurrent claimers never receive the same job while its lease is valid.
pub async fn concurrent_claims_never_share_a_job(driver: &Arc<dyn Driver>) {
    let q = unique_queue("race");
    let jobs: Vec<_> = (0..400).map(|_| job(&q)).collect();
    driver.enqueue(&jobs).await.unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let queues = vec![q.clone()];
    let claimers = (0..8).map(|_| {
        let seen = seen.clone();
        let queues = queues.clone();
        async move {
            loop {
                let got = claim(driver, &queues, 7, Duration::from_secs(30)).await;
                if got.is_empty() {
                    break;
                }
                seen.lock()
                    .unwrap()
                    .extend(got.into_iter().map(|c| c.receipt.id));
            }
        }
    });
    futures::future::join_all(claimers).await;
    let seen = seen.lock().unwrap();
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(seen.len(), 400, "jobs claimed twice or lost");
    assert_eq!(unique.len(), 400);
}

/// Payload bytes come back exactly as stored, even when they are not msgpack.
pub async fn payload_bytes_are_preserved(driver: &Arc<dyn Driver>) {
    let q = unique_queue("bytes");
    let mut j = job(&q);
    j.payload = (0..=255u8).rev().chain([0, 0, 0xc1]).collect();
    let mut empty = job(&q);
    empty.payload = Vec::new();
    empty.priority = -1;
    driver.enqueue(&[j.clone(), empty]).await.unwrap();
    let claimed = claim_one_queue(driver, &q, 10).await;
    assert_eq!(claimed[0].payload, j.payload);
    assert!(claimed[1].payload.is_empty());
}
