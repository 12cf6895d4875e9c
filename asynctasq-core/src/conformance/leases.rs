//! Leases: extension, expiry, rescue.

use std::sync::Arc;
use std::time::Duration;

use super::{claim, job, plus_ms, unique_queue};
use crate::driver::Driver;
use crate::job::{JobState, Receipt};

/// An extended lease is not rescued; once extension stops, it is.
///
/// Extensions come every quarter lease and outlast the first lease by half,
/// so a loaded machine (other tests rescue concurrently) has three quarters
/// of a lease of slack at every step.
pub async fn extend_keeps_a_job_from_rescue(driver: &Arc<dyn Driver>) {
    let q = unique_queue("extend");
    let queues = vec![q.clone()];
    let lease = Duration::from_millis(1000);
    driver.enqueue(&[job(&q)]).await.unwrap();
    let c = claim(driver, &queues, 1, lease).await.remove(0);
    for _ in 0..6 {
        tokio::time::sleep(lease / 4).await;
        assert_eq!(
            driver.extend(&[c.receipt], lease).await.unwrap(),
            vec![],
            "a held lease was reported lost"
        );
        driver.rescue_expired().await.unwrap();
        let info = driver.job(c.receipt.id).await.unwrap().expect("job");
        assert_eq!(
            info.state,
            JobState::Running,
            "an extended lease was rescued"
        );
    }
    tokio::time::sleep(lease + lease / 2).await;
    driver.rescue_expired().await.unwrap();
    let info = driver.job(c.receipt.id).await.unwrap().expect("job");
    assert_eq!(info.state, JobState::Ready);
}

/// In one batch, the stale receipts (a job rescued and claimed again, a
/// completed job, a forged token on a scheduled job) are reported lost, in the
/// order given, while the held ones are extended: a rescue after the first
/// lease would have run out leaves them running.
pub async fn extend_reports_the_lost_receipts(driver: &Arc<dyn Driver>) {
    let q = unique_queue("extend-lost");
    let queues = vec![q.clone()];
    // Not due for an hour: never claimed here.
    let mut waiting = job(&q);
    waiting.run_at = plus_ms(chrono::Utc::now(), 3_600_000);
    driver
        .enqueue(&[job(&q), job(&q), job(&q), job(&q)])
        .await
        .unwrap();
    let short = Duration::from_millis(200);
    let rescued = claim(driver, &queues, 1, short).await.remove(0);
    let held = claim(driver, &queues, 2, short).await;
    let done = claim(driver, &queues, 1, short).await.remove(0);
    assert_eq!(driver.complete(&[done.receipt]).await.unwrap(), 1);
    driver
        .enqueue(std::slice::from_ref(&waiting))
        .await
        .unwrap();
    let forged = Receipt {
        id: waiting.id,
        token: held[1].receipt.token.wrapping_add(1),
    };
    // Let the first lease expire; keep the held ones alive meanwhile.
    tokio::time::sleep(short / 2).await;
    let kept = [held[0].receipt, held[1].receipt];
    assert_eq!(
        driver.extend(&kept, Duration::from_secs(30)).await.unwrap(),
        vec![]
    );
    tokio::time::sleep(short).await;
    driver.rescue_expired().await.unwrap();
    let again = claim(driver, &queues, 1, Duration::from_secs(30))
        .await
        .remove(0);
    assert_eq!(
        again.receipt.id, rescued.receipt.id,
        "the expired job is claimed again"
    );

    let batch = [
        rescued.receipt,
        held[0].receipt,
        forged,
        done.receipt,
        held[1].receipt,
    ];
    let lost = driver.extend(&batch, short).await.unwrap();
    assert_eq!(lost, vec![rescued.receipt, forged, done.receipt]);
    // The held leases now end `short` from now, the new claim's in 30 s.
    tokio::time::sleep(short * 2).await;
    driver.rescue_expired().await.unwrap();
    for c in &held {
        let info = driver.job(c.receipt.id).await.unwrap().expect("job");
        assert_eq!(
            info.state,
            JobState::Ready,
            "the extended lease did not end when asked"
        );
    }
    let info = driver.job(again.receipt.id).await.unwrap().expect("job");
    assert_eq!(
        info.state,
        JobState::Running,
        "a stale receipt changed the new lease"
    );
    let info = driver.job(waiting.id).await.unwrap().expect("job");
    assert_eq!(
        info.state,
        JobState::Scheduled,
        "a forged receipt changed a job"
    );
    assert!(driver.extend(&[], short).await.unwrap().is_empty());
}

/// An expired lease returns the job to ready, keeping the attempt counted.
pub async fn expired_lease_is_rescued(driver: &Arc<dyn Driver>) {
    let q = unique_queue("rescue");
    let queues = vec![q.clone()];
    driver.enqueue(&[job(&q), job(&q)]).await.unwrap();
    let short = claim(driver, &queues, 1, Duration::from_millis(150))
        .await
        .remove(0);
    let long = claim(driver, &queues, 1, Duration::from_secs(30))
        .await
        .remove(0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    driver.rescue_expired().await.unwrap();
    assert_eq!(
        driver
            .job(short.receipt.id)
            .await
            .unwrap()
            .expect("job")
            .state,
        JobState::Ready
    );
    assert_eq!(
        driver
            .job(long.receipt.id)
            .await
            .unwrap()
            .expect("job")
            .state,
        JobState::Running,
        "a valid lease was rescued"
    );
    let again = claim(driver, &queues, 1, Duration::from_secs(30))
        .await
        .remove(0);
    assert_eq!(again.receipt.id, short.receipt.id);
    assert_eq!(again.attempt, 2, "the expired attempt counts");
}

/// A job whose last attempt's lease expires goes to dead-letter with a reason.
pub async fn rescue_buries_when_attempts_are_exhausted(driver: &Arc<dyn Driver>) {
    let q = unique_queue("exhaust");
    let queues = vec![q.clone()];
    let mut j = job(&q);
    j.max_attempts = 1;
    driver.enqueue(&[j.clone()]).await.unwrap();
    claim(driver, &queues, 1, Duration::from_millis(100)).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    // Other cases may share the database and rescue it first: check the job, not the report.
    driver.rescue_expired().await.unwrap();
    let info = driver.job(j.id).await.unwrap().expect("job");
    assert_eq!(info.state, JobState::Dead);
    let message = &info.last_error().expect("an error is recorded").message;
    assert!(message.contains("lease"), "unhelpful reason: {message}");
}
