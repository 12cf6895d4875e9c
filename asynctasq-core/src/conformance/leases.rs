//! Leases: extension, expiry, and the core [`Rescuer`]
//! over the driver's report of expired leases.
//!
//! Expiry is tested by moving time forward (`now` passed to the driver and
//! the rescuer), not by sleeping on the wall clock.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::{claim, job, job_with_retry, rescuer, unique_queue};
use crate::driver::Driver;
use crate::job::{
    AttemptError, Completion, ExpiredParams, JobId, JobInfo, JobState, Receipt, RescueReport,
    Timestamp, from_millis, to_millis,
};
use crate::retry::RetryPolicy;
use crate::worker::{Rescuer, RescuerConfig, lease_expired_message};

/// Utc::now() plus `secs`, at the millisecond precision drivers store.
fn later(secs: i64) -> Timestamp {
    from_millis(to_millis(Utc::now() + chrono::Duration::seconds(secs)))
}

async fn info(driver: &Arc<dyn Driver>, id: JobId) -> JobInfo {
    driver.job(id).await.unwrap().expect("job")
}

/// An extended lease is not rescued; once its extension has passed, it is.
pub async fn extend_keeps_a_job_from_rescue(driver: &Arc<dyn Driver>) {
    let q = unique_queue("extend");
    let claimed_before = later(0);
    driver.enqueue(&[job(&q)]).await.unwrap();
    let c = claim(driver, std::slice::from_ref(&q), 1, Duration::from_secs(30))
        .await
        .remove(0);
    assert_eq!(
        driver
            .extend(&[c.receipt], Duration::from_secs(60))
            .await
            .unwrap(),
        vec![],
        "a held lease was reported lost"
    );
    // Past the first lease, within the extension.
    let within = claimed_before + chrono::Duration::seconds(45);
    let report = rescuer(driver).run_once(Some(within)).await.unwrap();
    assert_eq!(
        report,
        RescueReport::default(),
        "an extended lease was rescued"
    );
    assert_eq!(info(driver, c.receipt.id).await.state, JobState::Running);
    let report = rescuer(driver).run_once(Some(later(61))).await.unwrap();
    assert_eq!(report.requeued, 1, "an expired extension was not rescued");
    assert_eq!(info(driver, c.receipt.id).await.state, JobState::Scheduled);
}

