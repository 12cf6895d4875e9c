//! Wake-ups: `wait` returns promptly on new work and never busy-loops.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::{job, plus_ms, unique_queue};
use crate::driver::Driver;

/// A waiter wakes up soon after an enqueue, well before its timeout.
pub async fn wait_wakes_on_enqueue(driver: &Arc<dyn Driver>) {
    let q = unique_queue("wake");
    let queues = vec![q.clone()];
    let start = Instant::now();
    let waiter = driver.wait(&queues, Duration::from_secs(5));
    let enqueuer = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        driver.enqueue(&[job(&q)]).await.unwrap();
    };
    let (woke, ()) = tokio::join!(waiter, enqueuer);
    woke.unwrap();
    let waited = start.elapsed();
    assert!(
        waited < Duration::from_millis(1500),
        "wait took {waited:?} to notice an enqueue"
    );
}

/// A waiter wakes up when a scheduled job comes due, not at its timeout.
pub async fn wait_wakes_when_a_scheduled_job_is_due(driver: &Arc<dyn Driver>) {
    let q = unique_queue("due");
    let queues = vec![q.clone()];
    let mut j = job(&q);
    // Before the due time is set: under load the enqueue itself may take a
    // good part of the 300 ms.
    let start = Instant::now();
    j.run_at = plus_ms(Utc::now(), 300);
    driver.enqueue(&[j]).await.unwrap();
    loop {
        driver.wait(&queues, Duration::from_secs(5)).await.unwrap();
        if !super::claim_one_queue(driver, &q, 1).await.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "due job never woke the waiter"
        );
    }
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "claimed before due: {waited:?}"
    );
    assert!(
        waited < Duration::from_millis(1500),
        "woke late: {waited:?}"
    );
}

/// With nothing to do, `wait` returns at its timeout (and not much earlier
/// than a spurious-wakeup budget allows many times over).
pub async fn wait_times_out_when_idle(driver: &Arc<dyn Driver>) {
    let q = unique_queue("idle");
    let queues = vec![q.clone()];
    let start = Instant::now();
    let mut wakeups = 0;
    while start.elapsed() < Duration::from_millis(300) {
        driver
            .wait(&queues, Duration::from_millis(300))
            .await
            .unwrap();
        wakeups += 1;
        assert!(wakeups < 1000, "wait busy-loops on an idle queue");
    }
}

/// A driver declares a listener exactly when it has a notifier, and
/// `next_due` reports a due job as due now and an empty queue as `None`.
pub async fn capabilities_match_the_wakeups(driver: &Arc<dyn Driver>) {
    let wakeups = driver.wakeups();
    assert_eq!(
        driver.capabilities().listener,
        wakeups.notifier.is_some(),
        "capabilities().listener must say whether wakeups() has a notifier"
    );
    let q = unique_queue("next-due");
    let queues = vec![q.clone()];
    assert_eq!(driver.next_due(&queues).await.unwrap(), None);
    let mut later = job(&q);
    later.run_at = plus_ms(Utc::now(), 60_000);
    driver.enqueue(&[later]).await.unwrap();
    let due = driver
        .next_due(&queues)
        .await
        .unwrap()
        .expect("a scheduled job");
    assert!(
        due > Duration::from_secs(50) && due <= Duration::from_secs(60),
        "{due:?}"
    );
    driver.enqueue(&[job(&q)]).await.unwrap();
    assert_eq!(
        driver.next_due(&queues).await.unwrap(),
        Some(Duration::ZERO)
    );
}
