//! Postgres beyond the conformance suite: wake-ups across processes,
//! listener reconnection, killed connections during a real worker run,
//! concurrent migrations, the claim plan with many scheduled jobs.
//!
//! Needs a server: `ASYNCTASQ_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432`); uses the database
//! `asynctasq_test` (created if missing); fails when the server is down.

#![cfg(feature = "postgres")]

use asynctasq_core::Completion;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use sqlx::Connection;

use asynctasq_core::{Client, Driver, JobId, Worker};
use asynctasq_drivers::PgDriver;

mod counting;
use counting::chaos::{self, Chaos, Kill};
mod pg_support;
use pg_support::{PrivateServer, ensure_database, running_as_root, server};

const DATABASE: &str = "asynctasq_test";

fn unique(label: &str) -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!("{label}-{}", &id[20..])
}

/// A migrated driver whose sessions carry `application_name = app`.
async fn driver(app: &str, extra: &str) -> PgDriver {
    driver_on(&server(), app, extra).await
}

/// [`driver`] on the server `server` names.
async fn driver_on(server: &str, app: &str, extra: &str) -> PgDriver {
    ensure_database(DATABASE).await;
    let url = format!("{server}/{DATABASE}?application_name={app}&max_connections=8{extra}");
    let driver = PgDriver::connect(&url).await.expect("connect");
    driver.migrate().await.expect("migrate");
    driver
}

/// A fresh schema for one test (drop it with [`drop_schema`]): its drivers
/// get a wake-up hub of their own (the hub is shared by drivers on the same
/// database and schema), so no other test's listener wakes its waiters.
async fn private_schema(admin: &mut sqlx::PgConnection) -> String {
    let schema = format!("at_{}", unique("s").replace('-', "_"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
        .execute(admin)
        .await
        .unwrap();
    schema
}

async fn drop_schema(admin: &mut sqlx::PgConnection, schema: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
    )))
    .execute(admin)
    .await
    .unwrap();
}

async fn admin() -> sqlx::PgConnection {
    sqlx::PgConnection::connect(&format!("{}/{DATABASE}", server()))
        .await
        .expect("connect")
}

/// A duplicate key: the lost answer of an insert that committed.
fn is_duplicate(e: &asynctasq_core::Error) -> bool {
    format!("{e:?}").contains("23505")
}

/// Kills every session of `app`. Returns how many.
async fn terminate(admin: &mut sqlx::PgConnection, app: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE application_name = $1 AND pid <> pg_backend_pid()",
    )
    .bind(app)
    .fetch_one(admin)
    .await
    .unwrap()
}

/// Sessions of `app` that are listening (idle on `LISTEN`).
async fn listeners(admin: &mut sqlx::PgConnection, app: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE application_name = $1 AND query ILIKE 'LISTEN%'",
    )
    .bind(app)
    .fetch_one(admin)
    .await
    .unwrap()
}

/// Waits until `app` has a listening session.
async fn until_listening(admin: &mut sqlx::PgConnection, app: &str) {
    let start = Instant::now();
    while listeners(admin, app).await == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the listener never connected"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn job(queue: &str) -> asynctasq_core::NewJob {
    asynctasq_core::NewJob {
        id: JobId::new(),
        task: "t".into(),
        queue: queue.into(),
        priority: 0,
        run_at: Utc::now(),
        max_attempts: 3,
        payload: b"p".to_vec(),
    }
}

