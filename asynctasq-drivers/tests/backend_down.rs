//! A backend that is down, on every server driver: connecting fails within
//! about 2 s with the cause; during an outage after start-up, dispatch fails
//! within the same bound with the cause, succeeds once the server is back,
//! and a worker running through the outage resumes, loses no job and logs
//! one line when the outage starts and one when it ends.
//!
//! The outages stop private servers (Postgres via `initdb`/`pg_ctl` as the
//! `postgres` user, MariaDB with an empty data directory, `redis-server`);
//! the connect failures use the shared servers and closed ports.

#![cfg(any(feature = "postgres", feature = "mysql", feature = "redis"))]

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use asynctasq_core::{Client, Driver, Worker, WorkerConfig};

#[cfg(feature = "mysql")]
mod counting;
mod mariadb_support;
#[cfg(feature = "postgres")]
mod pg_support;
#[cfg(feature = "redis")]
mod redis_support;

/// Longest a connect or a dispatch may take to fail against a backend that
/// is down: the 2 s default bound, plus slack for a loaded CI machine.
const BOUND: Duration = Duration::from_secs(4);

// ---------------------------------------------------------------------------
// Helpers

/// The error with its whole `source()` chain, as a user would read it.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A loopback port that accepts connections and never answers.
fn silent_port() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// Runs `connect`, which must fail within [`BOUND`]; returns the message and
/// how long it took.
async fn connect_fails<T: std::fmt::Debug>(
    connect: impl std::future::Future<Output = asynctasq_core::Result<T>>,
) -> (String, Duration) {
    let start = Instant::now();
    let result = connect.await;
    let took = start.elapsed();
    let error = result.expect_err("connecting must fail");
    let message = chain(&error);
    assert!(
        took < BOUND,
        "failed after {took:?}, not within {BOUND:?}: {message}"
    );
    eprintln!("failed in {took:?}: {message}");
    (message, took)
}

fn unique(label: &str) -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!("{label}-{}", &id[20..])
}

/// Everything logged at INFO and above by this test binary (all tests).
fn logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        struct Sink;
        impl Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                LOGS.get_or_init(Mutex::default)
                    .lock()
                    .unwrap()
                    .extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_ansi(false)
            .with_writer(|| Sink)
            .init();
    });
    LOGS.get_or_init(Mutex::default)
}

