//! Opening connections to a SQL server (Postgres, MySQL/MariaDB): within a
//! bound, and with the cause when it fails.
//!
//! A sqlx pool retries a refused connection until its acquire timeout and
//! then reports only `pool timed out while waiting for an open connection`.
//! So the drivers open their first connection themselves ([`connect_pool`]),
//! and a statement that times out waiting for a connection is explained by
//! trying to connect once ([`explained`]): a server that is down then says
//! `connection refused`, a missing database `database "x" does not exist`.

use std::future::Future;
use std::time::Duration;

use sqlx::pool::PoolOptions;
use sqlx::{ConnectOptions, Connection, Database, Pool};

use asynctasq_core::{Error, Result};

/// How long opening a connection may take by default (`connect_timeout`).
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a statement waits for a connection by default
/// (`acquire_timeout`): also how long a statement takes to fail while the
/// server is down.
pub(crate) const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why connecting failed, in the server's or the system's words: the
/// database message without sqlx's prefixes and Postgres's `at line N` (a
/// line of the server's own source code).
pub(crate) fn cause(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => db.message().to_string(),
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused".to_string()
        }
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::Tls(tls) => format!("tls: {tls}"),
        other => other.to_string(),
    }
}

/// Opens one connection with `options` within `timeout` and closes it: a
/// check that the server can be reached and accepts the session. The error
/// is the [`cause`].
pub(crate) async fn check<DB: Database>(
    options: &<DB::Connection as Connection>::Options,
    timeout: Duration,
) -> std::result::Result<(), String> {
    match tokio::time::timeout(timeout, options.connect()).await {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            Ok(())
        }
        Ok(Err(e)) => Err(cause(&e)),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

/// Builds a pool from `pool` and `options` after opening one connection
/// within `timeout`, so that a server that is down, a missing database or a
/// refused login fails at once with its cause. `target` is the redacted URL.
pub(crate) async fn connect_pool<DB: Database>(
    driver: &'static str,
    target: &str,
    pool: PoolOptions<DB>,
    options: <DB::Connection as Connection>::Options,
    timeout: Duration,
) -> Result<Pool<DB>> {
    let failed =
        |cause: String| Error::driver(driver, format!("cannot connect to `{target}`: {cause}"));
    // Only a check: the pool opens its own connections, with its hooks.
    check::<DB>(&options, timeout).await.map_err(failed)?;
    pool.connect_with(options)
        .await
        .map_err(|e| failed(cause(&e)))
}

/// Runs `op`, a statement on `pool`. When it fails because no connection
/// came within the pool's acquire timeout, connects once (within the same
/// bound) to find out why: if that fails too, the error names the cause
/// instead of the time-out; if it succeeds, the pool was only busy and the
/// time-out stands.
pub(crate) async fn explained<DB: Database, T>(
    pool: &Pool<DB>,
    op: impl Future<Output = std::result::Result<T, sqlx::Error>>,
) -> std::result::Result<T, sqlx::Error> {
    match op.await {
        Err(sqlx::Error::PoolTimedOut) => {
            let waited = pool.options().get_acquire_timeout();
            match check::<DB>(&pool.connect_options(), waited).await {
                Ok(()) => Err(sqlx::Error::PoolTimedOut),
                Err(cause) => Err(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    format!(
                        "no connection within {waited:?}, the server cannot be reached: {cause}"
                    ),
                ))),
            }
        }
        other => other,
    }
}

/// The connection pool of a Postgres or MySQL driver
/// ([`PgConfig::pool`](crate::postgres::PgConfig),
/// [`MySqlConfig::pool`](crate::mysql::MySqlConfig)); every field can be set
/// from the URL's query string (`?max_connections=20&acquire_timeout=5s`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Most connections in the pool (default 10).
    pub max_connections: u32,
    /// Connections kept open when idle (default 0).
    pub min_connections: u32,
    /// How long a statement waits for a connection (default 2 s): for a
    /// free one when all are busy, or for a new one while the server cannot
    /// be reached, after which the statement fails with the cause
    /// (`connection refused`, ...). See "When the backend is down" in
    /// `docs/drivers.md`.
    pub acquire_timeout: Duration,
    /// How long opening the first connection when the driver connects may
    /// take (default 2 s); it fails sooner, with the cause, when the server
    /// refuses.
    pub connect_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// The URL options read by [`PoolConfig::read_option`], and
/// `retain_completed`, which is read only to be refused with where it went.
pub(crate) const POOL_URL_OPTIONS: &[&str] = &[
    "max_connections",
    "min_connections",
    "acquire_timeout",
    "connect_timeout",
    "retain_completed",
];

impl PoolConfig {
    /// Applies the URL option `key=value` if it is a pool setting; returns
    /// whether it was one. `retain_completed` fails: it is a worker setting.
    pub(crate) fn read_option(
        &mut self,
        driver: &'static str,
        key: &str,
        value: &str,
    ) -> Result<bool> {
        use asynctasq_core::url::parse_option;
        let number = |v: &str| v.parse::<u32>().map_err(|e| e.to_string());
        let duration = asynctasq_core::config::parse_duration;
        match key {
            "max_connections" => self.max_connections = parse_option(driver, key, value, number)?,
            "min_connections" => self.min_connections = parse_option(driver, key, value, number)?,
            "acquire_timeout" => self.acquire_timeout = parse_option(driver, key, value, duration)?,
            "connect_timeout" => self.connect_timeout = parse_option(driver, key, value, duration)?,
            "retain_completed" => {
                return Err(Error::Config(format!(
                    "{driver} url option `retain_completed={value}` is no longer a driver option: \
                     keeping completed jobs is a worker setting now; remove it from the url and \
                     set `Worker::retain_completed` (or `worker --retain-completed`)"
                )));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Refuses a pool without connections.
    pub(crate) fn validate(&self, driver: &'static str) -> Result<()> {
        if self.max_connections == 0 {
            return Err(Error::Config(format!(
                "{driver} max_connections must be at least 1"
            )));
        }
        Ok(())
    }

    /// sqlx pool options with these settings.
    pub(crate) fn options<DB: Database>(&self) -> PoolOptions<DB> {
        PoolOptions::new()
            .max_connections(self.max_connections)
            .min_connections(self.min_connections)
            .acquire_timeout(self.acquire_timeout)
    }

    /// The driver's pool on `options` (whose server listens on `port`):
    /// its connections get `TCP_NODELAY`, and the first one is opened
    /// within [`connect_timeout`](Self::connect_timeout) (see
    /// [`connect_pool`]). `pool` adjusts the sqlx options.
    pub(crate) async fn connect<DB: Database>(
        &self,
        driver: &'static str,
        target: &str,
        options: <DB::Connection as Connection>::Options,
        port: u16,
        pool: impl FnOnce(PoolOptions<DB>) -> PoolOptions<DB>,
    ) -> Result<Pool<DB>> {
        let pool = crate::nodelay::on_connect(pool(self.options()), port);
        connect_pool(driver, target, pool, options, self.connect_timeout).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_short() {
        let refused = sqlx::Error::Io(std::io::ErrorKind::ConnectionRefused.into());
        assert_eq!(cause(&refused), "connection refused");
        assert_eq!(
            cause(&sqlx::Error::PoolTimedOut),
            "pool timed out while waiting for an open connection"
        );
    }
}