/// The pools do not ping connections before lending them. A connection
/// killed while idle must still cost the caller nothing: every statement
/// is retried on a fresh connection, and an insert whose commit was lost
/// is not doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_killed_behind_the_pools_back_cost_no_call() {
    let app = unique("atq-idle");
    let driver = driver(&app, "&listen=false").await;
    let queue = unique("idlekill");
    let queues = [queue.clone()];
    // Fill both pools with several open connections.
    let warm: Vec<_> = (0..4)
        .map(|_| {
            let d = driver.clone();
            let q = queues.clone();
            tokio::spawn(async move {
                d.stats(Some(&q)).await.unwrap();
                d.claim(claim_params(&q, 1)).await.unwrap();
            })
        })
        .collect();
    for w in warm {
        w.await.unwrap();
    }
    let mut admin = admin().await;
    assert!(terminate(&mut admin, &app).await >= 2, "nothing to kill");
    tokio::time::sleep(Duration::from_millis(100)).await;

    let jobs: Vec<_> = (0..3).map(|_| job(&queue)).collect();
    driver.enqueue(&jobs).await.expect("enqueue after the kill");
    let claimed = driver
        .claim(claim_params(&queues, 10))
        .await
        .expect("claim after the kill");
    assert_eq!(claimed.len(), 3, "each job once");
    let receipts: Vec<_> = claimed.iter().map(|c| c.receipt).collect();
    terminate(&mut admin, &app).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        driver
            .complete(&receipts, Completion::Delete)
            .await
            .expect("complete"),
        3
    );
    let stats = driver.stats(Some(&queues)).await.expect("stats");
    assert_eq!(stats[0].outstanding(), 0);
}

fn claim_params<'a>(queues: &'a [String], max: usize) -> asynctasq_core::ClaimParams<'a> {
    asynctasq_core::ClaimParams {
        worker: "idle-kill",
        queues,
        max,
        lease: Duration::from_secs(30),
    }
}

/// A job enqueued through one driver wakes a waiter of another driver (a
/// different pool, as in another process) through NOTIFY, not by polling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_wakes_a_waiter_in_another_process() {
    let app = unique("at-notify");
    let mut admin = admin().await;
    let schema = private_schema(&mut admin).await;
    let in_schema = format!("&options[search_path]={schema}");
    let waiter = driver(&app, &format!("&poll_interval=10s{in_schema}")).await;
    // The same server by another name: another wake-up hub, so only NOTIFY
    // can carry the producer's jobs to the waiter, as from another process.
    let other_name = server().replace("127.0.0.1", "localhost");
    let producer = driver_on(&other_name, &unique("at-producer"), &in_schema).await;
    assert!(
        !std::ptr::eq(waiter.wakeups().hub, producer.wakeups().hub),
        "the producer shares the waiter's hub: set ASYNCTASQ_TEST_POSTGRES to a 127.0.0.1 url"
    );
    let q = unique("notify");
    let queues = vec![q.clone()];
    waiter
        .wait(&queues, Duration::from_millis(10))
        .await
        .unwrap();
    until_listening(&mut admin, &app).await;

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
            waited < Duration::from_millis(600),
            "woke after {waited:?}: NOTIFY did not arrive"
        );
        producer.queue_purge(&q).await.unwrap();
    }

    // A job scheduled 300 ms ahead wakes the waiter when it is due.
    let mut later = job(&q);
    later.run_at = Utc::now() + chrono::Duration::milliseconds(300);
    let start = Instant::now();
    let wait = waiter.wait(&queues, Duration::from_secs(8));
    let enqueue = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        producer.enqueue(&[later]).await.unwrap();
    };
    let (woke, ()) = tokio::join!(wait, enqueue);
    woke.unwrap();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_millis(900),
        "scheduled wake-up after {waited:?}"
    );
    drop((waiter, producer));
    drop_schema(&mut admin, &schema).await;
}

