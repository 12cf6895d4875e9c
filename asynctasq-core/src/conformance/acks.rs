//! Acks: complete, retry, bury, release — each fenced by the claim's token.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::{claim, claim_one_queue, job, job_with_retry, plus_ms, rescuer, unique_queue};
use crate::driver::Driver;
use crate::job::{AttemptError, Burial, Completion, JobState, PruneParams, Receipt, Retry};
use crate::retry::RetryPolicy;

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
        driver
            .complete(&[forged], Completion::Delete)
            .await
            .unwrap(),
        0,
        "forged token accepted"
    );
    assert_eq!(
        driver
            .complete(&receipts[..2], Completion::Delete)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        driver
            .complete(&receipts[..2], Completion::Delete)
            .await
            .unwrap(),
        0,
        "double ack accepted"
    );
    assert!(
        driver.job(receipts[0].id).await.unwrap().is_none(),
        "completed job still stored"
    );
    let running = driver.job(receipts[2].id).await.unwrap().expect("job");
    assert_eq!(running.state, JobState::Running);
    assert_eq!(
        driver
            .complete(&receipts[2..], Completion::Delete)
            .await
            .unwrap(),
        1
    );
    assert_eq!(super::stats_of(driver, &q).await.outstanding(), 0);
}

/// `retry` schedules each job's next attempt at its own `run_at` and
/// records its own error; a stale receipt in the batch changes nothing.
pub async fn retry_reschedules_with_error(driver: &Arc<dyn Driver>) {
    let q = unique_queue("retry");
    let jobs: Vec<_> = (0..3).map(|_| job(&q)).collect();
    driver.enqueue(&jobs).await.unwrap();
    let claimed = claim_one_queue(driver, &q, 3).await;
    assert_eq!(claimed.len(), 3);
    let forged = Receipt {
        id: claimed[2].receipt.id,
        token: claimed[2].receipt.token.wrapping_add(1),
    };
    let retries = vec![
        Retry {
            receipt: claimed[0].receipt,
            run_at: plus_ms(Utc::now(), 400),
            error: AttemptError::now(1, "connection refused"),
        },
        Retry {
            receipt: claimed[1].receipt,
            run_at: plus_ms(Utc::now(), 450),
            error: AttemptError::now(1, "timed out"),
        },
        Retry {
            receipt: forged,
            run_at: Utc::now(),
            error: AttemptError::now(1, "forged"),
        },
    ];
    assert_eq!(driver.retry(&retries).await.unwrap(), 2);
    assert_eq!(
        driver.retry(&retries).await.unwrap(),
        0,
        "stale retry accepted"
    );
    for (c, message) in claimed.iter().zip(["connection refused", "timed out"]) {
        let info = driver.job(c.receipt.id).await.unwrap().expect("job");
        assert_eq!(info.state, JobState::Scheduled);
        assert_eq!(info.attempt, 1);
        assert_eq!(info.errors.len(), 1);
        assert_eq!(info.errors[0].message, message);
        assert_eq!(info.errors[0].attempt, 1);
    }
    let untouched = driver
        .job(claimed[2].receipt.id)
        .await
        .unwrap()
        .expect("job");
    assert_eq!(untouched.state, JobState::Running, "a forged retry applied");
    assert!(untouched.errors.is_empty());
    assert_eq!(
        driver
            .complete(&[claimed[2].receipt], Completion::Delete)
            .await
            .unwrap(),
        1
    );
    assert!(
        claim_one_queue(driver, &q, 1).await.is_empty(),
        "retried before its backoff"
    );
    tokio::time::sleep(Duration::from_millis(550)).await;
    let again = claim_one_queue(driver, &q, 2).await;
    assert_eq!(again.len(), 2);
    assert!(
        again.iter().all(|c| c.attempt == 2),
        "the second claim is attempt 2"
    );
    assert!(
        again.iter().all(|c| claimed
            .iter()
            .all(|old| old.receipt.token != c.receipt.token)),
        "each claim gets a fresh token"
    );
}

