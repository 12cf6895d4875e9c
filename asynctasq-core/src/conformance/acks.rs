//! Acks: complete, retry, bury, release — each fenced by the claim's token.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::{claim, claim_one_queue, job, plus_ms, unique_queue};
use crate::driver::Driver;
use crate::job::{AttemptError, JobState, Receipt};

/// `complete` deletes the job; a second or forged ack changes nothing.
pub async fn complete_deletes_and_fences(driver: &Arc<dyn Driver>) {
    let q = unique_queue("complete");
    let jobs: Vec<_> = (0..3).map(|_| job(&q)).collect();
    driver.enqueue(&jobs).await.unwrap();
    let claimed = claim_one_queue(driver, &q, 10).await;
    let receipts: Vec<Receipt> = claimed.iter().map(|c| c.receipt).collect();
    let forged = Receipt {
        id: receipts[2].id,
        token: receipts[2].token.wrapping_add(1),
    };
    assert_eq!(
        driver.complete(&[forged]).await.unwrap(),
        0,
        "forged token accepted"
    );
    assert_eq!(driver.complete(&receipts[..2]).await.unwrap(), 2);
    assert_eq!(
        driver.complete(&receipts[..2]).await.unwrap(),
        0,
        "double ack accepted"
    );
    assert!(
        driver.job(receipts[0].id).await.unwrap().is_none(),
        "completed job still stored"
    );
    let running = driver.job(receipts[2].id).await.unwrap().expect("job");
    assert_eq!(running.state, JobState::Running);
    assert_eq!(driver.complete(&receipts[2..]).await.unwrap(), 1);
    assert_eq!(super::stats_of(driver, &q).await.outstanding(), 0);
}

/// `retry` schedules the next attempt at `run_at` and records the error.
pub async fn retry_reschedules_with_error(driver: &Arc<dyn Driver>) {
    let q = unique_queue("retry");
    driver.enqueue(&[job(&q)]).await.unwrap();
    let c = claim_one_queue(driver, &q, 1).await.remove(0);
    let error = AttemptError::now(1, "connection refused");
    let run_at = plus_ms(Utc::now(), 400);
    assert!(driver.retry(&c.receipt, run_at, &error).await.unwrap());
    assert!(
        !driver.retry(&c.receipt, run_at, &error).await.unwrap(),
        "stale retry accepted"
    );
    let info = driver.job(c.receipt.id).await.unwrap().expect("job");
    assert_eq!(info.state, JobState::Scheduled);
    assert_eq!(info.attempt, 1);
    assert_eq!(info.errors.len(), 1);
    assert_eq!(info.errors[0].message, "connection refused");
    assert_eq!(info.errors[0].attempt, 1);
    assert!(
        claim_one_queue(driver, &q, 1).await.is_empty(),
        "retried before its backoff"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again = claim_one_queue(driver, &q, 1).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempt, 2, "the second claim is attempt 2");
    assert_ne!(
        again[0].receipt.token, c.receipt.token,
        "each claim gets a fresh token"
    );
}

/// `bury` moves the job to dead-letter with its error.
pub async fn bury_moves_to_dead_with_error(driver: &Arc<dyn Driver>) {
    let q = unique_queue("bury");
    driver.enqueue(&[job(&q)]).await.unwrap();
    let c = claim_one_queue(driver, &q, 1).await.remove(0);
    let error = AttemptError::now(1, "card declined");
    assert!(driver.bury(&c.receipt, &error).await.unwrap());
    assert!(
        !driver.bury(&c.receipt, &error).await.unwrap(),
        "stale bury accepted"
    );
    let info = driver.job(c.receipt.id).await.unwrap().expect("job");
    assert_eq!(info.state, JobState::Dead);
    assert_eq!(
        info.last_error().map(|e| e.message.as_str()),
        Some("card declined")
    );
    assert!(
        claim_one_queue(driver, &q, 1).await.is_empty(),
        "dead job claimed"
    );
    assert_eq!(super::stats_of(driver, &q).await.dead, 1);
}

/// `release` returns a running job to ready without counting the attempt.
pub async fn release_returns_without_counting(driver: &Arc<dyn Driver>) {
    let q = unique_queue("release");
    driver.enqueue(&[job(&q)]).await.unwrap();
    let c = claim_one_queue(driver, &q, 1).await.remove(0);
    assert_eq!(driver.release(&[c.receipt]).await.unwrap(), 1);
    assert_eq!(
        driver.release(&[c.receipt]).await.unwrap(),
        0,
        "stale release accepted"
    );
    let again = claim_one_queue(driver, &q, 1).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempt, 1, "a released attempt must not count");
}

/// After a lease expires and the job is rescued and re-claimed, the first
/// worker's late acks are all rejected and change nothing.
pub async fn stale_ack_after_rescue_is_rejected(driver: &Arc<dyn Driver>) {
    let q = unique_queue("fence");
    let queues = vec![q.clone()];
    driver.enqueue(&[job(&q)]).await.unwrap();
    let first = claim(driver, &queues, 1, Duration::from_millis(200))
        .await
        .remove(0);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let report = driver.rescue_expired().await.unwrap();
    assert!(
        report.requeued >= 1,
        "expired lease not rescued: {report:?}"
    );
    let second = claim(driver, &queues, 1, Duration::from_secs(30))
        .await
        .remove(0);
    assert_eq!(second.receipt.id, first.receipt.id);
    assert_eq!(second.attempt, 2);
    let err = AttemptError::now(1, "late");
    assert_eq!(driver.complete(&[first.receipt]).await.unwrap(), 0);
    assert!(
        !driver
            .retry(&first.receipt, Utc::now(), &err)
            .await
            .unwrap()
    );
    assert!(!driver.bury(&first.receipt, &err).await.unwrap());
    assert_eq!(driver.release(&[first.receipt]).await.unwrap(), 0);
    assert_eq!(
        driver
            .extend(&[first.receipt], Duration::from_secs(60))
            .await
            .unwrap(),
        0
    );
    let info = driver.job(first.receipt.id).await.unwrap().expect("job");
    assert_eq!(info.state, JobState::Running, "a stale ack changed the job");
    assert_eq!(driver.complete(&[second.receipt]).await.unwrap(), 1);
}
