//! Small pieces shared by the server SQL drivers (Postgres, MySQL/MariaDB):
//! the wake-up message, the stored form of attempt errors, and the state
//! names. URL handling (driver options, redaction) is in
//! [`asynctasq_core::url`], for every driver.

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
