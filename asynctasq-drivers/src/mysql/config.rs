//! The driver's configuration and its URL options.

use std::fmt;
use std::time::Duration;

use asynctasq_core::config::parse_duration;
use asynctasq_core::url::{parse_option, redact, split_options};
use asynctasq_core::{Error, Result};

use super::NAME;
use crate::sql_connect::{POOL_URL_OPTIONS, PoolConfig};

/// How to reach MySQL/MariaDB and how the driver behaves.
///
/// Every field can also be set from the URL's query string, next to
/// sqlx's own parameters (`ssl-mode`, `charset`, ...):
/// `mysql://app@db/jobs?max_connections=20&poll_interval=500ms`.
#[derive(Clone, PartialEq, Eq)]
pub struct MySqlConfig {
    /// The connection URL (`mysql://` or `mariadb://`).
    pub url: String,
    /// The connection pool (URL options `max_connections`, `min_connections`,
    /// `acquire_timeout`, `connect_timeout`).
    pub pool: PoolConfig,
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
            .field("pool", &self.pool)
            .field("poll_interval_min", &self.poll_interval_min)
            .field("poll_interval", &self.poll_interval)
            .finish()
    }
}

/// URL query parameters that configure the driver rather than the session,
/// beside the pool's ([`POOL_URL_OPTIONS`]).
const URL_OPTIONS: &[&str] = &["poll_interval_min", "poll_interval"];

impl MySqlConfig {
    /// Defaults for `url`, without reading its query string.
    pub fn new(url: impl Into<String>) -> Self {
        MySqlConfig {
            url: url.into(),
            pool: PoolConfig::default(),
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
        let split = split_options(url, &[POOL_URL_OPTIONS, URL_OPTIONS].concat());
        let mut config = MySqlConfig::new(split.database_url);
        for (key, value) in &split.options {
            if config.pool.read_option(NAME, key, value)? {
                continue;
            }
            let duration = || parse_option(NAME, key, value, parse_duration);
            match key.as_str() {
                "poll_interval_min" => config.poll_interval_min = duration()?,
                "poll_interval" => config.poll_interval = duration()?,
                _ => {}
            }
        }
        Ok(config)
    }

    /// Refuses settings the driver cannot work with.
    pub(super) fn validate(&self) -> Result<()> {
        self.pool.validate(NAME)?;
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
        assert_eq!(config.pool.max_connections, 3);
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
