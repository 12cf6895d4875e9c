//! The driver's configuration and its URL options.

use std::fmt;
use std::time::Duration;

use asynctasq_core::url::{parse_option, redact, split_options};
use asynctasq_core::{Error, Result};

use super::NAME;

/// How to reach MySQL/MariaDB and how the driver behaves.
///
/// Every field can also be set from the URL's query string, next to
/// sqlx's own parameters (`ssl-mode`, `charset`, ...):
/// `mysql://app@db/jobs?max_connections=20&poll_interval=500ms`.
#[derive(Clone, PartialEq, Eq)]
pub struct MySqlConfig {
    /// The connection URL (`mysql://` or `mariadb://`).
    pub url: String,
    /// Most connections in the driver's pool (default 10).
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
    /// [`connect`](super::MySqlDriver::connect) may take (default 2 s); it
    /// fails sooner, with the cause, when the server refuses.
    pub connect_timeout: Duration,
    /// The first poll interval of an idle worker (default 50 ms); it
    /// doubles on each empty poll up to [`poll_interval`](Self::poll_interval).
    pub poll_interval_min: Duration,
    /// The longest poll interval of an idle worker: the latency, at worst,
    /// of a dispatch from another process to an idle worker (default 1 s).
    pub poll_interval: Duration,
}

impl fmt::Debug for MySqlConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MySqlConfig")
            .field("url", &redact(&self.url))
            .field("max_connections", &self.max_connections)
            .field("min_connections", &self.min_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("poll_interval_min", &self.poll_interval_min)
            .field("poll_interval", &self.poll_interval)
            .finish()
    }
}

/// URL query parameters that configure the driver rather than the session
/// (`retain_completed` only to say where it went).
const URL_OPTIONS: &[&str] = &[
    "max_connections",
    "min_connections",
    "acquire_timeout",
    "connect_timeout",
    "poll_interval_min",
    "poll_interval",
    "retain_completed",
];

impl MySqlConfig {
    /// Defaults for `url`, without reading its query string.
    pub fn new(url: impl Into<String>) -> Self {
        MySqlConfig {
            url: url.into(),
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: crate::sql_connect::DEFAULT_ACQUIRE_TIMEOUT,
            connect_timeout: crate::sql_connect::DEFAULT_CONNECT_TIMEOUT,
            poll_interval_min: Duration::from_millis(50),
            poll_interval: Duration::from_secs(1),
        }
    }

    /// Defaults overridden by the driver options in `url`'s query string
    /// (see [`MySqlConfig`]); the options are removed from [`url`](Self::url).
    /// Fails on `retain_completed`, which is now a worker setting.
    ///
    /// ```
    /// use asynctasq_drivers::mysql::MySqlConfig;
    ///
    /// let config = MySqlConfig::from_url("mysql://app@db/jobs?poll_interval=250ms")?;
    /// assert_eq!(config.poll_interval, std::time::Duration::from_millis(250));
    /// assert_eq!(config.url, "mysql://app@db/jobs");
    /// # Ok::<(), asynctasq_core::Error>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Self> {
        let split = split_options(url, URL_OPTIONS);
        let mut config = MySqlConfig::new(split.database_url);
        for (key, value) in &split.options {
            let number =
                || parse_option(NAME, key, value, |v| v.parse().map_err(|e| format!("{e}")));
            let duration =
                || parse_option(NAME, key, value, asynctasq_core::config::parse_duration);
            match key.as_str() {
                "max_connections" => config.max_connections = number()?,
                "min_connections" => config.min_connections = number()?,
                "acquire_timeout" => config.acquire_timeout = duration()?,
                "connect_timeout" => config.connect_timeout = duration()?,
                "poll_interval_min" => config.poll_interval_min = duration()?,
                "poll_interval" => config.poll_interval = duration()?,
                "retain_completed" => {
                    return Err(Error::Config(format!(
                        "mysql url option `{key}={value}` is no longer a driver option: keeping \
                         completed jobs is a worker setting now (`Worker::retain_completed`, \
                         `worker --retain-completed`)"
                    )));
                }
                _ => {}
            }
        }
        Ok(config)
    }

    /// Refuses settings the driver cannot work with.
    pub(super) fn validate(&self) -> Result<()> {
        if self.max_connections == 0 {
            return Err(Error::Config(
                "mysql max_connections must be at least 1".into(),
            ));
        }
        if self.poll_interval_min < Duration::from_millis(1)
            || self.poll_interval < self.poll_interval_min
        {
            return Err(Error::Config(
                "mysql poll intervals must satisfy 1ms <= poll_interval_min <= poll_interval"
                    .into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_read_and_removed_from_the_url() {
        let config = MySqlConfig::from_url(
            "mysql://app@db/jobs?max_connections=3&ssl-mode=disabled&poll_interval_min=10ms",
        )
        .unwrap();
        assert_eq!(config.max_connections, 3);
        assert_eq!(config.poll_interval_min, Duration::from_millis(10));
        assert_eq!(config.url, "mysql://app@db/jobs?ssl-mode=disabled");
        let err = MySqlConfig::from_url("mysql://db/jobs?max_connections=many").unwrap_err();
        assert!(err.to_string().contains("`max_connections=many`"), "{err}");
    }

    #[test]
    fn retain_completed_names_the_worker_setting() {
        let err = MySqlConfig::from_url("mysql://app@db/jobs?retain_completed=1h")
            .unwrap_err()
            .to_string();
        assert!(err.contains("retain_completed=1h"), "{err}");
        assert!(err.contains("Worker::retain_completed"), "{err}");
        assert!(err.contains("worker --retain-completed"), "{err}");
    }
}
