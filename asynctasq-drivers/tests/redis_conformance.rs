//! The driver conformance suite on a single Redis server (127.0.0.1:6379, or
//! `ASYNCTASQ_TEST_REDIS_URL`), plus Redis-specific checks: bounded scripts on
//! a large backlog, no leftovers after completion, wake-up latency.
//!
//! Every test uses its own random key prefix. The tests fail (they do not
//! skip) when Redis cannot be reached.

use asynctasq_core::Completion;
use std::collections::HashSet;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use asynctasq_core::conformance::{claim, claim_one_queue, job, plus_ms, stats_of, unique_queue};
use asynctasq_core::{
    AttemptError, Burial, DeadListParams, DeadSelector, Driver, JobState, Receipt, Rescuer,
    RescuerConfig,
};
use asynctasq_drivers::RedisDriver;
use chrono::Utc;

fn base_url() -> String {
    std::env::var("ASYNCTASQ_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn random_prefix() -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!("atq-test-{}", &id[16..])
}

async fn connect_with_prefix(prefix: &str) -> RedisDriver {
    let url = format!("{}/?prefix={prefix}", base_url().trim_end_matches('/'));
    let driver = RedisDriver::connect(&url).await.unwrap_or_else(|e| {
        panic!("cannot reach Redis at {url} (start it, or set ASYNCTASQ_TEST_REDIS_URL): {e}")
    });
    driver.migrate().await.expect("migrate");
    driver
}

async fn driver() -> Arc<dyn Driver> {
    Arc::new(connect_with_prefix(&random_prefix()).await)
}

asynctasq_core::conformance_tests!(driver);

/// Keys under `pattern`, read with `redis-cli --scan` on the test server.
fn keys_matching(pattern: &str) -> Vec<String> {
    let out = Command::new("redis-cli")
        .args(["-u", &base_url(), "--scan", "--pattern", pattern])
        .output()
        .expect("redis-cli");
    assert!(out.status.success(), "redis-cli failed: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Errors stored before the shared codec (`at` in epoch milliseconds, one
/// JSON object per line) still display, next to entries of the new form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_stored_in_the_old_form_still_read() {
    let prefix = random_prefix();
    let driver: Arc<dyn Driver> = Arc::new(connect_with_prefix(&prefix).await);
    let q = unique_queue("old-errors");
    driver.enqueue(&[job(&q)]).await.unwrap();
    let claimed = claim_one_queue(&driver, &q, 1).await.remove(0);
    let error = AttemptError::now(1, "new form");
    let burial = Burial {
        receipt: claimed.receipt,
        error: error.clone(),
    };
    assert_eq!(driver.bury(&[burial]).await.unwrap(), 1);
    let id = claimed.receipt.id;
    let keys = keys_matching(&format!("{{{prefix}:*errors:{id}"));
    assert_eq!(keys.len(), 1, "{keys:?}");
    let new_line = error.to_stored();
    let old = format!(
        "{{\"at\":1700000000123,\"attempt\":1,\"message\":\"lease expired\\nduring attempt 1\"}}\n{new_line}"
    );
    let out = Command::new("redis-cli")
        .args(["-u", &base_url(), "SET", &keys[0], &old])
        .output()
        .expect("redis-cli");
    assert!(out.status.success(), "redis-cli failed: {out:?}");
    let info = driver.job(id).await.unwrap().expect("job");
    assert_eq!(
        info.errors,
        [
            AttemptError {
                at: asynctasq_core::job::from_millis(1_700_000_000_123),
                attempt: 1,
                message: "lease expired\nduring attempt 1".into(),
            },
            error.as_stored(),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_through_the_core_url_registry() {
    let prefix = random_prefix();
    let url = format!("{}/?prefix={prefix}", base_url().trim_end_matches('/'));
    let driver = asynctasq_core::connect(&url).await.expect("connect");
    assert_eq!(driver.name(), "redis");
    driver.migrate().await.unwrap();
    let q = unique_queue("url");
    driver.enqueue(&[job(&q)]).await.unwrap();
    assert_eq!(stats_of(&driver, &q).await.ready, 1);
    let debug = format!("{driver:?}");
    assert!(debug.contains(&prefix), "{debug}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_never_reach_errors() {
    let err = RedisDriver::connect("redis://user:hunter2@127.0.0.1:1/")
        .await
        .expect_err("nothing listens on port 1");
    let text = format!(
        "{err} {err:?} {}",
        std::error::Error::source(&err)
            .map(|s| s.to_string())
            .unwrap_or_default()
    );
    assert!(!text.contains("hunter2"), "{text}");
}

/// Finished jobs leave nothing behind: no job hash, no empty set, no index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completed_and_purged_jobs_leave_no_keys() {
    let prefix = random_prefix();
    let driver: Arc<dyn Driver> = Arc::new(connect_with_prefix(&prefix).await);
    let q = unique_queue("clean");
    let mut jobs: Vec<_> = (0..50).map(|_| job(&q)).collect();
    for (i, j) in jobs.iter_mut().enumerate() {
        j.priority = (i % 3) as i16;
    }
    driver.enqueue(&jobs).await.unwrap();
    let claimed = claim_one_queue(&driver, &q, 100).await;
    assert_eq!(claimed.len(), 50);
    let (last, rest) = claimed.split_last().unwrap();
    let receipts: Vec<_> = rest.iter().map(|c| c.receipt).collect();
    assert_eq!(
        driver
            .complete(&receipts, Completion::Delete)
            .await
            .unwrap(),
        49
    );
    assert!(bury_one(&*driver, last.receipt, AttemptError::now(1, "x")).await);
    assert_eq!(
        driver
            .dead_purge(DeadSelector::All { queue: Some(&q) })
            .await
            .unwrap(),
        1
    );
    let left = keys_matching(&format!("{{{prefix}:*"));
    assert!(left.is_empty(), "keys left behind: {left:?}");
    let registry = keys_matching(&format!("{{{prefix}}}:*"));
    assert!(registry.len() <= 3, "{registry:?}");
}

/// A backlog far beyond Lua's `unpack` limit (~8000) is claimed, rescued,
/// counted and purged in bounded script calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_backlog_stays_healthy() {
    const N: usize = 30_000;
    let driver: Arc<dyn Driver> = driver().await;
    let q = unique_queue("backlog");
    let now = Utc::now();
    let started = Instant::now();
    for batch in 0..(N / 5000) {
        let jobs: Vec<_> = (0..5000)
            .map(|i| {
                let mut j = job(&q);
                j.priority = ((batch * 5000 + i) % 4) as i16;
                j.run_at = plus_ms(now, -((i % 1000) as i64));
                j
            })
            .collect();
        driver.enqueue(&jobs).await.unwrap();
    }
    let enqueued = started.elapsed();
    let stats = stats_of(&driver, &q).await;
    assert_eq!(stats.ready, N as u64);

    let started = Instant::now();
    let first = claim(
        &driver,
        std::slice::from_ref(&q),
        300,
        Duration::from_millis(1),
    )
    .await;
    assert_eq!(first.len(), 300);
    assert!(first.iter().all(|c| c.attempt == 1));
    let one_claim = started.elapsed();
    let mut ids: HashSet<_> = first.iter().map(|c| c.receipt.id).collect();
    let mut total = first.len();
    loop {
        let got = claim(
            &driver,
            std::slice::from_ref(&q),
            2000,
            Duration::from_millis(1),
        )
        .await;
        if got.is_empty() {
            break;
        }
        total += got.len();
        ids.extend(got.iter().map(|c| c.receipt.id));
    }
    assert_eq!((total, ids.len()), (N, N), "every job claimed once");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let rescuer = Rescuer::new(
        driver.clone(),
        RescuerConfig {
            batch: 2000,
            max_batches: N,
        },
    )
    .unwrap();
    let report = rescuer.run_once(None).await.unwrap();
    assert_eq!(report.requeued, N as u64, "{report:?}");
    let stats = stats_of(&driver, &q).await;
    // Rescued retries back off (the default policy, about a second).
    assert_eq!(stats.ready + stats.scheduled, N as u64, "{stats:?}");
    assert_eq!(driver.queue_purge(&q).await.unwrap(), N as u64);
    assert_eq!(stats_of(&driver, &q).await.outstanding(), 0);
    eprintln!("backlog of {N}: enqueue {enqueued:?}, first claim of 300 {one_claim:?}");
    assert!(
        one_claim < Duration::from_secs(1),
        "claim slowed down with the backlog: {one_claim:?}"
    );
}

/// With several queues, the queue whose best due job has the highest priority goes first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_queue_claims_prefer_the_highest_priority() {
    let driver = driver().await;
    let low = unique_queue("low");
    let high = unique_queue("high");
    let mut l = job(&low);
    l.priority = 1;
    let mut h = job(&high);
    h.priority = 7;
    driver.enqueue(&[l.clone(), h.clone()]).await.unwrap();
    let got = claim(
        &driver,
        &[low.clone(), high.clone()],
        1,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(got[0].receipt.id, h.id);
    let got = claim(
        &driver,
        &[low.clone(), high.clone()],
        5,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].receipt.id, l.id);
    driver.queue_pause(&high).await.unwrap();
    driver.enqueue(&[job(&high), job(&low)]).await.unwrap();
    let got = claim(
        &driver,
        &[low.clone(), high.clone()],
        5,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(got.len(), 1, "paused queue skipped");
    assert_eq!(got[0].queue, low);
}

/// An idle waiter starts within milliseconds of an enqueue, and of a due time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wake_up_latency_is_milliseconds() {
    let driver = driver().await;
    let q = unique_queue("latency");
    let queues = vec![q.clone()];
    driver
        .wait(&queues, Duration::from_millis(1))
        .await
        .unwrap(); // subscribe once
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let d = driver.clone();
        let qs = queues.clone();
        let waiter = tokio::spawn(async move {
            d.wait(&qs, Duration::from_secs(5)).await.unwrap();
            Instant::now()
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let sent = Instant::now();
        driver.enqueue(&[job(&q)]).await.unwrap();
        let woke = waiter.await.unwrap();
        worst = worst.max(woke.saturating_duration_since(sent));
        claim_one_queue(&driver, &q, 10).await;
    }
    eprintln!("worst enqueue-to-wake latency: {worst:?}");
    assert!(worst < Duration::from_millis(100), "{worst:?}");

    let mut later = job(&q);
    later.run_at = plus_ms(Utc::now(), 150);
    let due = Instant::now() + Duration::from_millis(150);
    driver.enqueue(&[later]).await.unwrap();
    let started = Instant::now();
    while claim_one_queue(&driver, &q, 1).await.is_empty() {
        driver.wait(&queues, Duration::from_secs(5)).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    let late = Instant::now().saturating_duration_since(due);
    eprintln!("scheduled job claimed {late:?} after its due time");
    assert!(late < Duration::from_millis(100), "{late:?}");
}

/// Dead jobs of every queue are listed newest first and requeued by id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letter_across_queues() {
    let driver = driver().await;
    let a = unique_queue("dead-a");
    let b = unique_queue("dead-b");
    driver.enqueue(&[job(&a), job(&b), job(&a)]).await.unwrap();
    let mut buried = Vec::new();
    for q in [&a, &b, &a] {
        let c = claim_one_queue(&driver, q, 1).await.remove(0);
        tokio::time::sleep(Duration::from_millis(3)).await;
        bury_one(&*driver, c.receipt, AttemptError::now(1, format!("in {q}"))).await;
        buried.push(c.receipt.id);
    }
    let all = driver
        .dead_list(DeadListParams {
            queue: None,
            limit: 10,
            offset: 0,
        })
        .await
        .unwrap();
    let ids: Vec<_> = all.iter().map(|d| d.id).collect();
    assert_eq!(ids, vec![buried[2], buried[1], buried[0]]);
    let page = driver
        .dead_list(DeadListParams {
            queue: None,
            limit: 1,
            offset: 1,
        })
        .await
        .unwrap();
    assert_eq!(page[0].id, buried[1]);
    assert_eq!(page[0].queue, b);
    assert_eq!(
        driver
            .dead_requeue(DeadSelector::Ids(&[buried[1], buried[0]]))
            .await
            .unwrap(),
        2
    );
    let info = driver.job(buried[1]).await.unwrap().unwrap();
    assert_eq!((info.state, info.attempt), (JobState::Ready, 0));
    assert_eq!(
        driver
            .dead_purge(DeadSelector::All { queue: None })
            .await
            .unwrap(),
        1
    );
}

/// A job key that holds something this driver never wrote does not fail the
/// claim of its batch: it comes back with those bytes as its payload (a
/// worker buries it as undecodable), and the scripts that read a body's
/// header (lookup, bury, rescue) still handle it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_body_fails_alone() {
    let prefix = random_prefix();
    let driver: Arc<dyn Driver> = Arc::new(connect_with_prefix(&prefix).await);
    let q = unique_queue("foreign");
    let (bad, good) = (job(&q), job(&q));
    driver.enqueue(&[bad.clone(), good.clone()]).await.unwrap();
    let key = format!("{{{prefix}:{q}}}:job:{}", bad.id);
    let out = Command::new("redis-cli")
        .args(["-u", &base_url(), "SET", &key, "not a body"])
        .output()
        .expect("redis-cli");
    assert!(out.status.success(), "redis-cli failed: {out:?}");

    let claimed = claim_one_queue(&driver, &q, 10).await;
    assert_eq!(claimed.len(), 2);
    let foreign = claimed.iter().find(|c| c.receipt.id == bad.id).unwrap();
    assert_eq!(foreign.payload, b"not a body");
    assert_eq!((foreign.task.as_str(), foreign.max_attempts), ("", 1));
    let fine = claimed.iter().find(|c| c.receipt.id == good.id).unwrap();
    assert_eq!(fine.payload, good.payload);

    assert!(
        bury_one(
            &*driver,
            foreign.receipt,
            AttemptError::now(1, "undecodable payload")
        )
        .await
    );
    let info = driver.job(bad.id).await.unwrap().expect("still listed");
    assert_eq!(info.state, JobState::Dead);
    assert_eq!(info.errors[0].message, "undecodable payload");
}

/// Buries one job; whether its receipt was still valid.
async fn bury_one(driver: &dyn Driver, receipt: Receipt, error: AttemptError) -> bool {
    driver.bury(&[Burial { receipt, error }]).await.unwrap() == 1
}
