//! The database that sea-orm model arguments are fetched from, opened the
//! way the drivers open theirs.

use std::time::Duration;

use asynctasq_core::sea_orm::{ConnectOptions, Database, DatabaseConnection};
use asynctasq_core::{Error, Result};

/// How long connecting to the models database may take, and how long a
/// fetch waits for a connection (the SQL drivers' defaults).
const TIMEOUT: Duration = Duration::from_secs(2);

/// A pooled connection idle this long is pinged before a fetch uses it;
/// busier ones are not (sea-orm's default pings before every use: one more
/// round trip per fetch).
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(30);

/// Connections in the models pool that [`connect_models_database`] opens
/// (the worker CLI's `--database-pool` default).
///
/// A worker fetches each entity of the jobs it runs with one statement
/// shared by many jobs, and runs at most
/// [`IN_FLIGHT`](asynctasq_core::args::IN_FLIGHT) such statements per entity
/// at a time: a few connections per entity a task takes are enough, not one
/// per job. See `docs/orm.md` for the measurements.
pub const MODELS_POOL: u32 = 8;

/// Opens a sea-orm connection to `url` for [`Worker::database`], with a
/// pool of [`MODELS_POOL`] connections; see [`connect_models_database_pooled`].
///
/// [`Worker::database`]: asynctasq_core::Worker::database
pub async fn connect_models_database(url: &str) -> Result<DatabaseConnection> {
    connect_models_database_pooled(url, MODELS_POOL).await
}

/// Opens a sea-orm connection to `url` for [`Worker::database`], with at
/// most `pool` connections:
/// - it fails within 2 s, with the cause (`connection refused`,
///   `database "x" does not exist`, `Access denied ...`), where sea-orm's
///   defaults wait 30 s and say only that the pool timed out;
/// - a fetch waits at most 2 s for a connection while the server is down;
/// - statements are not logged (sea-orm logs each one at `INFO` by
///   default, a line per fetched model);
/// - a connection is pinged before use only when it was idle for 30 s
///   (sea-orm's default pings before every use, a round trip per fetch).
///
/// Errors never contain the URL; the caller names the database.
///
/// [`Worker::database`]: asynctasq_core::Worker::database
pub async fn connect_models_database_pooled(url: &str, pool: u32) -> Result<DatabaseConnection> {
    let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
    let driver = match scheme.to_ascii_lowercase().as_str() {
        "postgres" | "postgresql" => "postgres",
        "mysql" => "mysql",
        "sqlite" => "sqlite",
        _ => "sea-orm",
    };
    check(driver, url).await?;
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(pool.max(1))
        .connect_timeout(TIMEOUT)
        .acquire_timeout(TIMEOUT)
        .test_before_acquire_if_idle_for(PING_IF_IDLE_FOR)
        .sqlx_logging(false);
    Database::connect(options)
        .await
        .map_err(|e| Error::driver(driver, e))
}

/// Connects once to a Postgres or MySQL server to learn why it fails (a
/// pool would only time out); other databases are left to sea-orm.
#[cfg_attr(
    not(any(feature = "postgres", feature = "mysql")),
    allow(unused_variables)
)]
async fn check(driver: &'static str, url: &str) -> Result<()> {
    let checked: std::result::Result<(), String> = match driver {
        #[cfg(feature = "postgres")]
        "postgres" => match url.parse::<sqlx::postgres::PgConnectOptions>() {
            Ok(options) => crate::sql_connect::check::<sqlx::Postgres>(&options, TIMEOUT).await,
            Err(e) => Err(crate::sql_connect::cause(&e)),
        },
        #[cfg(feature = "mysql")]
        "mysql" => match url.parse::<sqlx::mysql::MySqlConnectOptions>() {
            Ok(options) => crate::sql_connect::check::<sqlx::MySql>(&options, TIMEOUT).await,
            Err(e) => Err(crate::sql_connect::cause(&e)),
        },
        _ => Ok(()),
    };
    checked.map_err(|cause| Error::driver(driver, cause))
}
