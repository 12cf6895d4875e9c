//! Configuration: from code, from `ASYNCTASQ_*` environment variables, and
//! (in the CLI) from flags. Precedence, highest first: CLI flag, code
//! ([`Config`] passed to `init`), environment, built-in default.

use std::time::Duration;

/// The URL used when nothing else is configured: an embedded SQLite file in
/// the working directory.
pub const DEFAULT_URL: &str = "sqlite://asynctasq.db";

/// The default largest encoded job accepted by dispatch: 1 MiB.
pub const DEFAULT_MAX_PAYLOAD: usize = 1 << 20;

/// How the application reaches its queue backend.
///
/// ```
/// use asynctasq_core::Config;
///
/// let config = Config::new("sqlite://jobs.db").max_payload_bytes(64 * 1024);
/// assert_eq!(config.url, "sqlite://jobs.db");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The backend URL: `sqlite://path`, `memory://`, later `postgres://…`, `redis://…`.
    pub url: String,
    /// Create or upgrade the schema on connect (default `true`).
    pub auto_migrate: bool,
    /// Dispatch refuses jobs whose encoded envelope is larger.
    pub max_payload_bytes: usize,
}

impl Default for Config {
    /// The built-in defaults: [`DEFAULT_URL`], auto-migrate, 1 MiB payloads.
    fn default() -> Self {
        Config {
            url: DEFAULT_URL.to_string(),
            auto_migrate: true,
            max_payload_bytes: DEFAULT_MAX_PAYLOAD,
        }
    }
}

impl Config {
    /// Defaults with the given URL.
    pub fn new(url: impl Into<String>) -> Self {
        Config {
            url: url.into(),
            ..Config::default()
        }
    }

    /// Defaults, overridden by `ASYNCTASQ_URL`, `ASYNCTASQ_AUTO_MIGRATE`
    /// (`true`/`false`) and `ASYNCTASQ_MAX_PAYLOAD_BYTES`.
    pub fn from_env() -> Self {
        Config::default().merge_env()
    }

    /// Applies the `ASYNCTASQ_*` variables that are set on top of `self`.
    /// Used for values the code did not set explicitly.
    pub fn merge_env(mut self) -> Self {
        if let Ok(url) = std::env::var("ASYNCTASQ_URL")
            && !url.is_empty()
        {
            self.url = url;
        }
        if let Ok(v) = std::env::var("ASYNCTASQ_AUTO_MIGRATE") {
            self.auto_migrate = !matches!(v.as_str(), "0" | "false" | "no");
        }
        if let Some(n) = std::env::var("ASYNCTASQ_MAX_PAYLOAD_BYTES")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            self.max_payload_bytes = n;
        }
        self
    }

    /// Sets the largest accepted payload.
    pub fn max_payload_bytes(mut self, bytes: usize) -> Self {
        self.max_payload_bytes = bytes;
        self
    }

    /// Turns schema creation on connect on or off.
    pub fn auto_migrate(mut self, on: bool) -> Self {
        self.auto_migrate = on;
        self
    }
}

/// Parses a duration written as `30s`, `1m 30s`, `250ms`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(text).map_err(|e| format!("invalid duration `{text}`: {e}"))
}