/// A job inserted in a transaction wakes nobody until the commit, and a
/// rolled-back one never does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_insert_notifies_on_commit_only() {
    let app = unique("at-txn");
    let mut admin = admin().await;
    let schema = private_schema(&mut admin).await;
    let waiter = driver(
        &app,
        &format!("&poll_interval=10s&options[search_path]={schema}"),
    )
    .await;
    let q = unique("txn");
    let queues = vec![q.clone()];
    waiter
        .wait(&queues, Duration::from_millis(10))
        .await
        .unwrap();
    until_listening(&mut admin, &app).await;

    let pool = waiter.pool().clone();
    let jobs = vec![job(&q)];
    let mut tx = pool.begin().await.unwrap();
    let inserted = asynctasq_drivers::postgres::PgInsert::new(&jobs)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(inserted, 1);
    let start = Instant::now();
    let wait = waiter.wait(&queues, Duration::from_millis(700));
    let rollback = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        tx.rollback().await.unwrap();
    };
    let (woke, ()) = tokio::join!(wait, rollback);
    woke.unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(650),
        "a rolled-back insert woke the waiter"
    );
    assert!(waiter.job(jobs[0].id).await.unwrap().is_none());

    let mut tx = pool.begin().await.unwrap();
    asynctasq_drivers::postgres::PgInsert::new(&jobs)
        .execute(&mut *tx)
        .await
        .unwrap();
    let start = Instant::now();
    let wait = waiter.wait(&queues, Duration::from_secs(8));
    let commit = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        tx.commit().await.unwrap();
    };
    let (woke, ()) = tokio::join!(wait, commit);
    woke.unwrap();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(280) && waited < Duration::from_millis(800),
        "woke after {waited:?}, not at the commit"
    );

    // The same through a caller's sea-orm transaction (`dispatch_in`), on
    // a queue of its own (the job above is still due).
    use sea_orm::TransactionTrait;
    let db = sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
    let q = unique("txn-orm");
    let queues = vec![q.clone()];
    let jobs = vec![job(&q)];
    let txn = db.begin().await.unwrap();
    waiter.enqueue_in(&txn, &jobs).await.unwrap();
    let start = Instant::now();
    let wait = waiter.wait(&queues, Duration::from_secs(8));
    let commit = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        txn.commit().await.unwrap();
    };
    let (woke, ()) = tokio::join!(wait, commit);
    woke.unwrap();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(280) && waited < Duration::from_millis(800),
        "a sea-orm insert woke after {waited:?}, not at the commit"
    );
    assert!(waiter.job(jobs[0].id).await.unwrap().is_some());
    drop((waiter, db));
    drop_schema(&mut admin, &schema).await;
}

/// When its listening connection is killed, a waiter returns at once (so
/// the worker claims again), and the listener comes back and keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_reconnects_after_its_backend_is_killed() {
    let app = unique("at-relisten");
    let waiter = driver(&app, "&poll_interval=10s").await;
    let producer = driver(&unique("at-producer"), "").await;
    let mut admin = admin().await;
    let q = unique("relisten");
    let queues = vec![q.clone()];
    waiter
        .wait(&queues, Duration::from_millis(10))
        .await
        .unwrap();
    until_listening(&mut admin, &app).await;

    let start = Instant::now();
    let wait = waiter.wait(&queues, Duration::from_secs(8));
    let kill = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(terminate(&mut admin, &app).await >= 1);
    };
    let (woke, ()) = tokio::join!(wait, kill);
    woke.unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "a waiter slept through the loss of its listener"
    );

    let mut admin = self::admin().await;
    until_listening(&mut admin, &app).await;
    let start = Instant::now();
    let wait = async {
        // The pool's connections were killed too: the first wait may fail.
        loop {
            if waiter.wait(&queues, Duration::from_secs(8)).await.is_ok() {
                break;
            }
        }
    };
    let enqueue = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        producer.enqueue(&[job(&q)]).await.unwrap();
    };
    tokio::join!(wait, enqueue);
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "no wake-up after the listener reconnected"
    );
}

