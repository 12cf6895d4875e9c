//! Tests of the SQLite driver that are specific to SQLite: schema
//! migrations, wake-ups across connections and processes, WAL files on disk,
//! rows written by other tools. The behaviour every driver shares is in the
//! conformance suite (`sqlite_conformance.rs`).

#![cfg(feature = "sqlite")]

use asynctasq_core::Completion;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use asynctasq_core::job::to_millis;
use asynctasq_core::{
    AttemptError, Burial, ClaimParams, ClaimedJob, DeadListParams, DeadSelector, Driver, JobId,
    JobState, NewJob, QueueStats, Receipt, Retry,
};
use asynctasq_drivers::SqliteDriver;
use chrono::Utc;
use sqlx::sqlite::SqlitePoolOptions;
use tempfile::TempDir;

fn url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

async fn open(path: &Path) -> SqliteDriver {
    let driver = SqliteDriver::connect(&url(path)).await.expect("connect");
    driver.migrate().await.expect("migrate");
    driver
}

async fn fresh() -> (TempDir, PathBuf, SqliteDriver) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.db");
    let driver = open(&path).await;
    (dir, path, driver)
}

fn job(queue: &str, priority: i16, delay_ms: i64) -> NewJob {
    NewJob {
        id: JobId::new(),
        task: "test.task".into(),
        queue: queue.into(),
        priority,
        run_at: Utc::now() + chrono::Duration::milliseconds(delay_ms),
        max_attempts: 3,
        payload: vec![1, 2, 3],
    }
}

