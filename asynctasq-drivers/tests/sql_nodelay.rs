//! `TCP_NODELAY` on every connection the Postgres and MySQL drivers use
//! (`asynctasq-drivers/src/nodelay.rs`), checked on the process's real
//! sockets while 20 KB jobs are dispatched and claimed: without it each such
//! statement waits ~40 ms on Nagle's algorithm and the server's delayed ACK.
//!
//! Needs the servers: `ASYNCTASQ_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432`, database `asynctasq_nodelay`) and
//! `ASYNCTASQ_TEST_MYSQL` (default `mysql://root@127.0.0.1:3306`, database
//! `asynctasq_nodelay`), both created if missing; fails when one cannot be
//! reached. Each driver's cases run in one test, one after another: the
//! module treats every socket to the server's port, so a case running
//! alongside another could be fixed by the other's hook and pass wrongly.
//!
//! Not covered here: the connection a worker opens to the models database
//! (`asynctasq-core`, through sea-orm), which has no hook of ours.
//!
//! Linux only: elsewhere the module does nothing.

#![cfg(all(target_os = "linux", any(feature = "postgres", feature = "mysql")))]

use asynctasq_core::Completion;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::Arc;

use asynctasq_core::Driver;
use asynctasq_core::conformance::{claim_one_queue, job, unique_queue};
use asynctasq_core::job::NewJob;
use socket2::{SockRef, Type};

/// The database both servers' cases use.
const DATABASE: &str = "asynctasq_nodelay";

/// A job of `queue` with a 20 KB payload: large enough to leave the client
/// in two writes, which is when Nagle's algorithm stalls a statement.
fn big_job(queue: &str) -> NewJob {
    NewJob {
        payload: vec![b'x'; 20 * 1024],
        ..job(queue)
    }
}

/// `TCP_NODELAY` of each TCP socket of this process whose peer is on `port`.
fn nodelay_of_sockets_to(port: u16) -> Vec<bool> {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let target = std::fs::read_link(entry.path()).ok()?;
            target.to_str()?.starts_with("socket:").then_some(())?;
            entry.file_name().to_str()?.parse::<RawFd>().ok()
        })
        .filter_map(|fd| {
            // SAFETY: `fd` was listed in /proc/self/fd a moment ago and the
            // borrow lasts only for the reads below, which never close it.
            // Were it closed meanwhile, they fail (EBADF) and it is skipped;
            // were its number reused, they read the new socket's options.
            #[allow(unsafe_code)]
            let fd = unsafe { BorrowedFd::borrow_raw(fd) };
            let socket = SockRef::from(&fd);
            (socket.r#type().ok()? == Type::STREAM).then_some(())?;
            let peer = socket.peer_addr().ok()?.as_socket()?;
            (peer.port() == port).then_some(())?;
            socket.tcp_nodelay().ok()
        })
        .collect()
}

/// Asserts that the process has at least `at_least` sockets to `port` and
/// that all of them have `TCP_NODELAY`; returns how many there are.
fn assert_all_nodelay(port: u16, at_least: usize, case: &str) -> usize {
    let sockets = nodelay_of_sockets_to(port);
    let without = sockets.iter().filter(|on| !**on).count();
    assert!(
        sockets.len() >= at_least,
        "{case}: expected at least {at_least} connections to port {port}, found {}",
        sockets.len()
    );
    assert_eq!(
        without,
        0,
        "{case}: {without} of {} connections to port {port} lack TCP_NODELAY \
         (a 20 KB statement on them waits ~40 ms on the delayed ACK)",
        sockets.len()
    );
    sockets.len()
}

/// Dispatches 20 KB jobs one at a time, then `concurrent` at once (which
/// makes the pool open more connections), then one more, all on `queue`.
/// The last one is when a driver over an application's pool treats the
/// connections the pool opened during the concurrent ones (see
/// `nodelay::Adopted`).
async fn dispatch_big_jobs(driver: &Arc<dyn Driver>, queue: &str, concurrent: usize) {
    for _ in 0..10 {
        driver.enqueue(&[big_job(queue)]).await.expect("enqueue");
    }
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..concurrent {
        let driver = driver.clone();
        let queue = queue.to_owned();
        set.spawn(async move {
            for _ in 0..5 {
                driver.enqueue(&[big_job(&queue)]).await.expect("enqueue");
            }
        });
    }
    set.join_all().await;
    driver.enqueue(&[big_job(queue)]).await.expect("enqueue");
}