/// In one batch, the stale receipts (a job whose lease expired and was
/// rescued, a completed job, a forged token on a scheduled job) are reported
/// lost, in the order given, and change nothing, while the held ones are
/// extended: a rescue past their first lease leaves them running.
pub async fn extend_reports_the_lost_receipts(driver: &Arc<dyn Driver>) {
    let q = unique_queue("extend-lost");
    let queues = vec![q.clone()];
    let start = later(0);
    // Not due for an hour: never claimed here.
    let mut waiting = job(&q);
    waiting.run_at = start + chrono::Duration::hours(1);
    driver
        .enqueue(&[job(&q), job(&q), job(&q), job(&q)])
        .await
        .unwrap();
    let rescued = claim(driver, &queues, 1, Duration::from_secs(30))
        .await
        .remove(0);
    let held = claim(driver, &queues, 2, Duration::from_secs(600)).await;
    let done = claim(driver, &queues, 1, Duration::from_secs(600))
        .await
        .remove(0);
    assert_eq!(
        driver
            .complete(&[done.receipt], Completion::Delete)
            .await
            .unwrap(),
        1
    );
    driver
        .enqueue(std::slice::from_ref(&waiting))
        .await
        .unwrap();
    let forged = Receipt {
        id: waiting.id,
        token: held[1].receipt.token.wrapping_add(1),
    };
    // Past the first lease only: that job is rescued (scheduled for its
    // backoff), the held ones are not.
    let report = rescuer(driver)
        .run_once(Some(start + chrono::Duration::seconds(60)))
        .await
        .unwrap();
    assert!(report.requeued >= 1, "{report:?}");
    let before = info(driver, rescued.receipt.id).await;
    assert_eq!(before.state, JobState::Scheduled);

    let batch = [
        rescued.receipt,
        held[0].receipt,
        forged,
        done.receipt,
        held[1].receipt,
    ];
    let lost = driver
        .extend(&batch, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(lost, vec![rescued.receipt, forged, done.receipt]);
    assert_eq!(
        info(driver, rescued.receipt.id).await,
        before,
        "a stale receipt changed the rescued job"
    );
    assert_eq!(
        info(driver, waiting.id).await.state,
        JobState::Scheduled,
        "a forged receipt changed a job"
    );
    // The held leases now end a minute from now (not in ten): a rescue two
    // minutes on finds them expired.
    for c in &held {
        assert_eq!(info(driver, c.receipt.id).await.state, JobState::Running);
    }
    rescuer(driver).run_once(Some(later(120))).await.unwrap();
    for c in &held {
        assert_ne!(
            info(driver, c.receipt.id).await.state,
            JobState::Running,
            "the extended lease did not end when asked"
        );
    }
    assert!(
        driver
            .extend(&[], Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty()
    );
}

/// An expired lease is rescued, keeping the attempt counted; a valid one is not.
pub async fn expired_lease_is_rescued(driver: &Arc<dyn Driver>) {
    let q = unique_queue("rescue");
    let queues = vec![q.clone()];
    driver.enqueue(&[job(&q), job(&q)]).await.unwrap();
    let short = claim(driver, &queues, 1, Duration::from_secs(1))
        .await
        .remove(0);
    let long = claim(driver, &queues, 1, Duration::from_secs(30))
        .await
        .remove(0);
    let report = rescuer(driver).run_once(Some(later(5))).await.unwrap();
    assert_eq!(
        report,
        RescueReport {
            requeued: 1,
            buried: 0
        }
    );
    let rescued = info(driver, short.receipt.id).await;
    // Backed off (the default policy, 1 s from the moved-forward now).
    assert_eq!(rescued.state, JobState::Scheduled);
    assert_eq!(rescued.attempt, 1, "the expired attempt counts");
    assert_eq!(
        info(driver, long.receipt.id).await.state,
        JobState::Running,
        "a valid lease was rescued"
    );
}

/// Every driver records the same error, with the same time, on a rescued
/// retry and on a rescued dead-letter.
pub async fn rescue_records_one_error_text_and_time(driver: &Arc<dyn Driver>) {
    let q = unique_queue("rescue-error");
    let retried = job(&q);
    let mut buried = job(&q);
    buried.max_attempts = 1;
    driver
        .enqueue(&[retried.clone(), buried.clone()])
        .await
        .unwrap();
    assert_eq!(
        claim(driver, std::slice::from_ref(&q), 2, Duration::from_secs(30))
            .await
            .len(),
        2
    );
    let now = later(60);
    let report = rescuer(driver).run_once(Some(now)).await.unwrap();
    assert_eq!(
        report,
        RescueReport {
            requeued: 1,
            buried: 1
        }
    );
    let retried = info(driver, retried.id).await;
    assert_eq!(retried.state, JobState::Scheduled);
    assert_eq!(
        retried.errors,
        vec![AttemptError {
            at: now,
            attempt: 1,
            message: "lease expired during attempt 1 of 3 (the worker stopped, crashed or hung)"
                .into(),
        }],
        "the rescued retry's error (text, attempt, time to the millisecond)"
    );
    let buried = info(driver, buried.id).await;
    assert_eq!(buried.state, JobState::Dead);
    assert_eq!(
        buried.errors,
        vec![AttemptError {
            at: now,
            attempt: 1,
            message: lease_expired_message(1, 1),
        }],
        "the rescued dead-letter's error (text, attempt, time to the millisecond)"
    );
}

/// A rescued retry waits for the backoff of the policy the job was
/// dispatched with.
pub async fn rescued_retry_backs_off_with_the_jobs_policy(driver: &Arc<dyn Driver>) {
    let q = unique_queue("rescue-backoff");
    let hourly = job_with_retry(
        &q,
        RetryPolicy::fixed(Duration::from_secs(3600)).without_jitter(),
    );
    driver.enqueue(std::slice::from_ref(&hourly)).await.unwrap();
    claim(driver, std::slice::from_ref(&q), 1, Duration::from_secs(30)).await;
    let now = later(60);
    rescuer(driver).run_once(Some(now)).await.unwrap();
    let rescued = info(driver, hourly.id).await;
    assert_eq!(rescued.state, JobState::Scheduled);
    assert_eq!(
        rescued.run_at,
        now + chrono::Duration::hours(1),
        "the rescued retry ignores the job's backoff"
    );
}

/// The driver's read returns at most `limit` expired leases, earliest
/// expiry first, and leaves the jobs running.
pub async fn expired_read_is_bounded_oldest_first_and_moves_nothing(driver: &Arc<dyn Driver>) {
    let q = unique_queue("expired-read");
    let jobs = [job(&q), job(&q), job(&q)];
    driver.enqueue(&jobs).await.unwrap();
    // Claimed in id order; the last claimed expires first.
    let mut claims = Vec::new();
    for secs in [30, 20, 10] {
        claims.push(
            claim(
                driver,
                std::slice::from_ref(&q),
                1,
                Duration::from_secs(secs),
            )
            .await
            .remove(0),
        );
    }
    let read = |now, limit| {
        driver.leases_expired(ExpiredParams {
            now: Some(now),
            limit,
        })
    };
    let expired = read(later(60), 2).await.unwrap();
    let receipts: Vec<_> = expired.iter().map(|e| e.receipt).collect();
    assert_eq!(receipts, vec![claims[2].receipt, claims[1].receipt]);
    let first = &expired[0];
    assert_eq!(
        (
            first.task.as_str(),
            first.queue.as_str(),
            first.attempt,
            first.max_attempts,
            first.payload.as_slice()
        ),
        ("conformance", q.as_str(), 1, 3, jobs[2].payload.as_slice())
    );
    assert_eq!(read(later(60), 10).await.unwrap().len(), 3);
    assert_eq!(read(later(15), 10).await.unwrap().len(), 1);
    let by_backend_clock = driver
        .leases_expired(ExpiredParams {
            now: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert!(by_backend_clock.is_empty(), "{by_backend_clock:?}");
    for j in &jobs {
        assert_eq!(
            info(driver, j.id).await.state,
            JobState::Running,
            "reading moved a job"
        );
    }
}

/// Two rescuers racing over the same expired leases apply each job once.
pub async fn racing_rescuers_apply_each_job_once(driver: &Arc<dyn Driver>) {
    let q = unique_queue("rescue-race");
    let jobs: Vec<_> = (0..40).map(|_| job(&q)).collect();
    driver.enqueue(&jobs).await.unwrap();
    assert_eq!(
        claim(
            driver,
            std::slice::from_ref(&q),
            40,
            Duration::from_secs(30)
        )
        .await
        .len(),
        40
    );
    let small = RescuerConfig {
        batch: 4,
        max_batches: 100,
    };
    let a = Rescuer::new(driver.clone(), small).unwrap();
    let b = Rescuer::new(driver.clone(), small).unwrap();
    let now = later(60);
    let (ra, rb) = tokio::join!(a.run_once(Some(now)), b.run_once(Some(now)));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.requeued + rb.requeued, 40, "{ra:?} {rb:?}");
    for j in &jobs {
        let rescued = info(driver, j.id).await;
        assert_eq!(rescued.errors.len(), 1, "{:?}", rescued.errors);
        assert_eq!(rescued.state, JobState::Scheduled);
    }
}