/// `bury` moves jobs to dead-letter, each with its own error; a stale
/// receipt changes nothing.
pub async fn bury_moves_to_dead_with_error(driver: &Arc<dyn Driver>) {
    let q = unique_queue("bury");
    driver.enqueue(&[job(&q), job(&q)]).await.unwrap();
    let claimed = claim_one_queue(driver, &q, 2).await;
    assert_eq!(claimed.len(), 2);
    let burials: Vec<Burial> = claimed
        .iter()
        .zip(["card declined", "card expired"])
        .map(|(c, message)| Burial {
            receipt: c.receipt,
            error: AttemptError::now(1, message),
        })
        .collect();
    assert_eq!(driver.bury(&burials).await.unwrap(), 2);
    assert_eq!(
        driver.bury(&burials).await.unwrap(),
        0,
        "stale bury accepted"
    );
    for burial in &burials {
        let info = driver.job(burial.receipt.id).await.unwrap().expect("job");
        assert_eq!(info.state, JobState::Dead);
        assert_eq!(
            info.last_error().map(|e| e.message.as_str()),
            Some(burial.error.message.as_str())
        );
    }
    assert!(
        claim_one_queue(driver, &q, 1).await.is_empty(),
        "dead job claimed"
    );
    assert_eq!(super::stats_of(driver, &q).await.dead, 2);
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
/// worker's late acks are all rejected and change nothing. The rescue runs
/// on the backend's clock (`now: None`), after the short lease really passed.
pub async fn stale_ack_after_rescue_is_rejected(driver: &Arc<dyn Driver>) {
    let q = unique_queue("fence");
    let queues = vec![q.clone()];
    let at_once = RetryPolicy::fixed(Duration::ZERO).without_jitter();
    driver
        .enqueue(&[job_with_retry(&q, at_once)])
        .await
        .unwrap();
    let first = claim(driver, &queues, 1, Duration::from_millis(100))
        .await
        .remove(0);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let report = rescuer(driver).run_once(None).await.unwrap();
    assert_eq!(report.requeued, 1, "expired lease not rescued");
    let rescued = driver.job(first.receipt.id).await.unwrap().expect("job");
    assert_eq!(rescued.state, JobState::Ready, "expired lease not rescued");
    let second = claim(driver, &queues, 1, Duration::from_secs(30))
        .await
        .remove(0);
    assert_eq!(second.receipt.id, first.receipt.id);
    assert_eq!(second.attempt, 2);
    let err = AttemptError::now(1, "late");
    assert_eq!(
        driver
            .complete(&[first.receipt], Completion::Delete)
            .await
            .unwrap(),
        0
    );
    let retry = Retry {
        receipt: first.receipt,
        run_at: Utc::now(),
        error: err.clone(),
    };
    assert_eq!(driver.retry(&[retry]).await.unwrap(), 0);
    let burial = Burial {
        receipt: first.receipt,
        error: err,
    };
    assert_eq!(driver.bury(&[burial]).await.unwrap(), 0);
    assert_eq!(driver.release(&[first.receipt]).await.unwrap(), 0);
    assert_eq!(
        driver
            .extend(&[first.receipt], Duration::from_secs(60))
            .await
            .unwrap(),
        vec![first.receipt],
        "a stale receipt's lease is reported lost"
    );
    let info = driver.job(first.receipt.id).await.unwrap().expect("job");
    assert_eq!(info.state, JobState::Running, "a stale ack changed the job");
    assert_eq!(
        driver
            .complete(&[second.receipt], Completion::Delete)
            .await
            .unwrap(),
        1
    );
}

/// For drivers with [`Capabilities::retention`](crate::job::Capabilities):
/// `complete` with [`Completion::Keep`] keeps the job as `completed`, fenced
/// like a delete; it is never claimed again and counts as nothing
/// outstanding; `prune_completed` keeps it while `before` is earlier than
/// its completion and deletes it once `before` is later (time is passed in,
/// not slept).
pub async fn retained_completed_jobs_are_kept_then_pruned(driver: &Arc<dyn Driver>) {
    let q = unique_queue("retained");
    driver.enqueue(&[job(&q), job(&q)]).await.unwrap();
    let claimed = claim_one_queue(driver, &q, 2).await;
    let receipts: Vec<Receipt> = claimed.iter().map(|c| c.receipt).collect();
    assert_eq!(
        driver.complete(&receipts, Completion::Keep).await.unwrap(),
        2
    );
    assert_eq!(
        driver.complete(&receipts, Completion::Keep).await.unwrap(),
        0,
        "double ack accepted"
    );
    for r in &receipts {
        let info = driver.job(r.id).await.unwrap().expect("completed job kept");
        assert_eq!(info.state, JobState::Completed);
        assert_eq!(info.attempt, 1);
    }
    let stats = super::stats_of(driver, &q).await;
    assert_eq!((stats.outstanding(), stats.dead), (0, 0), "{stats:?}");
    assert!(
        claim_one_queue(driver, &q, 2).await.is_empty(),
        "a completed job was claimed"
    );
    let prune = |before| PruneParams {
        before,
        limit: 10_000,
    };
    driver
        .prune_completed(prune(plus_ms(Utc::now(), -60_000)))
        .await
        .unwrap();
    assert!(
        driver.job(receipts[0].id).await.unwrap().is_some(),
        "pruned before its retention ran out"
    );
    // Not the count: other cases on the same database keep jobs too.
    while driver
        .prune_completed(prune(plus_ms(Utc::now(), 60_000)))
        .await
        .unwrap()
        > 0
    {}
    for r in &receipts {
        assert!(
            driver.job(r.id).await.unwrap().is_none(),
            "kept past its retention"
        );
    }
}

/// `prune_completed` deletes at most `limit` jobs per call, oldest first.
pub async fn prune_is_bounded(driver: &Arc<dyn Driver>) {
    let q = unique_queue("prune-bounded");
    driver.enqueue(&[job(&q), job(&q), job(&q)]).await.unwrap();
    let claimed = claim_one_queue(driver, &q, 3).await;
    let receipts: Vec<Receipt> = claimed.iter().map(|c| c.receipt).collect();
    assert_eq!(
        driver.complete(&receipts, Completion::Keep).await.unwrap(),
        3
    );
    // Another case may prune the same database meanwhile: at most one.
    let pruned = driver
        .prune_completed(PruneParams {
            before: plus_ms(Utc::now(), 60_000),
            limit: 1,
        })
        .await
        .unwrap();
    assert!(pruned <= 1, "pruned {pruned} with a limit of 1");
}
