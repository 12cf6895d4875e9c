//! [`PgConfig`]: how to reach Postgres and how the driver behaves, from the
//! URL's query string or set by hand.

use std::fmt;
use std::time::Duration;

use asynctasq_core::config::{parse_bool, parse_duration};
use asynctasq_core::url::{parse_option, redact, split_options};
use asynctasq_core::{Error, Result};

use super::NAME;
use crate::sql_connect::{POOL_URL_OPTIONS, PoolConfig};

/// How to reach Postgres and how the driver behaves.
///
/// Every field can also be set from the URL's query string, next to the
/// usual libpq-style parameters (`sslmode`, `application_name`, ...):
/// `postgres://app@db/jobs?max_connections=20&listen=false&poll_interval=500ms`.
#[derive(Clone, PartialEq, Eq)]
pub struct PgConfig {
    /// The connection URL (`postgres://` or `postgresql://`).
    pub url: String,
    /// The connection pool (URL options `max_connections`, `min_connections`,
    /// `acquire_timeout`, `connect_timeout`).
    pub pool: PoolConfig,
    /// `application_name` of the driver's sessions, to find them in
    /// `pg_stat_activity` (default `asynctasq`; an `application_name` in
    /// the URL wins).
    pub application_name: String,
    /// Wake idle workers with `LISTEN/NOTIFY` (default `true`). Turn it off
    /// behind a transaction-pooling proxy (PgBouncer in transaction mode),
    /// where `LISTEN` does not work; workers then poll.
    pub listen: bool,
    /// How often an idle worker looks for new jobs when it cannot rely on
    /// notifications: `listen` is off or the listener is reconnecting
    /// (default 1 s).
    pub poll_interval: Duration,
    /// Commit the worker's own writes (claims, completions, retries,
    /// dead-letter moves, lease extensions and releases) durably, with
    /// `synchronous_commit = on` (default `false`). When off, those writes
    /// run on a second pool whose sessions start with
    /// `synchronous_commit = off`: a commit returns before its WAL record
    /// reaches disk, which saves a flush per claim and per batch of acks. A
    /// Postgres *server* crash can then forget the last moments of them
    /// (at most `3 × wal_writer_delay`, 600 ms by default), and the jobs
    /// concerned run again — which the at-least-once contract already
    /// allows. Dispatches always commit durably. Turn it on behind a proxy
    /// that refuses startup options.
    pub synchronous_acks: bool,
}

impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConfig")
            .field("url", &redact(&self.url))
            .field("pool", &self.pool)
            .field("application_name", &self.application_name)
            .field("listen", &self.listen)
            .field("poll_interval", &self.poll_interval)
            .field("synchronous_acks", &self.synchronous_acks)
            .finish()
    }
}

/// URL query parameters that configure the driver rather than the session,
/// beside the pool's ([`POOL_URL_OPTIONS`]).
const URL_OPTIONS: &[&str] = &["listen", "poll_interval", "synchronous_acks"];

impl PgConfig {
    /// Defaults for `url`, without reading its query string.
    pub fn new(url: impl Into<String>) -> Self {
        PgConfig {
            url: url.into(),
            pool: PoolConfig::default(),
            application_name: "asynctasq".to_string(),
            listen: true,
            poll_interval: Duration::from_secs(1),
            synchronous_acks: false,
        }
    }

    /// Defaults overridden by the driver options in `url`'s query string
    /// (see [`PgConfig`]); the options are removed from [`url`](Self::url).
    /// A `retain_completed` option is refused: keeping completed jobs is
    /// the worker's setting (`Worker::retain_completed`).
    ///
    /// ```
    /// use asynctasq_drivers::postgres::PgConfig;
    ///
    /// let config = PgConfig::from_url("postgres://app@db/jobs?sslmode=require&max_connections=4")?;
    /// assert_eq!(config.pool.max_connections, 4);
    /// assert_eq!(config.url, "postgres://app@db/jobs?sslmode=require");
    /// assert!(PgConfig::from_url("postgres://app@db/jobs?retain_completed=1h").is_err());
    /// # Ok::<(), asynctasq_core::Error>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Self> {
        let split = split_options(url, &[POOL_URL_OPTIONS, URL_OPTIONS].concat());
        let mut config = PgConfig::new(split.database_url);
        for (key, value) in &split.options {
            if config.pool.read_option(NAME, key, value)? {
                continue;
            }
            match key.as_str() {
                "poll_interval" => {
                    config.poll_interval = parse_option(NAME, key, value, parse_duration)?
                }
                "listen" => config.listen = parse_option(NAME, key, value, parse_bool)?,
                "synchronous_acks" => {
                    config.synchronous_acks = parse_option(NAME, key, value, parse_bool)?
                }
                _ => {}
            }
        }
        Ok(config)
    }

    pub(super) fn validate(&self) -> Result<()> {
        self.pool.validate(NAME)?;
        if self.poll_interval < Duration::from_millis(10) {
            return Err(Error::Config(
                "postgres poll_interval must be at least 10ms".into(),
            ));
        }
        Ok(())
    }
}