/// The captured log lines that contain `needle`.
fn log_lines(needle: &str) -> Vec<String> {
    String::from_utf8_lossy(&logs().lock().unwrap())
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------
// Connecting to a backend that is down or refuses

#[cfg(feature = "postgres")]
mod postgres_connect {
    use super::*;
    use asynctasq_drivers::PgDriver;

    fn server() -> String {
        std::env::var("ASYNCTASQ_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
    }

    #[tokio::test]
    async fn a_closed_port_fails_at_once_with_connection_refused() {
        let url = format!("postgres://postgres@127.0.0.1:{}/postgres", closed_port());
        let (message, took) = connect_fails(PgDriver::connect(&url)).await;
        assert!(message.contains("connection refused"), "{message}");
        assert!(message.contains(&url), "names the target: {message}");
        assert!(
            took < Duration::from_secs(1),
            "refused at once, not after retries: {took:?}"
        );
    }

    #[tokio::test]
    async fn a_missing_database_is_named_without_server_noise() {
        let url = format!("{}/asynctasq_no_such_database", server());
        let (message, _) = connect_fails(PgDriver::connect(&url)).await;
        assert!(
            message.contains(r#"database "asynctasq_no_such_database" does not exist"#),
            "{message}"
        );
        assert!(
            !message.contains(" at line "),
            "server source line: {message}"
        );
    }

    #[tokio::test]
    async fn a_server_that_never_answers_fails_after_connect_timeout() {
        let (_listener, port) = silent_port();
        let url = format!("postgres://postgres@127.0.0.1:{port}/postgres?connect_timeout=500ms");
        let (message, took) = connect_fails(PgDriver::connect(&url)).await;
        assert!(message.contains("no answer within 500ms"), "{message}");
        assert!(took >= Duration::from_millis(500), "{took:?}");
    }

    #[tokio::test]
    async fn the_models_database_fails_fast_with_its_cause() {
        let url = format!("postgres://postgres@127.0.0.1:{}/app", closed_port());
        let (message, _) = connect_fails(asynctasq_drivers::connect_models_database(&url)).await;
        assert!(message.contains("connection refused"), "{message}");
        let url = format!("{}/asynctasq_no_such_models_db", server());
        let (message, _) = connect_fails(asynctasq_drivers::connect_models_database(&url)).await;
        assert!(
            message.contains(r#"database "asynctasq_no_such_models_db" does not exist"#),
            "{message}"
        );
    }

    /// sea-orm logs each statement at INFO unless told not to: 133 lines
    /// for 93 jobs in the worker's models database.
    #[tokio::test]
    async fn the_models_database_does_not_log_statements() {
        use asynctasq_core::sea_orm::ConnectionTrait;
        logs();
        let db = asynctasq_drivers::connect_models_database(&format!("{}/postgres", server()))
            .await
            .expect("connect");
        let marker = unique("models_logging");
        db.execute_unprepared(&format!("SELECT 1 AS \"{marker}\""))
            .await
            .unwrap();
        assert_eq!(log_lines(&marker), Vec::<String>::new(), "statement logged");
    }
}

#[cfg(feature = "mysql")]
mod mysql_connect {
    use super::*;
    use asynctasq_drivers::MySqlDriver;

    fn server() -> String {
        std::env::var("ASYNCTASQ_TEST_MYSQL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_string())
    }

    #[tokio::test]
    async fn a_closed_port_fails_at_once_with_connection_refused() {
        let url = format!("mysql://root@127.0.0.1:{}/test", closed_port());
        let (message, took) = connect_fails(MySqlDriver::connect(&url)).await;
        assert!(message.contains("connection refused"), "{message}");
        assert!(took < Duration::from_secs(1), "{took:?}");
    }

    #[tokio::test]
    async fn a_refused_login_and_a_missing_database_say_so() {
        let url = server().replace("root@", "asynctasq_nobody:wrong@") + "/test";
        let (message, _) = connect_fails(MySqlDriver::connect(&url)).await;
        assert!(message.contains("Access denied"), "{message}");
        assert!(!message.contains("wrong"), "password shown: {message}");
        let url = format!("{}/asynctasq_no_such_database", server());
        let (message, _) = connect_fails(MySqlDriver::connect(&url)).await;
        assert!(message.contains("Unknown database"), "{message}");
    }

    #[tokio::test]
    async fn a_server_that_never_answers_fails_after_connect_timeout() {
        let (_listener, port) = silent_port();
        let url = format!("mysql://root@127.0.0.1:{port}/test?connect_timeout=500ms");
        let (message, took) = connect_fails(MySqlDriver::connect(&url)).await;
        assert!(message.contains("no answer within 500ms"), "{message}");
        assert!(took >= Duration::from_millis(500), "{took:?}");
    }

    #[tokio::test]
    async fn the_models_database_fails_fast_with_its_cause() {
        let url = format!("mysql://root@127.0.0.1:{}/app", closed_port());
        let (message, _) = connect_fails(asynctasq_drivers::connect_models_database(&url)).await;
        assert!(message.contains("connection refused"), "{message}");
    }
}

#[cfg(feature = "redis")]
mod redis_connect {
    use super::*;
    use asynctasq_drivers::RedisDriver;

    #[tokio::test]
    async fn a_closed_port_fails_at_once_with_connection_refused() {
        let url = format!("redis://127.0.0.1:{}", closed_port());
        let (message, took) = connect_fails(RedisDriver::connect(&url)).await;
        assert!(message.to_lowercase().contains("refused"), "{message}");
        assert!(
            took < Duration::from_secs(1),
            "refused at once, not after retries: {took:?}"
        );
    }

    #[tokio::test]
    async fn a_server_that_never_answers_fails_after_connect_timeout() {
        let (_listener, port) = silent_port();
        let url = format!("redis://127.0.0.1:{port}?connect_timeout=500ms");
        let (message, took) = connect_fails(RedisDriver::connect(&url)).await;
        assert!(message.contains("no answer within 500ms"), "{message}");
        assert!(took >= Duration::from_millis(500), "{took:?}: {message}");
    }
}

// ---------------------------------------------------------------------------
// Outages after start-up

/// Each job of an outage test takes this long.
const JOB_TIME: Duration = Duration::from_millis(5);

/// The server stopped and started again by an outage test.
trait Server: Sync {
    fn stop(&self);
    fn resume(&self);
}

/// Runs a worker over `driver`, stops the server mid-run, dispatches during
/// the outage (must fail within [`BOUND`], naming the cause), starts the
/// server again, dispatches more (must succeed), and checks that every
/// dispatched job ran and that the worker logged the outage once.
async fn outage_scenario(label: &str, driver: Arc<dyn Driver>, server: &dyn Server) {
    logs();
    let client = Client::new(driver.clone());
    let queue = unique(label);
    let worker_id = unique(&format!("{label}-worker"));
    let before = counting::envelopes(&queue, 300, JOB_TIME);
    let after = counting::envelopes(&queue, 50, JOB_TIME);
    let expected = counting::ids(before.iter().chain(&after));
    client
        .enqueue(&before)
        .await
        .expect("enqueue before the outage");

    let all_ran = counting::all_ran(expected.clone());
    let worker = Worker::new(client.clone())
        .config(WorkerConfig {
            id: worker_id.clone(),
            queues: vec![queue.clone()],
            concurrency: 4,
            lease: Duration::from_secs(3),
            rescue_interval: Duration::from_millis(500),
            ..WorkerConfig::default()
        })
        .registry(counting::registry());
    let run = tokio::spawn(tokio::time::timeout(
        Duration::from_secs(120),
        worker.run_until(all_ran),
    ));
    let before_ids = counting::ids(&before);
    let started = Instant::now();
    while counting::ran(&before_ids) < 30 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the worker never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    tokio::task::block_in_place(|| server.stop());
    let down_at = Instant::now();
    let ran_when_stopped = counting::ran(&before_ids);
    assert!(
        ran_when_stopped < before.len(),
        "the outage came too late: all jobs ran"
    );

    let lost = counting::envelopes(&queue, 1, JOB_TIME);
    let start = Instant::now();
    let result = client.enqueue(&lost).await;
    let took = start.elapsed();
    let error = result.expect_err("a dispatch while the server is down must fail");
    let message = chain(&error);
    eprintln!("{label}: dispatch during the outage failed in {took:?}: {message}");
    assert!(
        took < BOUND,
        "{label}: dispatch blocked for {took:?}: {message}"
    );
    let lower = message.to_lowercase();
    assert!(
        ["refused", "broken pipe", "reset", "closed", "unreachable"]
            .iter()
            .any(|cause| lower.contains(cause)),
        "{label}: the message does not name the cause: {message}"
    );

    // Let the worker's calls fail for a while, then bring the server back.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    tokio::task::block_in_place(|| server.resume());
    let outage = down_at.elapsed();
    let start = Instant::now();
    client
        .enqueue(&after)
        .await
        .expect("a dispatch once the server is back must succeed");
    eprintln!(
        "{label}: the first dispatch after the restart took {:?}",
        start.elapsed()
    );

    let report = run
        .await
        .unwrap()
        .unwrap_or_else(|_| {
            panic!(
                "{label}: the worker did not finish within 120 s: {} of {} jobs ran",
                counting::ran(&expected),
                expected.len()
            )
        })
        .expect("worker");
    assert_eq!(
        counting::ran(&expected),
        expected.len(),
        "{label}: jobs lost"
    );
    // A job whose acknowledgement raced its lease during the outage was
    // rescued after it ran, and runs again (at least once): it may still be
    // scheduled or ready when the last job ran for the first time. A burst
    // worker runs what is left; then nothing may be outstanding or dead.
    let rest = Worker::new(client.clone())
        .config(WorkerConfig {
            queues: vec![queue.clone()],
            concurrency: 4,
            burst: true,
            ..WorkerConfig::default()
        })
        .registry(counting::registry());
    tokio::time::timeout(
        Duration::from_secs(60),
        rest.run_until(std::future::pending()),
    )
    .await
    .unwrap_or_else(|_| panic!("{label}: the rescued jobs did not run within 60 s"))
    .expect("worker");
    let stats = driver
        .stats(Some(std::slice::from_ref(&queue)))
        .await
        .unwrap();
    assert_eq!(
        stats[0].outstanding() + stats[0].dead,
        0,
        "{label}: {stats:?}"
    );

    // One line when the outage started and one when it ended, however many
    // calls failed in between.
    let started_lines = log_lines("backend outage: ")
        .into_iter()
        .filter(|l| l.contains(&worker_id))
        .count();
    let ended = log_lines("backend outage over after");
    let ended: Vec<_> = ended.iter().filter(|l| l.contains(&worker_id)).collect();
    let worker_lines = log_lines(&worker_id);
    eprintln!(
        "{label}: outage of {outage:?}; {ran_when_stopped} jobs had run; worker log lines: {}; {report:?}\n  {}",
        worker_lines.len(),
        worker_lines.join("\n  ")
    );
    assert!(
        (1..=2).contains(&started_lines),
        "{label}: {started_lines} outage lines: {worker_lines:#?}"
    );
    assert_eq!(
        ended.len(),
        started_lines,
        "{label}: one end line per outage: {worker_lines:#?}"
    );
    assert!(ended[0].contains("failed_calls="), "{}", ended[0]);
    assert!(
        worker_lines.len() <= 2 + 2 * started_lines,
        "{label}: the worker logged more than its start, stop and outage lines: {worker_lines:#?}"
    );
}

#[cfg(feature = "postgres")]
mod postgres_outage {
    use super::*;
    use pg_support::{PrivateServer, running_as_root};

    impl Server for PrivateServer {
        fn stop(&self) {
            PrivateServer::stop(self)
        }
        fn resume(&self) {
            PrivateServer::resume(self)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_postgres_outage_fails_dispatch_fast_and_loses_no_job() {
        if !running_as_root() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "the Postgres outage test starts a private server as the postgres user and needs root"
            );
            eprintln!("skipped: the Postgres outage test needs root");
            return;
        }
        let server = PrivateServer::start();
        let url = format!("postgres://postgres@127.0.0.1:{}/postgres", server.port);
        let driver = asynctasq_drivers::PgDriver::connect(&url)
            .await
            .expect("connect");
        driver.migrate().await.expect("migrate");
        outage_scenario("pg", Arc::new(driver), &server).await;
    }
}

#[cfg(feature = "mysql")]
mod mysql_outage {
    use super::*;
    use mariadb_support::PrivateMariaDb;

    impl Server for PrivateMariaDb {
        fn stop(&self) {
            PrivateMariaDb::stop(self)
        }
        fn resume(&self) {
            PrivateMariaDb::resume(self)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_mariadb_outage_fails_dispatch_fast_and_loses_no_job() {
        let server = PrivateMariaDb::start();
        let driver = asynctasq_drivers::MySqlDriver::connect(&server.url())
            .await
            .expect("connect");
        driver.migrate().await.expect("migrate");
        outage_scenario("mariadb", Arc::new(driver), &server).await;
    }
}

#[cfg(feature = "redis")]
mod redis_outage {
    use super::*;
    use redis_support::Server as RedisServer;

    impl Server for RedisServer {
        fn stop(&self) {
            self.kill()
        }
        fn resume(&self) {
            self.restart()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_redis_outage_fails_dispatch_fast_and_loses_no_job() {
        // Durable, so that the restart keeps the queue.
        let server = RedisServer::start(&["--appendonly", "yes", "--appendfsync", "always"]);
        let driver = asynctasq_drivers::RedisDriver::connect(&server.url())
            .await
            .expect("connect");
        driver.migrate().await.expect("migrate");
        outage_scenario("redis", Arc::new(driver), &server).await;
    }
}