/// Claims and completes every job of `queue`.
async fn drain(driver: &Arc<dyn Driver>, queue: &str) {
    loop {
        let claimed = claim_one_queue(driver, queue, 16).await;
        if claimed.is_empty() {
            return;
        }
        let receipts: Vec<_> = claimed.iter().map(|c| c.receipt).collect();
        driver
            .complete(&receipts, Completion::Delete)
            .await
            .expect("complete");
    }
}

/// A pool sea-orm opened before a driver adopted it (`adopt`), then grown
/// by concurrent dispatches after the adoption: every connection to `port`
/// has `TCP_NODELAY`, also after the worker's claims (`worker_connections`
/// more: Postgres's worker pool has its own, MySQL's shares the pool).
async fn adopted_pool_case(
    url: &str,
    port: u16,
    label: &str,
    worker_connections: usize,
    adopt: impl FnOnce(&sea_orm::DatabaseConnection) -> (Arc<dyn Driver>, Box<dyn Fn() -> u32>),
) {
    let db = sea_orm::Database::connect(
        sea_orm::ConnectOptions::new(url)
            .max_connections(8)
            .sqlx_logging(false)
            .to_owned(),
    )
    .await
    .expect("sea-orm connect");
    let (adopted, size) = adopt(&db);
    let queue = unique_queue(&format!("nodelay-{label}-adopted"));
    dispatch_big_jobs(&adopted, &queue, 4).await;
    assert!(size() >= 2, "the adopted pool grew: {}", size());
    assert_all_nodelay(port, size() as usize, &format!("{label} adopted pool"));
    drain(&adopted, &queue).await;
    assert_all_nodelay(
        port,
        size() as usize + worker_connections,
        &format!("{label} adopted pool, claims"),
    );
    db.close().await.unwrap();
}

#[cfg(feature = "postgres")]
mod pg_support;

#[cfg(feature = "postgres")]
mod postgres {
    use asynctasq_drivers::PgDriver;

    use super::*;
    use crate::pg_support::ensure_database;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_connection_has_nodelay() {
        let url = ensure_database(DATABASE).await;

        // The driver's own pool: dispatches, one at a time and 4 at once.
        let own = PgDriver::connect(&format!("{url}?max_connections=8"))
            .await
            .expect("connect");
        let port = own.pool().connect_options().get_port();
        let own: Arc<dyn Driver> = Arc::new(own);
        own.migrate().await.expect("migrate");
        let queue = unique_queue("nodelay-pg");
        dispatch_big_jobs(&own, &queue, 4).await;
        let main = assert_all_nodelay(port, 2, "postgres main pool");

        // The worker's pool (its own connections, opened by the claims).
        drain(&own, &queue).await;
        assert_all_nodelay(port, main + 1, "postgres worker pool");
        drop(own);

        adopted_pool_case(&url, port, "postgres", 1, |db| {
            let pool = db.get_postgres_connection_pool().clone();
            let driver: Arc<dyn Driver> = Arc::new(PgDriver::from_pool(pool.clone()));
            (driver, Box::new(move || pool.size()))
        })
        .await;
    }
}

#[cfg(feature = "mysql")]
mod mysql {
    use sqlx::Connection;

    use asynctasq_drivers::MySqlDriver;

    use super::*;

    fn server() -> String {
        std::env::var("ASYNCTASQ_TEST_MYSQL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_string())
    }

    /// Creates the database unless it exists; the admin connection (which
    /// has no hook) is closed before the cases look at sockets.
    async fn ensure_database() -> String {
        let mut conn = sqlx::MySqlConnection::connect(&server())
            .await
            .expect("mysql is not reachable (set ASYNCTASQ_TEST_MYSQL)");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE IF NOT EXISTS `{DATABASE}`"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        format!("{}/{DATABASE}", server())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_connection_has_nodelay() {
        let url = ensure_database().await;

        // The driver's own pool: dispatches, one at a time and 4 at once,
        // then claims (MySQL has one pool for both).
        let own = MySqlDriver::connect(&format!("{url}?max_connections=8"))
            .await
            .expect("connect");
        let port = own.pool().connect_options().get_port();
        let own: Arc<dyn Driver> = Arc::new(own);
        own.migrate().await.expect("migrate");
        let queue = unique_queue("nodelay-my");
        dispatch_big_jobs(&own, &queue, 4).await;
        assert_all_nodelay(port, 2, "mysql pool");
        drain(&own, &queue).await;
        assert_all_nodelay(port, 2, "mysql pool, claims");
        drop(own);

        adopted_pool_case(&url, port, "mysql", 0, |db| {
            let pool = db.get_mysql_connection_pool().clone();
            let driver: Arc<dyn Driver> = Arc::new(MySqlDriver::from_pool(pool.clone()));
            (driver, Box::new(move || pool.size()))
        })
        .await;
    }
}