fn queues(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

async fn claim(driver: &SqliteDriver, names: &[&str], max: usize) -> Vec<ClaimedJob> {
    claim_for(driver, names, max, Duration::from_secs(30)).await
}

async fn claim_for(
    driver: &SqliteDriver,
    names: &[&str],
    max: usize,
    lease: Duration,
) -> Vec<ClaimedJob> {
    let queues = queues(names);
    driver
        .claim(ClaimParams {
            worker: "test-worker",
            queues: &queues,
            max,
            lease,
        })
        .await
        .expect("claim")
}

async fn stats_of(driver: &SqliteDriver, queue: &str) -> QueueStats {
    let stats = driver.stats(Some(&queues(&[queue]))).await.unwrap();
    assert_eq!(stats.len(), 1, "{stats:?}");
    stats.into_iter().next().unwrap()
}

#[tokio::test]
async fn migrate_is_idempotent() {
    let (_dir, path, driver) = fresh().await;
    driver.migrate().await.unwrap();
    driver.migrate().await.unwrap();
    // A second driver on the same file finds the schema in place.
    open(&path).await.migrate().await.unwrap();
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM asynctasq_schema")
        .fetch_all(driver.pool())
        .await
        .unwrap();
    assert_eq!(versions, [1, 2], "each version is applied once");
    let identities: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM asynctasq_instance")
        .fetch_one(driver.pool())
        .await
        .unwrap();
    assert_eq!(identities, 1, "one identity for the jobs database");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(driver.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn a_schema_migrated_by_a_newer_build_is_refused() {
    let (_dir, path, driver) = fresh().await;
    sqlx::query("INSERT INTO asynctasq_schema (version) VALUES (99)")
        .execute(driver.pool())
        .await
        .unwrap();
    let newer = SqliteDriver::connect(&url(&path)).await.expect("connect");
    let err = newer
        .migrate()
        .await
        .expect_err("a newer schema was accepted");
    assert!(
        matches!(
            err,
            asynctasq_core::Error::SchemaTooNew {
                driver: "sqlite",
                found: 99,
                supported: 2
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("upgrade asynctasq, or point this build at a database of its own"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_connects_and_migrations_on_a_fresh_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.db");
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            tokio::spawn(async move { open(&path).await })
        })
        .collect();
    let mut drivers = Vec::new();
    for open in opens {
        drivers.push(open.await.unwrap());
    }
    drivers[0].enqueue(&[job("q", 0, 0)]).await.unwrap();
    assert_eq!(claim(&drivers[3], &["q"], 10).await.len(), 1);
}

/// Set by [`concurrent_migrations_across_processes`] for its child processes.
const CHILD_DB: &str = "ASYNCTASQ_SQLITE_TEST_CHILD_DB";

/// Not a test on its own: the body of a child process.
#[tokio::test]
async fn child_process_opens_and_migrates() {
    let Ok(path) = std::env::var(CHILD_DB) else {
        return;
    };
    let driver = open(Path::new(&path)).await;
    driver.enqueue(&[job("from-child", 0, 0)]).await.unwrap();
}

#[tokio::test]
async fn concurrent_migrations_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.db");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| {
            std::process::Command::new(&exe)
                .args(["--exact", "child_process_opens_and_migrates", "--quiet"])
                .env(CHILD_DB, &path)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let driver = open(&path).await;
    assert_eq!(stats_of(&driver, "from-child").await.ready, 3);
}

#[tokio::test]
async fn claims_in_priority_then_run_at_then_id_order() {
    let (_dir, _path, driver) = fresh().await;
    let mut jobs = vec![
        job("a", 0, -3000),
        job("a", 5, -1000),
        job("b", 5, -2000),
        job("a", 0, -4000),
        job("b", -1, -9000),
        job("a", 9, 60_000), // scheduled: not claimable
        job("c", 9, 0),      // another queue
    ];
    // Same priority and run_at: the id breaks the tie.
    let mut twin = job("a", 0, 0);
    twin.run_at = jobs[0].run_at;
    jobs.push(twin);
    driver.enqueue(&jobs).await.unwrap();

    let claimed = claim(&driver, &["a", "b"], 10).await;
    let got: Vec<JobId> = claimed.iter().map(|c| c.receipt.id).collect();
    let mut expected = vec![jobs[2].id, jobs[1].id, jobs[3].id];
    let mut tied = [jobs[0].id, jobs[7].id];
    tied.sort();
    expected.extend(tied);
    expected.push(jobs[4].id);
    // jobs[1] and jobs[2] have the same priority: earlier run_at first.
    assert_eq!(got, expected);
    assert!(
        claimed
            .iter()
            .all(|c| c.attempt == 1 && c.max_attempts == 3)
    );
    assert!(
        claimed
            .windows(2)
            .all(|w| w[0].receipt.token == w[1].receipt.token)
    );
    assert!(claim(&driver, &["a", "b"], 10).await.is_empty());
}

#[tokio::test]
async fn claim_respects_max_and_paused_queues() {
    let (_dir, _path, driver) = fresh().await;
    let jobs: Vec<NewJob> = (0..10).map(|_| job("q", 0, 0)).collect();
    driver.enqueue(&jobs).await.unwrap();
    driver.enqueue(&[job("p", 0, 0)]).await.unwrap();
    driver.queue_pause("p").await.unwrap();

    let first = claim(&driver, &["q", "p"], 4).await;
    assert_eq!(first.len(), 4);
    let ids: Vec<JobId> = first.iter().map(|c| c.receipt.id).collect();
    assert_eq!(ids, jobs[..4].iter().map(|j| j.id).collect::<Vec<_>>());
    assert_eq!(claim(&driver, &["p"], 10).await.len(), 0);
    assert!(stats_of(&driver, "p").await.paused);

    driver.queue_resume("p").await.unwrap();
    assert_eq!(claim(&driver, &["p", "p"], 10).await.len(), 1);
    assert_eq!(claim(&driver, &["q"], 100).await.len(), 6);
}

#[tokio::test]
async fn large_batches_are_enqueued_in_one_transaction() {
    let (_dir, _path, driver) = fresh().await;
    let jobs: Vec<NewJob> = (0..1000).map(|_| job("bulk", 0, 0)).collect();
    driver.enqueue(&jobs).await.unwrap();
    assert_eq!(stats_of(&driver, "bulk").await.ready, 1000);

    // A duplicate id fails the whole batch: nothing of it is stored.
    let mut batch: Vec<NewJob> = (0..300).map(|_| job("dup", 0, 0)).collect();
    batch.push(jobs[0].clone());
    assert!(driver.enqueue(&batch).await.is_err());
    assert_eq!(stats_of(&driver, "dup").await.ready, 0);
}

#[tokio::test]
async fn stale_receipts_change_nothing() {
    let (_dir, _path, driver) = fresh().await;
    driver
        .enqueue(&[job("q", 0, 0), job("q", 0, 0)])
        .await
        .unwrap();
    let claimed = claim(&driver, &["q"], 2).await;
    let good = claimed[0].receipt;
    let stale = Receipt {
        id: good.id,
        token: good.token.wrapping_add(1),
    };
    let error = AttemptError::now(1, "boom");
    assert_eq!(
        driver.complete(&[stale], Completion::Delete).await.unwrap(),
        0
    );
    assert!(!retry_one(&driver, stale, Utc::now(), error.clone()).await);
    assert!(!bury_one(&driver, stale, error).await);
    assert_eq!(driver.release(&[stale]).await.unwrap(), 0);
    assert_eq!(
        driver
            .extend(&[stale], Duration::from_secs(60))
            .await
            .unwrap(),
        vec![stale]
    );
    let info = driver.job(good.id).await.unwrap().unwrap();
    assert_eq!((info.state, info.attempt), (JobState::Running, 1));
    assert!(info.errors.is_empty());

    // A batch of good and stale receipts applies only the good ones.
    let other = claimed[1].receipt;
    assert_eq!(
        driver
            .complete(&[stale, good, other], Completion::Delete)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        driver.complete(&[good], Completion::Delete).await.unwrap(),
        0
    );
    assert!(driver.job(good.id).await.unwrap().is_none());
}

#[tokio::test]
async fn retry_release_and_extend() {
    let (_dir, _path, driver) = fresh().await;
    let a = job("q", 0, 0);
    driver.enqueue(std::slice::from_ref(&a)).await.unwrap();
    let c = claim(&driver, &["q"], 1).await.remove(0);
    let later = Utc::now() + chrono::Duration::seconds(60);
    assert!(retry_one(&driver, c.receipt, later, AttemptError::now(1, "first")).await);
    let info = driver.job(a.id).await.unwrap().unwrap();
    assert_eq!(info.state, JobState::Scheduled);
    assert_eq!(to_millis(info.run_at), to_millis(later));
    assert_eq!(info.errors.len(), 1);
    assert!(claim(&driver, &["q"], 1).await.is_empty());

    // Back to ready by hand, then release: the attempt is not counted.
    sqlx::query("UPDATE asynctasq_jobs SET run_at = 0")
        .execute(driver.pool())
        .await
        .unwrap();
    let c = claim(&driver, &["q"], 1).await.remove(0);
    assert_eq!(c.attempt, 2);
    assert_eq!(
        driver
            .extend(&[c.receipt], Duration::from_secs(3600))
            .await
            .unwrap(),
        vec![]
    );
    let until: i64 = sqlx::query_scalar("SELECT lease_until FROM asynctasq_jobs")
        .fetch_one(driver.pool())
        .await
        .unwrap();
    assert!(until > to_millis(Utc::now()) + 3_500_000);
    assert_eq!(driver.release(&[c.receipt]).await.unwrap(), 1);
    let info = driver.job(a.id).await.unwrap().unwrap();
    assert_eq!((info.state, info.attempt), (JobState::Ready, 1));
    assert_eq!(
        driver
            .complete(&[c.receipt], Completion::Delete)
            .await
            .unwrap(),
        0
    );
    assert_eq!(claim(&driver, &["q"], 1).await[0].attempt, 2);
}

#[tokio::test]
async fn garbage_payloads_are_stored_as_is() {
    let (_dir, _path, driver) = fresh().await;
    let mut j = job("q", 0, 0);
    j.payload = vec![0xff, 0x00, 0xc1, 0xde, 0xad, 0x00, 0xbe, 0xef];
    let empty = NewJob {
        payload: Vec::new(),
        ..job("q", -1, 0)
    };
    driver.enqueue(&[j.clone(), empty]).await.unwrap();
    let claimed = claim(&driver, &["q"], 2).await;
    assert_eq!(claimed[0].payload, j.payload);
    assert_eq!(claimed[1].payload, Vec::<u8>::new());
}

#[tokio::test]
async fn malformed_error_history_does_not_break_acks_or_reads() {
    let (_dir, _path, driver) = fresh().await;
    let a = job("q", 0, 0);
    let b = job("q", 0, 0);
    driver.enqueue(&[a.clone(), b.clone()]).await.unwrap();
    let claimed = claim(&driver, &["q"], 2).await;
    sqlx::query("UPDATE asynctasq_jobs SET errors = 'not json {' WHERE id = ?1")
        .bind(a.id.to_string())
        .execute(driver.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE asynctasq_jobs SET errors = x'00ff' WHERE id = ?1")
        .bind(b.id.to_string())
        .execute(driver.pool())
        .await
        .unwrap();
    let info = driver.job(a.id).await.unwrap().unwrap();
    assert_eq!(info.errors.len(), 1);
    assert_eq!(info.errors[0].message, "not json {");

    let receipt = |id| claimed.iter().find(|c| c.receipt.id == id).unwrap().receipt;
    let error = AttemptError::now(1, "real error");
    assert!(bury_one(&driver, receipt(a.id), error.clone()).await);
    assert!(retry_one(&driver, receipt(b.id), Utc::now(), error.clone()).await);
    for id in [a.id, b.id] {
        let info = driver.job(id).await.unwrap().unwrap();
        assert_eq!(info.errors.len(), 2, "{info:?}");
        assert_eq!(info.last_error(), Some(&error.as_stored()));
    }
}

#[tokio::test]
async fn stats_and_dead_letter_admin() {
    let (_dir, _path, driver) = fresh().await;
    driver
        .enqueue(&[
            job("a", 0, 0),
            job("a", 0, 0),
            job("a", 0, 0),
            job("a", 0, 60_000),
            job("b", 0, 0),
        ])
        .await
        .unwrap();
    driver.queue_pause("idle").await.unwrap();
    let c = claim(&driver, &["a"], 2).await;
    assert!(bury_one(&driver, c[0].receipt, AttemptError::now(1, "dead one")).await);
    tokio::time::sleep(Duration::from_millis(3)).await;
    assert!(bury_one(&driver, c[1].receipt, AttemptError::now(1, "dead two")).await);

    let all = driver.stats(None).await.unwrap();
    let names: Vec<&str> = all.iter().map(|s| s.queue.as_str()).collect();
    assert_eq!(names, ["a", "b", "idle"]);
    assert_eq!(
        all[0],
        QueueStats {
            queue: "a".into(),
            ready: 1,
            scheduled: 1,
            running: 0,
            dead: 2,
            paused: false,
        }
    );
    assert!(all[2].paused && all[2].outstanding() == 0);
    let some = driver
        .stats(Some(&queues(&["b", "nothing"])))
        .await
        .unwrap();
    assert_eq!(some.len(), 2);
    assert_eq!(some[0].ready, 1);
    assert_eq!(
        some[1],
        QueueStats {
            queue: "nothing".into(),
            ..Default::default()
        }
    );

    let dead = driver
        .dead_list(DeadListParams {
            queue: None,
            limit: 10,
            offset: 0,
        })
        .await
        .unwrap();
    assert_eq!(
        dead.iter().map(|d| d.id).collect::<Vec<_>>(),
        [c[1].receipt.id, c[0].receipt.id]
    );
    assert_eq!(dead[0].last_error().unwrap().message, "dead two");
    assert_eq!(
        driver
            .dead_list(DeadListParams {
                queue: Some("a"),
                limit: 1,
                offset: 1
            })
            .await
            .unwrap()[0]
            .id,
        c[0].receipt.id
    );
    assert!(
        driver
            .dead_list(DeadListParams {
                queue: Some("b"),
                limit: 10,
                offset: 0
            })
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(
        driver
            .dead_requeue(DeadSelector::Ids(&[c[0].receipt.id, JobId::new()]))
            .await
            .unwrap(),
        1
    );
    let info = driver.job(c[0].receipt.id).await.unwrap().unwrap();
    assert_eq!((info.state, info.attempt), (JobState::Ready, 0));
    assert_eq!(info.errors.len(), 1, "the history is kept");
    assert_eq!(
        driver
            .dead_purge(DeadSelector::All { queue: Some("b") })
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        driver
            .dead_purge(DeadSelector::All { queue: None })
            .await
            .unwrap(),
        1
    );
    assert_eq!(driver.queue_purge("a").await.unwrap(), 3);
    assert_eq!(stats_of(&driver, "a").await.outstanding(), 0);
}

/// Measures how long `wait` takes to return after `trigger` runs.
async fn wake_latency<F: std::future::Future<Output = ()>>(
    waiter: &SqliteDriver,
    queue: &str,
    trigger: F,
) -> Duration {
    let waiter = waiter.clone();
    let queues = queues(&[queue]);
    let wait = tokio::spawn(async move {
        waiter.wait(&queues, Duration::from_secs(5)).await.unwrap();
        Instant::now()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!wait.is_finished(), "wait returned with nothing to do");
    let start = Instant::now();
    trigger.await;
    let woke = wait.await.unwrap();
    woke.saturating_duration_since(start)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_wakes_on_an_in_process_enqueue() {
    let (_dir, path, driver) = fresh().await;
    let latency = wake_latency(&driver, "q", async {
        driver.enqueue(&[job("q", 0, 0)]).await.unwrap();
    })
    .await;
    assert!(latency < Duration::from_millis(50), "{latency:?}");

    // Another driver instance on the same file shares the wake-ups.
    let other = open(&path).await;
    let latency = wake_latency(&driver, "r", async {
        other.enqueue(&[job("r", 0, 0)]).await.unwrap();
    })
    .await;
    assert!(latency < Duration::from_millis(50), "{latency:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_wakes_on_a_commit_from_another_connection() {
    let (_dir, path, driver) = fresh().await;
    // A plain pool, as another process would have: no in-process notify.
    let foreign = SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&url(&path))
        .await
        .unwrap();
    let latency = wake_latency(&driver, "q", async {
        sqlx::query(
            "INSERT INTO asynctasq_jobs (id, task, queue, state, priority, run_at, max_attempts, payload, created_at) \
             VALUES (?1, 't', 'q', 'pending', 0, 0, 1, x'00', 0)",
        )
        .bind(JobId::new().to_string())
        .execute(&foreign)
        .await
        .unwrap();
    })
    .await;
    assert!(latency < Duration::from_millis(50), "{latency:?}");
    assert_eq!(claim(&driver, &["q"], 10).await.len(), 1);
}

/// A pool outside the driver, as another process would have: no hub.
async fn foreign_pool(path: &Path) -> sqlx::SqlitePool {
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&url(path))
        .await
        .unwrap()
}

/// Inserts a ready job of `queue` through `pool`.
async fn foreign_insert(pool: &sqlx::SqlitePool, queue: &str) {
    sqlx::query(
        "INSERT INTO asynctasq_jobs (id, task, queue, state, priority, run_at, max_attempts, payload, created_at) \
         VALUES (?1, 't', ?2, 'pending', 0, 0, 1, x'00', 0)",
    )
    .bind(JobId::new().to_string())
    .bind(queue)
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_process_wake_ups_take_a_few_milliseconds() {
    let (_dir, path, driver) = fresh().await;
    let foreign = foreign_pool(&path).await;
    let mut latencies = Vec::new();
    for _ in 0..9 {
        latencies.push(wake_latency(&driver, "q", foreign_insert(&foreign, "q")).await);
        assert_eq!(claim(&driver, &["q"], 10).await.len(), 1);
    }
    latencies.sort();
    assert!(latencies[4] < Duration::from_millis(15), "{latencies:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_stops_when_nobody_waits_and_starts_again() {
    let (_dir, path, driver) = fresh().await;
    let foreign = foreign_pool(&path).await;
    let latency = wake_latency(&driver, "q", foreign_insert(&foreign, "q")).await;
    assert!(latency < Duration::from_millis(50), "{latency:?}");
    // After a second without waiters the watch stops; the next wait starts another.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let latency = wake_latency(&driver, "r", foreign_insert(&foreign, "r")).await;
    assert!(latency < Duration::from_millis(50), "{latency:?}");
    // Every driver on the file dropped, a new one watches it afresh.
    drop(driver);
    let driver = open(&path).await;
    let latency = wake_latency(&driver, "s", foreign_insert(&foreign, "s")).await;
    assert!(latency < Duration::from_millis(50), "{latency:?}");
}

#[tokio::test]
async fn only_a_file_database_has_a_listener() {
    let (_dir, _path, file) = fresh().await;
    let capabilities = file.capabilities();
    assert!(capabilities.transactional_enqueue && capabilities.listener);
    assert!(!capabilities.retention);
    assert!(file.wakeups().notifier.is_some());

    let memory = SqliteDriver::connect("sqlite::memory:").await.unwrap();
    for driver in [
        memory.clone(),
        SqliteDriver::from_pool(memory.pool().clone()),
    ] {
        let wakeups = driver.wakeups();
        assert!(!driver.capabilities().listener);
        assert!(wakeups.notifier.is_none() && wakeups.poll.is_none());
    }
}

#[tokio::test]
async fn next_due_skips_paused_queues() {
    let (_dir, _path, driver) = fresh().await;
    let both = queues(&["a", "b"]);
    assert_eq!(driver.next_due(&both).await.unwrap(), None);
    driver
        .enqueue(&[job("a", 0, 60_000), job("b", 0, 30_000)])
        .await
        .unwrap();
    let due = driver.next_due(&both).await.unwrap().unwrap();
    assert!(
        due > Duration::from_secs(29) && due <= Duration::from_secs(30),
        "{due:?}"
    );
    driver.queue_pause("b").await.unwrap();
    driver.enqueue(&[job("b", 0, 0)]).await.unwrap();
    let due = driver.next_due(&both).await.unwrap().unwrap();
    assert!(due > Duration::from_secs(59), "{due:?}");
    driver.queue_resume("b").await.unwrap();
    assert_eq!(driver.next_due(&both).await.unwrap(), Some(Duration::ZERO));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_ignores_commits_that_bring_no_work() {
    let (_dir, _path, driver) = fresh().await;
    driver.enqueue(&[job("busy", 0, 0)]).await.unwrap();
    let waiter = driver.clone();
    let wait = tokio::spawn(async move {
        let start = Instant::now();
        waiter
            .wait(&queues(&["idle"]), Duration::from_millis(300))
            .await
            .unwrap();
        start.elapsed()
    });
    // Work on another queue, and a job scheduled far ahead on this one.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let c = claim(&driver, &["busy"], 1).await;
        driver
            .complete(&[c[0].receipt], Completion::Delete)
            .await
            .unwrap();
        driver.enqueue(&[job("busy", 0, 0)]).await.unwrap();
    }
    driver.enqueue(&[job("idle", 0, 60_000)]).await.unwrap();
    let waited = wait.await.unwrap();
    assert!(waited >= Duration::from_millis(290), "{waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_returns_when_a_scheduled_job_comes_due() {
    let (_dir, _path, driver) = fresh().await;
    driver.enqueue(&[job("q", 0, 150)]).await.unwrap();
    let start = Instant::now();
    driver
        .wait(&queues(&["q"]), Duration::from_secs(5))
        .await
        .unwrap();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(120) && waited < Duration::from_millis(400),
        "{waited:?}"
    );
    assert_eq!(claim(&driver, &["q"], 1).await.len(), 1);

    // Scheduled while waiting: the wait learns the new due time.
    let waiter = driver.clone();
    let wait = tokio::spawn(async move {
        let start = Instant::now();
        waiter
            .wait(&queues(&["q"]), Duration::from_secs(5))
            .await
            .unwrap();
        start.elapsed()
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    driver.enqueue(&[job("q", 0, 150)]).await.unwrap();
    let waited = wait.await.unwrap();
    assert!(
        waited >= Duration::from_millis(180) && waited < Duration::from_millis(500),
        "{waited:?}"
    );
}

#[tokio::test]
async fn wait_times_out_and_returns_at_once_when_work_is_ready() {
    let (_dir, _path, driver) = fresh().await;
    let start = Instant::now();
    driver
        .wait(&queues(&["q"]), Duration::from_millis(100))
        .await
        .unwrap();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(95) && waited < Duration::from_millis(400),
        "{waited:?}"
    );

    driver.enqueue(&[job("q", 0, 0)]).await.unwrap();
    let start = Instant::now();
    driver
        .wait(&queues(&["q"]), Duration::from_secs(5))
        .await
        .unwrap();
    assert!(start.elapsed() < Duration::from_millis(50));

    // A paused queue's ready jobs do not end a wait; resuming does.
    driver.queue_pause("q").await.unwrap();
    let latency = wake_latency(&driver, "q", async {
        driver.queue_resume("q").await.unwrap();
    })
    .await;
    assert!(latency < Duration::from_millis(50), "{latency:?}");
}

#[tokio::test]
async fn in_memory_database_is_shared_by_the_pool() {
    let driver = SqliteDriver::connect("sqlite::memory:").await.unwrap();
    driver.migrate().await.unwrap();
    let jobs: Vec<NewJob> = (0..20).map(|_| job("q", 0, 0)).collect();
    driver.enqueue(&jobs).await.unwrap();
    // Hold some connections so that the pool has to use several.
    let held: Vec<_> = hold_connections(&driver, 4).await;
    assert_eq!(claim(&driver, &["q"], 100).await.len(), 20);
    drop(held);
    let latency = wake_latency(&driver, "r", async {
        driver.enqueue(&[job("r", 0, 0)]).await.unwrap();
    })
    .await;
    assert!(latency < Duration::from_millis(50), "{latency:?}");
}

async fn hold_connections(
    driver: &SqliteDriver,
    n: usize,
) -> Vec<sqlx::pool::PoolConnection<sqlx::Sqlite>> {
    let mut held = Vec::new();
    for _ in 0..n {
        held.push(driver.pool().acquire().await.unwrap());
    }
    held
}

#[tokio::test]
async fn from_pool_and_url_registration() {
    let (_dir, path, driver) = fresh().await;
    let shared = SqliteDriver::from_pool(driver.pool().clone());
    shared.enqueue(&[job("q", 0, 0)]).await.unwrap();

    let by_url = asynctasq_core::connect(&url(&path)).await.unwrap();
    assert_eq!(by_url.name(), "sqlite");
    let stats = by_url.stats(None).await.unwrap();
    assert_eq!(stats[0].ready, 1);

    let relative = asynctasq_core::connect("sqlite:relative-test-does-not-create.db?mode=ro").await;
    assert!(relative.is_err(), "mode=ro must not create the file");
}

#[tokio::test]
async fn job_lookup_reports_states() {
    let (_dir, _path, driver) = fresh().await;
    let ready = job("q", 3, 0);
    let scheduled = job("q", 0, 60_000);
    driver
        .enqueue(&[ready.clone(), scheduled.clone()])
        .await
        .unwrap();
    let info = driver.job(ready.id).await.unwrap().unwrap();
    assert_eq!(
        (
            info.state,
            info.priority,
            info.task.as_str(),
            info.queue.as_str()
        ),
        (JobState::Ready, 3, "test.task", "q")
    );
    assert_eq!(to_millis(info.run_at), to_millis(ready.run_at));
    assert_eq!(
        driver.job(scheduled.id).await.unwrap().unwrap().state,
        JobState::Scheduled
    );
    claim(&driver, &["q"], 10).await;
    assert_eq!(
        driver.job(ready.id).await.unwrap().unwrap().state,
        JobState::Running
    );
    assert!(driver.job(JobId::new()).await.unwrap().is_none());
}

#[tokio::test]
async fn wait_accepts_an_unbounded_timeout() {
    let (_dir, _path, driver) = fresh().await;
    driver.enqueue(&[job("q", 0, 50)]).await.unwrap();
    let start = Instant::now();
    driver.wait(&queues(&["q"]), Duration::MAX).await.unwrap();
    assert!(start.elapsed() < Duration::from_secs(1));
}

/// Buries one job; whether its receipt was still valid.
async fn bury_one(driver: &dyn Driver, receipt: Receipt, error: AttemptError) -> bool {
    driver.bury(&[Burial { receipt, error }]).await.unwrap() == 1
}

/// Retries one job at `run_at`; whether its receipt was still valid.
async fn retry_one(
    driver: &dyn Driver,
    receipt: Receipt,
    run_at: asynctasq_core::Timestamp,
    error: AttemptError,
) -> bool {
    let retry = Retry {
        receipt,
        run_at,
        error,
    };
    driver.retry(&[retry]).await.unwrap() == 1
}
