//! MySQL / MariaDB beyond the conformance suite: in-process wake-ups,
//! polling across processes, killed connections during a real worker run,
//! concurrent migrations, large payloads, claims next to a scheduled backlog.
//!
//! Needs a server: `ASYNCTASQ_TEST_MYSQL` (default
//! `mysql://root@127.0.0.1:3306`); fails when the server is down. Each test
//! uses its own database (dropped at the end), so that killing "every
//! connection of the driver" means every connection to that database.

#![cfg(feature = "mysql")]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use sqlx::Connection;

use asynctasq_core::{Client, Driver, JobId, NewJob, Worker};
use asynctasq_drivers::MySqlDriver;

mod counting;
use counting::chaos::{self, Chaos, Kill};

fn server() -> String {
    std::env::var("ASYNCTASQ_TEST_MYSQL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_string())
}

/// A database of its own for one test, dropped when the guard is.
struct Database {
    name: String,
}

impl Database {
    async fn create() -> Database {
        let mut conn = admin(None).await;
        let name = format!(
            "asynctasq_rt_{}",
            &uuid::Uuid::now_v7().simple().to_string()[20..]
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
            .execute(&mut conn)
            .await
            .unwrap();
        Database { name }
    }

    fn url(&self, extra: &str) -> String {
        format!("{}/{}?max_connections=8{extra}", server(), self.name)
    }

    async fn driver(&self, extra: &str) -> MySqlDriver {
        let driver = MySqlDriver::connect(&self.url(extra))
            .await
            .expect("connect");
        driver.migrate().await.expect("migrate");
        driver
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let name = self.name.clone();
        // A plain thread: the test's runtime may be shutting down.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut conn = admin(None).await;
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS `{name}`"
                )))
                .execute(&mut conn)
                .await;
            });
        })
        .join();
    }
}

async fn admin(database: Option<&str>) -> sqlx::MySqlConnection {
    let url = match database {
        Some(db) => format!("{}/{db}", server()),
        None => server(),
    };
    sqlx::MySqlConnection::connect(&url)
        .await
        .expect("mysql is not reachable (set ASYNCTASQ_TEST_MYSQL)")
}

/// A duplicate key: the lost answer of an insert that committed.
fn is_duplicate(e: &asynctasq_core::Error) -> bool {
    format!("{e:?}").contains("Duplicate entry")
}

/// Kills every other connection to `database`. Returns how many.
async fn kill_all(admin: &mut sqlx::MySqlConnection, database: &str) -> usize {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT CAST(id AS SIGNED) FROM information_schema.processlist \
         WHERE db = ? AND id <> CONNECTION_ID()",
    )
    .bind(database)
    .fetch_all(&mut *admin)
    .await
    .unwrap();
    let mut killed = 0;
    for id in ids {
        if sqlx::raw_sql(sqlx::AssertSqlSafe(format!("KILL {id}")))
            .execute(&mut *admin)
            .await
            .is_ok()
        {
            killed += 1;
        }
    }
    killed
}

fn unique(label: &str) -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!("{label}-{}", &id[20..])
}

fn job(queue: &str) -> NewJob {
    NewJob {
        id: JobId::new(),
        task: "t".into(),
        queue: queue.into(),
        priority: 0,
        run_at: Utc::now(),
        max_attempts: 3,
        payload: b"p".to_vec(),
    }
}

/// A dispatch from this process wakes a waiter of another driver on the
/// same database at once, without waiting for a poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_process_dispatch_wakes_at_once() {
    let db = Database::create().await;
    let slow_polls = "&poll_interval_min=3s&poll_interval=3s";
    let waiter = db.driver(slow_polls).await;
    let producer = db.driver(slow_polls).await;
    let q = unique("local");
    let queues = vec![q.clone()];
    for _ in 0..3 {
        let start = Instant::now();
        let wait = waiter.wait(&queues, Duration::from_secs(8));
        let enqueue = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            producer.enqueue(&[job(&q)]).await.unwrap();
        };
        let (woke, ()) = tokio::join!(wait, enqueue);
        woke.unwrap();
        let waited = start.elapsed();
        assert!(
            waited < Duration::from_millis(500),
            "woke after {waited:?}: the in-process wake-up did not arrive"
        );
        producer.queue_purge(&q).await.unwrap();
    }
}

/// A dispatch from another process is found by polling within the longest
/// poll interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_process_dispatch_is_found_by_polling() {
    let db = Database::create().await;
    let waiter = db
        .driver("&poll_interval_min=50ms&poll_interval=300ms")
        .await;
    // `localhost` instead of `127.0.0.1`: another identity, so no shared hub,
    // as if in another process.
    let other_url = db.url("").replace("127.0.0.1", "localhost");
    let producer = MySqlDriver::connect(&other_url).await.expect("connect");
    let q = unique("remote");
    let queues = vec![q.clone()];
    let start = Instant::now();
    let wait = waiter.wait(&queues, Duration::from_secs(8));
    let enqueue = async {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        producer.enqueue(&[job(&q)]).await.unwrap();
    };
    let (woke, ()) = tokio::join!(wait, enqueue);
    woke.unwrap();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(1000) && waited < Duration::from_millis(1500),
        "found after {waited:?} with polls of at most 300 ms"
    );
}