/// Migrations from many drivers at once serialize on the advisory lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_are_safe() {
    ensure_database(DATABASE).await;
    let mut admin = admin().await;
    let schema = format!("mig_{}", unique("x").replace('-', "_"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = format!(
        "{}/{DATABASE}?max_connections=2&options[search_path]={schema}",
        server()
    );
    let mut drivers = Vec::new();
    for _ in 0..6 {
        drivers.push(PgDriver::connect(&url).await.expect("connect"));
    }
    let tasks: Vec<_> = drivers
        .iter()
        .cloned()
        .map(|d| tokio::spawn(async move { d.migrate().await }))
        .collect();
    for task in tasks {
        task.await.unwrap().expect("a concurrent migration failed");
    }
    let (versions, distinct, latest): (i64, i64, i32) =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT count(*), count(DISTINCT version), max(version) FROM \"{schema}\".asynctasq_schema"
        )))
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(
        (versions, distinct),
        (i64::from(latest), i64::from(latest)),
        "each version is applied once"
    );
    let identities: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM \"{schema}\".asynctasq_instance"
    )))
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(identities, 1, "one identity for the jobs database");
    // Version 3 dropped the insert trigger of version 1: inserts notify
    // themselves.
    let triggers: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal \
         AND tgrelid = '\"{schema}\".asynctasq_jobs'::regclass"
    )))
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(triggers, 0, "the version 1 insert trigger is still there");
    drivers[0].migrate().await.expect("migrate again");
    drop(drivers);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA \"{schema}\" CASCADE"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
}

// ---------------------------------------------------------------------------
// A real worker run while every connection of the driver is killed, again
// and again: the run completes and no job is lost.

/// Kills every session of the driver (its application name).
struct Terminate {
    admin: sqlx::PgConnection,
    app: String,
}

impl Kill for Terminate {
    async fn kill(&mut self) -> u64 {
        terminate(&mut self.admin, &self.app)
            .await
            .try_into()
            .unwrap_or(0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connections_during_a_worker_run_lose_nothing() {
    let app = unique("at-chaos");
    let driver = driver(&app, "").await;
    let kill = Terminate {
        admin: admin().await,
        app,
    };
    chaos::killed_connections_during_a_worker_run_lose_nothing(
        Arc::new(driver),
        &unique("chaos"),
        Chaos { kill, is_duplicate },
    )
    .await;
}

/// Ready jobs are claimed next to a backlog of scheduled jobs of a higher
/// priority (the claim walks priority levels instead of the backlog).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_do_not_scan_scheduled_jobs() {
    let driver = driver(&unique("at-plan"), "").await;
    let q = unique("plan");
    // 20k scheduled jobs at priority 5, 100 ready at priority 0.
    sqlx::query(
        "INSERT INTO asynctasq_jobs (id, task, queue, priority, run_at, max_attempts, payload) \
         SELECT gen_random_uuid(), 't', $1, 5, now() + interval '1 day' + g * interval '1 ms', 3, '\\x00' \
         FROM generate_series(1, 20000) g",
    )
    .bind(&q)
    .execute(driver.pool())
    .await
    .unwrap();
    let ready: Vec<_> = (0..100).map(|_| job(&q)).collect();
    driver.enqueue(&ready).await.unwrap();
    sqlx::raw_sql("ANALYZE asynctasq_jobs")
        .execute(driver.pool())
        .await
        .unwrap();
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
    driver.queue_purge(&q).await.unwrap();
    let receipts: Vec<_> = claimed.iter().map(|c| c.receipt).collect();
    assert_eq!(
        driver
            .complete(&receipts, Completion::Delete)
            .await
            .unwrap(),
        50
    );
}

// ---------------------------------------------------------------------------
// A server restart in the middle of a worker run, on a private instance.

/// Restarting the server mid-run: the driver reconnects, its listener too,
/// and every job runs.
///
/// The private server runs as the `postgres` user, which only root can
/// switch to: run as another user, the test says so and passes, except
/// under `CI=true`, where it fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_during_a_worker_run_loses_nothing() {
    if !running_as_root() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the Postgres restart test starts a private server as the postgres user and needs root"
        );
        eprintln!(
            "skipped: the Postgres restart test needs root (it runs initdb as the postgres user)"
        );
        return;
    }
    let server = PrivateServer::start();
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/postgres?poll_interval=10s",
        server.port
    );
    let driver = PgDriver::connect(&url).await.expect("connect");
    driver.migrate().await.expect("migrate");
    let client = Client::new(Arc::new(driver.clone()));
    let q = unique("restart");
    let before = counting::envelopes(&q, 2000, Duration::from_millis(2));
    let after = counting::envelopes(&q, 200, Duration::from_millis(2));
    chaos::produce(&client, &before, is_duplicate).await;
    let expected = counting::ids(before.iter().chain(&after));
    let all_ran = counting::all_ran(expected.clone());
    let worker = Worker::new(client.clone())
        .registry(counting::registry())
        .queues([q.as_str()])
        .concurrency(16)
        .lease(Duration::from_secs(3));
    let run = tokio::spawn(tokio::time::timeout(
        Duration::from_secs(120),
        worker.run_until(all_ran),
    ));
    tokio::time::sleep(Duration::from_millis(400)).await;
    tokio::task::block_in_place(|| server.pg_ctl(&["restart", "-m", "fast", "-w"]));
    // Jobs dispatched after the restart reach the (idle or busy) worker.
    chaos::produce(&client, &after, is_duplicate).await;
    let report = chaos::finished(run, &expected).await;
    let ran = counting::runs(&expected);
    assert_eq!(ran.len(), expected.len(), "jobs lost across the restart");
    let stats = driver.stats(Some(std::slice::from_ref(&q))).await.unwrap();
    assert_eq!(stats[0].outstanding() + stats[0].dead, 0, "{stats:?}");
    eprintln!("across a restart: {} jobs ran; {report:?}", ran.len());
}

