//! Small pieces shared by the server SQL drivers (Postgres, MySQL/MariaDB):
//! URL handling (driver options in the query string, password redaction),
//! the stored form of attempt errors, and the state names.

use std::sync::Arc;

use asynctasq_core::{AttemptError, Error, JobState, Result};

/// What a waiting worker is told by the driver's wake-up fan-out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Jobs of `queue` (of every queue when `None`) are due at `due_ms`
    /// (epoch milliseconds).
    Due {
        /// The queue, or `None` for all.
        queue: Option<Arc<str>>,
        /// When the earliest of the jobs is due.
        due_ms: i64,
    },
    /// Wake-ups may have been missed: look at the database again.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Resync,
}

impl Wake {
    /// Whether a waiter on `queues` should care.
    pub(crate) fn concerns(&self, queues: &[String]) -> bool {
        match self {
            Wake::Due { queue: Some(q), .. } => queues.iter().any(|w| **w == **q),
            _ => true,
        }
    }
}

/// A database URL split into what the database client understands and the
/// `asynctasq`-specific options found in its query string.
#[derive(Debug)]
pub(crate) struct DriverUrl {
    /// The URL without the driver's own options, for the database client.
    pub(crate) database_url: String,
    /// `(key, value)` pairs of recognized driver options, in URL order.
    pub(crate) options: Vec<(String, String)>,
}

/// Splits `url`'s query string: keys in `known` are driver options, the rest
/// stay in the URL for the database client.
pub(crate) fn split_url(url: &str, known: &[&str]) -> DriverUrl {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, q),
        None => (url, ""),
    };
    let mut kept = Vec::new();
    let mut options = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if known.contains(&key) {
            options.push((key.to_string(), value.to_string()));
        } else {
            kept.push(pair);
        }
    }
    let database_url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    DriverUrl {
        database_url,
        options,
    }
}

/// `url` with its password (in the userinfo or a `password=` parameter)
/// replaced by `***`, for logs and errors.
pub(crate) fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = redact_userinfo(base);
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

fn redact_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
        None => url.to_string(),
    }
}

/// Parses a driver option's value, naming the option in the error.
pub(crate) fn parse_option<T>(
    driver: &'static str,
    key: &str,
    value: &str,
    parse: impl FnOnce(&str) -> std::result::Result<T, String>,
) -> Result<T> {
    parse(value).map_err(|e| {
        Error::Config(format!(
            "{driver} url option `{key}={value}` is invalid: {e}"
        ))
    })
}

/// Parses `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn parse_bool(value: &str) -> std::result::Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

/// One attempt error as the JSON object stored in the `errors` array.
pub(crate) fn error_json(error: &AttemptError) -> String {
    // Serializing a struct of a string, a number and a timestamp cannot fail.
    serde_json::to_string(error).unwrap_or_else(|_| "{}".to_string())
}

/// Reads the stored `errors` array. Entries that are not well-formed attempt
/// errors (written by something else) are kept as readable messages rather
/// than failing the whole lookup.
pub(crate) fn parse_errors(text: &str) -> Vec<AttemptError> {
    let Ok(serde_json::Value::Array(items)) = serde_json::from_str::<serde_json::Value>(text)
    else {
        return Vec::new();
    };
    items
        .into_iter()
        .map(|item| {
            serde_json::from_value::<AttemptError>(item.clone()).unwrap_or_else(|_| AttemptError {
                at: chrono::DateTime::<chrono::Utc>::MIN_UTC,
                attempt: 0,
                message: item.to_string(),
            })
        })
        .collect()
}

/// The admin-visible state for a stored state name (`scheduled`/`ready` are
/// computed by the query from `pending` and `run_at`).
pub(crate) fn state_from_str(driver: &'static str, state: &str) -> Result<JobState> {
    match state {
        "scheduled" => Ok(JobState::Scheduled),
        "ready" => Ok(JobState::Ready),
        "running" => Ok(JobState::Running),
        "dead" => Ok(JobState::Dead),
        "completed" => Ok(JobState::Completed),
        other => Err(Error::driver(
            driver,
            format!("unknown job state `{other}` in asynctasq_jobs"),
        )),
    }
}

/// A stored count or attempt number as `u32`/`u64`, clamping nonsense to 0.
pub(crate) fn non_negative(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("postgres://app:s3cr%40t@db:5432/jobs?sslmode=require"),
            "postgres://app:***@db:5432/jobs?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://app@db/jobs"),
            "postgres://app@db/jobs"
        );
        assert_eq!(redact_url("mysql://db/jobs"), "mysql://db/jobs");
        assert_eq!(
            redact_url("postgres://db/jobs?user=a&password=b&sslmode=require"),
            "postgres://db/jobs?user=a&password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("mysql://u:p@ss@h/x"),
            "mysql://u:***@h/x",
            "the last @ ends the userinfo"
        );
    }

    #[test]
    fn splits_driver_options_from_the_url() {
        let u = split_url(
            "postgres://h/db?sslmode=disable&max_connections=4&listen=false",
            &["max_connections", "listen"],
        );
        assert_eq!(u.database_url, "postgres://h/db?sslmode=disable");
        assert_eq!(
            u.options,
            vec![
                ("max_connections".to_string(), "4".to_string()),
                ("listen".to_string(), "false".to_string())
            ]
        );
        let u = split_url("postgres://h/db?listen=0", &["listen"]);
        assert_eq!(u.database_url, "postgres://h/db");
    }

    #[test]
    fn parses_foreign_error_entries_leniently() {
        let errors = parse_errors(
            r#"[{"at":"2026-01-02T03:04:05.006Z","attempt":2,"message":"boom"},"oops"]"#,
        );
        assert_eq!(errors.len(), 2);
        assert_eq!((errors[0].attempt, errors[0].message.as_str()), (2, "boom"));
        assert_eq!(errors[1].message, "\"oops\"");
        assert!(parse_errors("not json").is_empty());
    }
}
