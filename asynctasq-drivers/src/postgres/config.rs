//! [`PgConfig`]: how to reach Postgres and how the driver behaves, from the
//! URL's query string or set by hand.

use std::fmt;
use std::time::Duration;

use asynctasq_core::config::{parse_bool, parse_duration};
use asynctasq_core::url::{parse_option, redact, split_options};
use asynctasq_core::{Error, Result};

use super::NAME;

/// How to reach Postgres and how the driver behaves.
///
/// Every field can also be set from the URL's query string, next to the
/// usual libpq-style parameters (`sslmode`, `application_name`, ...):
/// `postgres://app@db/jobs?max_connections=20&listen=false&poll_interval=500ms`.
#[derive(Clone, PartialEq, Eq)]
pub struct PgConfig {
    /// The connection URL (`postgres://` or `postgresql://`).
    pub url: String,
    /// Most connections in each of the driver's two pools (default 10):
    /// the main one (dispatches, admin commands) and the worker's, which
    /// connects only when claims and acks run. The listener uses one more.
    pub max_connections: u32,
    /// Connections kept open when idle (default 0).
    pub min_connections: u32,
    /// How long a statement waits for a connection (default 2 s): for a
    /// free one when all are busy, or for a new one while the server cannot
    /// be reached, after which the statement fails with the cause
    /// (`connection refused`, ...). See "When the backend is down" in
    /// `docs/drivers.md`.
    pub acquire_timeout: Duration,
    /// How long opening the first connection in
    /// [`connect`](super::PgDriver::connect) may take (default 2 s); it fails
    /// sooner, with the cause, when the server refuses.
    pub connect_timeout: Duration,
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
            .field("max_connections", &self.max_connections)
            .field("min_connections", &self.min_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("application_name", &self.application_name)
            .field("listen", &self.listen)
            .field("poll_interval", &self.poll_interval)
            .field("synchronous_acks", &self.synchronous_acks)
            .finish()
    }
}

/// URL query parameters that configure the driver rather than the session
/// (`retain_completed` only to refuse it: it is a worker setting now).
const URL_OPTIONS: &[&str] = &[
    "max_connections",
    "min_connections",
    "acquire_timeout",
    "connect_timeout",
    "listen",
    "poll_interval",
    "synchronous_acks",
    "retain_completed",
];

impl PgConfig {
    /// Defaults for `url`, without reading its query string.
    pub fn new(url: impl Into<String>) -> Self {
        PgConfig {
            url: url.into(),
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: crate::sql_connect::DEFAULT_ACQUIRE_TIMEOUT,
            connect_timeout: crate::sql_connect::DEFAULT_CONNECT_TIMEOUT,
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
    /// assert_eq!(config.max_connections, 4);
    /// assert_eq!(config.url, "postgres://app@db/jobs?sslmode=require");
    /// assert!(PgConfig::from_url("postgres://app@db/jobs?retain_completed=1h").is_err());
    /// # Ok::<(), asynctasq_core::Error>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Self> {
        let split = split_options(url, URL_OPTIONS);
        let mut config = PgConfig::new(split.database_url);
        for (key, value) in &split.options {
            let number = |v: &str| v.parse::<u32>().map_err(|e| e.to_string());
            let option = |parse| parse_option(NAME, key, value, parse);
            match key.as_str() {
                "max_connections" => {
                    config.max_connections = parse_option(NAME, key, value, number)?
                }
                "min_connections" => {
                    config.min_connections = parse_option(NAME, key, value, number)?
                }
                "acquire_timeout" => config.acquire_timeout = option(parse_duration)?,
                "connect_timeout" => config.connect_timeout = option(parse_duration)?,
                "poll_interval" => config.poll_interval = option(parse_duration)?,
                "listen" => config.listen = parse_option(NAME, key, value, parse_bool)?,
                "synchronous_acks" => {
                    config.synchronous_acks = parse_option(NAME, key, value, parse_bool)?
                }
                "retain_completed" => {
                    return Err(Error::Config(format!(
                        "postgres url option `retain_completed={value}` is no longer a driver \
                         option: keeping completed jobs is a worker setting now; remove it from \
                         the url and set `Worker::retain_completed` (or `worker --retain-completed`)"
                    )));
                }
                _ => {}
            }
        }
        Ok(config)
    }

    pub(super) fn validate(&self) -> Result<()> {
        if self.max_connections == 0 {
            return Err(Error::Config(
                "postgres max_connections must be at least 1".into(),
            ));
        }
        if self.poll_interval < Duration::from_millis(10) {
            return Err(Error::Config(
                "postgres poll_interval must be at least 10ms".into(),
            ));
        }
        Ok(())
    }
}