/// Keeping completed jobs is the worker's setting now: a URL that still
/// carries the old driver option is refused, with where the setting went.
#[tokio::test]
async fn a_url_with_retain_completed_names_the_worker_setting() {
    let url = format!("{}/{DATABASE}?retain_completed=1h", server());
    let err = PgDriver::connect(&url).await.unwrap_err().to_string();
    assert!(err.contains("retain_completed=1h"), "{err}");
    assert!(err.contains("Worker::retain_completed"), "{err}");
    assert!(err.contains("--retain-completed"), "{err}");
}

/// A worker's maintenance pass prunes the completed jobs it kept. In a
/// schema of its own: its pruning would delete other tests' kept jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_prunes_retained_completed_jobs() {
    ensure_database(DATABASE).await;
    let mut admin = admin().await;
    let schema = format!("prune_{}", unique("x").replace('-', "_"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = format!(
        "{}/{DATABASE}?max_connections=4&options[search_path]={schema}",
        server()
    );
    let driver = PgDriver::connect(&url).await.expect("connect");
    driver.migrate().await.expect("migrate");
    let client = Client::new(Arc::new(driver.clone()));
    let q = unique("prune");
    let envelopes = counting::envelopes(&q, 5, Duration::ZERO);
    client.enqueue(&envelopes).await.unwrap();
    let ids: Vec<JobId> = envelopes.iter().map(|e| e.id).collect();
    let kept_then_gone = {
        let driver = driver.clone();
        let ids = ids.clone();
        async move {
            let mut seen_completed = false;
            loop {
                let mut gone = 0;
                for id in &ids {
                    match driver.job(*id).await.unwrap() {
                        None => gone += 1,
                        Some(info) if info.state == asynctasq_core::JobState::Completed => {
                            seen_completed = true
                        }
                        Some(_) => {}
                    }
                }
                if gone == ids.len() {
                    return seen_completed;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let worker = Worker::new(client)
        .config(asynctasq_core::WorkerConfig {
            rescue_interval: Duration::from_millis(200),
            ..Default::default()
        })
        .retain_completed(Duration::from_secs(1))
        .registry(counting::registry())
        .queues([q.as_str()]);
    let run = tokio::spawn(worker.run_until(async {
        let _ = done_rx.await;
    }));
    let seen_completed = tokio::time::timeout(Duration::from_secs(20), kept_then_gone)
        .await
        .expect("the worker never pruned its completed jobs");
    done_tx.send(()).unwrap();
    let report = run.await.unwrap().unwrap();
    assert_eq!(report.completed, 5, "{report:?}");
    assert!(seen_completed, "the jobs were never kept as completed");
    drop(driver);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA \"{schema}\" CASCADE"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
}
