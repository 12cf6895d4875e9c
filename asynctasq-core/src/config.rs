//! Configuration: from code, from `ASYNCTASQ_*` environment variables, and
//! (in the CLI) from flags. Precedence, highest first: CLI flag, code
//! ([`Config`] passed to `init`), environment, built-in default.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};

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
#[derive(Clone, PartialEq, Eq)]
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

impl fmt::Debug for Config {
    /// Shows the URL without its credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("url", &crate::url::redact(&self.url))
            .field("auto_migrate", &self.auto_migrate)
            .field("max_payload_bytes", &self.max_payload_bytes)
            .finish()
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

    /// Defaults, overridden by the `ASYNCTASQ_*` variables that are set
    /// (see [`merge_env`](Config::merge_env)).
    pub fn from_env() -> Result<Self> {
        Config::default().merge_env()
    }

    /// Applies the `ASYNCTASQ_*` variables that are set on top of `self`.
    /// Used for values the code did not set explicitly.
    ///
    /// * `ASYNCTASQ_URL`: the backend URL;
    /// * `ASYNCTASQ_AUTO_MIGRATE`: a boolean, as [`parse_bool`] reads it
    ///   (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`, any case);
    /// * `ASYNCTASQ_MAX_PAYLOAD_BYTES`: a whole number of bytes.
    ///
    /// A variable set to an empty (or blank) value counts as unset. Fails,
    /// naming the variable and what it accepts, on a value it cannot read.
    pub fn merge_env(mut self) -> Result<Self> {
        if let Some(url) = env_var("ASYNCTASQ_URL")? {
            self.url = url;
        }
        if let Some(on) = env_parsed("ASYNCTASQ_AUTO_MIGRATE", parse_bool)? {
            self.auto_migrate = on;
        }
        if let Some(n) = env_parsed("ASYNCTASQ_MAX_PAYLOAD_BYTES", |v| {
            parse_number(v, "a whole number of bytes, such as 1048576")
        })? {
            self.max_payload_bytes = n;
        }
        Ok(self)
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

/// Parses a boolean, the one way asynctasq reads them everywhere
/// (environment variables, URL options): `true`/`false`, `1`/`0`,
/// `yes`/`no`, `on`/`off`, in any case, surrounding white space ignored.
/// Anything else is an error that lists those values.
///
/// ```
/// use asynctasq_core::config::parse_bool;
///
/// assert_eq!(parse_bool(" OFF "), Ok(false));
/// assert!(parse_bool("maybe").is_err());
/// ```
pub fn parse_bool(text: &str) -> std::result::Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("expected a boolean (true/false, 1/0, yes/no or on/off, in any case)".into()),
    }
}

/// Parses a number (white space ignored); `expected` says what was wanted.
fn parse_number<T: FromStr>(text: &str, expected: &str) -> std::result::Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("expected {expected}"))
}

/// The value of the environment variable `name`, `None` when it is unset
/// or blank.
fn env_var(name: &str) -> Result<Option<String>> {
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::Config(format!(
            "the environment variable {name} is not valid UTF-8"
        ))),
    }
}

/// The environment variable `name` read with `parse`, `None` when it is
/// unset or blank; the error names the variable and its value.
fn env_parsed<T>(
    name: &str,
    parse: impl FnOnce(&str) -> std::result::Result<T, String>,
) -> Result<Option<T>> {
    env_var(name)?
        .map(|v| {
            parse(&v)
                .map_err(|e| Error::Config(format!("{name}=`{}` is not accepted: {e}", v.trim())))
        })
        .transpose()
}

/// Parses a duration written as `30s`, `1m 30s`, `250ms`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(text).map_err(|e| format!("invalid duration `{text}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_are_read_one_way() {
        for yes in [
            "1", "true", "TRUE", "True", "yes", "YES", "on", "On", " on\n",
        ] {
            assert_eq!(parse_bool(yes), Ok(true), "{yes:?}");
        }
        for no in ["0", "false", "FALSE", "no", "No", "off", "OFF", "\toff "] {
            assert_eq!(parse_bool(no), Ok(false), "{no:?}");
        }
        for bad in ["", "maybe", "2", "y", "n", "enabled", "t"] {
            let err = parse_bool(bad).unwrap_err();
            assert_eq!(
                err,
                "expected a boolean (true/false, 1/0, yes/no or on/off, in any case)"
            );
        }
    }

    #[test]
    fn the_debug_output_hides_the_password() {
        let config = Config::new("postgres://app:hunter2@db/jobs?password=hunter3");
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter"), "{debug}");
        assert!(debug.contains("postgres://app:***@db/jobs"), "{debug}");
    }
}