/// Migrations from many drivers at once serialize on the named lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_are_safe() {
    let db = Database::create().await;
    let mut drivers = Vec::new();
    for _ in 0..6 {
        drivers.push(MySqlDriver::connect(&db.url("")).await.expect("connect"));
    }
    let tasks: Vec<_> = drivers
        .iter()
        .cloned()
        .map(|d| tokio::spawn(async move { d.migrate().await }))
        .collect();
    for task in tasks {
        task.await.unwrap().expect("a concurrent migration failed");
    }
    let mut admin = admin(Some(&db.name)).await;
    let (versions, distinct, latest): (i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT version), CAST(MAX(version) AS SIGNED) FROM asynctasq_schema",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(
        (versions, distinct),
        (latest, latest),
        "each version is applied once"
    );
    let identities: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM asynctasq_instance")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(identities, 1, "one identity for the jobs database");
    drivers[0].migrate().await.expect("migrate again");
}

/// Payloads far above 64 KiB (the limit of a `BLOB`) round-trip intact, in
/// batches that need several statements.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_payloads_round_trip() {
    let db = Database::create().await;
    let driver = db.driver("").await;
    let q = unique("large");
    let jobs: Vec<NewJob> = (0..6u8)
        .map(|i| {
            let mut j = job(&q);
            j.payload = (0..(1usize << 20) + 7).map(|b| (b as u8) ^ i).collect();
            j
        })
        .collect();
    driver.enqueue(&jobs).await.unwrap();
    let claimed = driver
        .claim(asynctasq_core::ClaimParams {
            worker: "large",
            queues: std::slice::from_ref(&q),
            max: 10,
            lease: Duration::from_secs(30),
        })
        .await
        .unwrap();
    assert_eq!(claimed.len(), 6);
    for c in &claimed {
        let original = jobs.iter().find(|j| j.id == c.receipt.id).unwrap();
        assert!(c.payload == original.payload, "payload changed");
    }
}

/// Ready jobs are claimed next to a backlog of scheduled jobs of a higher
/// priority (the claim walks priority levels instead of the backlog).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_do_not_scan_scheduled_jobs() {
    let db = Database::create().await;
    let driver = db.driver("").await;
    let q = unique("plan");
    let mut scheduled: Vec<NewJob> = (0..20_000)
        .map(|_| {
            let mut j = job(&q);
            j.priority = 5;
            j.run_at = Utc::now() + chrono::Duration::days(1);
            j
        })
        .collect();
    for chunk in scheduled.chunks_mut(2000) {
        driver.enqueue(chunk).await.unwrap();
    }
    let ready: Vec<_> = (0..100).map(|_| job(&q)).collect();
    driver.enqueue(&ready).await.unwrap();
    let start = Instant::now();
    let claimed = driver
        .claim(asynctasq_core::ClaimParams {
            worker: "plan",
            queues: std::slice::from_ref(&q),
            max: 50,
            lease: Duration::from_secs(30),
        })
        .await
        .unwrap();
    let took = start.elapsed();
    assert_eq!(claimed.len(), 50);
    let ready_ids: HashSet<JobId> = ready.iter().map(|j| j.id).collect();
    assert!(claimed.iter().all(|c| ready_ids.contains(&c.receipt.id)));
    eprintln!("claim of 50 next to 20k scheduled jobs took {took:?}");
}

// ---------------------------------------------------------------------------
// A real worker run while every connection of the driver is killed, again
// and again: the run completes and no job is lost.

/// Kills every connection to the test's database.
struct KillAll {
    admin: sqlx::MySqlConnection,
    database: String,
}

impl Kill for KillAll {
    async fn kill(&mut self) -> u64 {
        kill_all(&mut self.admin, &self.database).await as u64
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connections_during_a_worker_run_lose_nothing() {
    let db = Database::create().await;
    let driver = db.driver("").await;
    let kill = KillAll {
        admin: admin(None).await,
        database: db.name.clone(),
    };
    chaos::killed_connections_during_a_worker_run_lose_nothing(
        Arc::new(driver),
        &unique("chaos"),
        Chaos { kill, is_duplicate },
    )
    .await;
}

/// A worker configured with `Worker::retain_completed` keeps its completed
/// jobs as `completed` (the driver no longer takes the setting: a URL that
/// still has it is refused, naming the worker setting).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_retains_completed_jobs_keeps_them() {
    let db = Database::create().await;
    let refused = MySqlDriver::connect(&db.url("&retain_completed=1h"))
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("Worker::retain_completed"), "{refused}");

    let driver = db.driver("").await;
    let client = Client::new(Arc::new(driver.clone()));
    let q = unique("retain");
    let envelopes = counting::envelopes(&q, 5, Duration::ZERO);
    chaos::produce(&client, &envelopes, is_duplicate).await;
    let expected = counting::ids(&envelopes);
    let worker = Worker::new(client)
        .registry(counting::registry())
        .queues([q.as_str()])
        .retain_completed(Duration::from_secs(3600));
    tokio::time::timeout(
        Duration::from_secs(30),
        worker.run_until(counting::all_ran(expected.clone())),
    )
    .await
    .expect("the run did not finish within 30 s")
    .expect("worker");
    for id in &expected {
        let info = driver.job(*id).await.unwrap().expect("completed job kept");
        assert_eq!(info.state, asynctasq_core::JobState::Completed);
    }
}
