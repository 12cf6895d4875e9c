//! Admin operations: stats, lookup, dead-letter, purge.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::{claim_one_queue, dead_page, job, plus_ms, stats_of, unique_queue};
use crate::driver::Driver;
use crate::job::{AttemptError, Burial, Completion, DeadSelector, JobState, QueueStats};

/// Stats count ready, scheduled, running and dead jobs per queue.
pub async fn stats_count_every_state(driver: &Arc<dyn Driver>) {
    let q = unique_queue("stats");
    let mut later = job(&q);
    later.run_at = plus_ms(Utc::now(), 60_000);
    let mut first = job(&q);
    first.priority = 9;
    let mut second = job(&q);
    second.priority = 8;
    driver
        .enqueue(&[first, second, job(&q), job(&q), later])
        .await
        .unwrap();
    let claimed = claim_one_queue(driver, &q, 2).await;
    let burial = Burial {
        receipt: claimed[1].receipt,
        error: AttemptError::now(1, "x"),
    };
    assert_eq!(driver.bury(&[burial]).await.unwrap(), 1);
    let stats = stats_of(driver, &q).await;
    assert_eq!(
        stats,
        QueueStats {
            queue: q.clone(),
            ready: 2,
            scheduled: 1,
            running: 1,
            dead: 1,
            paused: false
        }
    );
    let all = driver.stats(None).await.unwrap();
    assert!(
        all.iter().any(|s| s.queue == q),
        "stats(None) misses a queue"
    );
}

/// A job can be looked up by the id it was enqueued with.
pub async fn job_lookup_by_id(driver: &Arc<dyn Driver>) {
    let q = unique_queue("lookup");
    let mut j = job(&q);
    j.priority = 4;
    j.max_attempts = 7;
    j.task = "emails::welcome".into();
    driver.enqueue(&[j.clone()]).await.unwrap();
    let info = driver.job(j.id).await.unwrap().expect("job");
    assert_eq!(info.id, j.id);
    assert_eq!(info.task, "emails::welcome");
    assert_eq!(info.queue, q);
    assert_eq!(info.state, JobState::Ready);
    assert_eq!((info.attempt, info.max_attempts, info.priority), (0, 7, 4));
    assert!((info.run_at - j.run_at).num_milliseconds().abs() <= 1);
    assert!(info.errors.is_empty());
    assert!(
        driver
            .job(crate::job::JobId::new())
            .await
            .unwrap()
            .is_none()
    );
}

/// Dead jobs can be listed, requeued (by id or all) and purged.
pub async fn dead_list_requeue_and_purge(driver: &Arc<dyn Driver>) {
    let q = unique_queue("dead");
    let jobs: Vec<_> = (0..4).map(|_| job(&q)).collect();
    driver.enqueue(&jobs).await.unwrap();
    for (i, c) in claim_one_queue(driver, &q, 4).await.iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let burial = Burial {
            receipt: c.receipt,
            error: AttemptError::now(1, format!("failure {i}")),
        };
        assert_eq!(driver.bury(&[burial]).await.unwrap(), 1);
    }
    let dead = dead_page(driver, &q, 10, 0).await;
    assert_eq!(dead.len(), 4);
    assert_eq!(
        dead[0].last_error().unwrap().message,
        "failure 3",
        "newest first"
    );
    assert!(dead.iter().all(|d| d.state == JobState::Dead));
    let page = dead_page(driver, &q, 2, 2).await;
    assert_eq!(
        page.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![dead[2].id, dead[3].id]
    );

    let one = [dead[0].id];
    assert_eq!(
        driver.dead_requeue(DeadSelector::Ids(&one)).await.unwrap(),
        1
    );
    let requeued = claim_one_queue(driver, &q, 10).await;
    assert_eq!(requeued.len(), 1);
    assert_eq!(requeued[0].receipt.id, dead[0].id);
    assert_eq!(
        requeued[0].attempt, 1,
        "a requeued job starts a fresh attempt count"
    );
    let info = driver.job(dead[0].id).await.unwrap().unwrap();
    assert_eq!(info.errors.len(), 1, "requeue keeps the error history");

    let q_only = DeadSelector::All { queue: Some(&q) };
    assert_eq!(
        driver
            .dead_purge(DeadSelector::Ids(&[dead[1].id]))
            .await
            .unwrap(),
        1
    );
    assert_eq!(driver.dead_requeue(q_only).await.unwrap(), 2);
    assert_eq!(stats_of(driver, &q).await.ready, 2);
    let burials: Vec<Burial> = claim_one_queue(driver, &q, 10)
        .await
        .iter()
        .map(|c| Burial {
            receipt: c.receipt,
            error: AttemptError::now(1, "again"),
        })
        .collect();
    assert_eq!(driver.bury(&burials).await.unwrap(), 2);
    assert_eq!(driver.dead_purge(q_only).await.unwrap(), 2);
    assert!(dead_page(driver, &q, 10, 0).await.is_empty());
}

/// Purging a queue deletes ready and scheduled jobs but not running ones.
pub async fn queue_purge_keeps_running_jobs(driver: &Arc<dyn Driver>) {
    let q = unique_queue("purge");
    let other = unique_queue("purge-other");
    let mut later = job(&q);
    later.run_at = plus_ms(Utc::now(), 60_000);
    driver
        .enqueue(&[job(&q), job(&q), job(&q), later, job(&other)])
        .await
        .unwrap();
    let running = claim_one_queue(driver, &q, 1).await.remove(0);
    assert_eq!(driver.queue_purge(&q).await.unwrap(), 3);
    let stats = stats_of(driver, &q).await;
    assert_eq!((stats.ready, stats.scheduled, stats.running), (0, 0, 1));
    assert_eq!(
        stats_of(driver, &other).await.ready,
        1,
        "purge touched another queue"
    );
    assert_eq!(
        driver
            .complete(&[running.receipt], Completion::Delete)
            .await
            .unwrap(),
        1
    );
}
