//! Small pieces shared by the drivers that store jobs outside the process
//! (SQLite, Postgres, MySQL/MariaDB, Redis): stored state names, stored
//! numbers and the schema-version check.
//! The stored form of attempt errors is
//! [`asynctasq_core::stored_error`]; URL handling (driver options,
//! redaction) is [`asynctasq_core::url`].

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
use asynctasq_core::QueueStats;
use asynctasq_core::{Error, JobState, Result};

/// The admin-visible state for a state name read back by a lookup
/// (`scheduled`/`ready` are told apart from a pending job's `run_at` by the
/// query or the driver).
pub(crate) fn state_from_str(driver: &'static str, state: &str) -> Result<JobState> {
    match state {
        "scheduled" => Ok(JobState::Scheduled),
        "ready" => Ok(JobState::Ready),
        "running" => Ok(JobState::Running),
        "dead" => Ok(JobState::Dead),
        "completed" => Ok(JobState::Completed),
        other => Err(Error::driver(
            driver,
            format!("unknown job state `{other}` in the stored job"),
        )),
    }
}

/// A stored count as `u64`, clamping nonsense to 0.
pub(crate) fn non_negative(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A queue's stats from stored counts `(ready, scheduled, running, dead)`,
/// negative counts clamped to 0.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
pub(crate) fn queue_stats(queue: String, counts: [i64; 4], paused: bool) -> QueueStats {
    let [ready, scheduled, running, dead] = counts.map(non_negative);
    QueueStats {
        queue,
        ready,
        scheduled,
        running,
        dead,
        paused,
    }
}

/// A stored attempt number as `u32`, clamped to `0..=u32::MAX`.
pub(crate) fn attempt_u32(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

/// A duration as whole milliseconds for a statement, saturating.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub(crate) fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A count or limit for a statement, saturating.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub(crate) fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Refuses a database whose schema a newer asynctasq migrated: this build
/// would misread its rows.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub(crate) fn check_schema_not_newer(
    driver: &'static str,
    found: impl Into<i64>,
    supported: impl Into<i64>,
) -> Result<()> {
    let (found, supported) = (found.into(), supported.into());
    if found > supported {
        return Err(Error::SchemaTooNew {
            driver,
            found,
            supported,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_map_to_states_and_unknown_ones_are_errors() {
        assert_eq!(state_from_str("x", "ready").unwrap(), JobState::Ready);
        assert_eq!(state_from_str("x", "dead").unwrap(), JobState::Dead);
        let err = state_from_str("redis", "lost").unwrap_err().to_string();
        assert_eq!(
            err,
            "redis driver error: unknown job state `lost` in the stored job"
        );
    }

    #[test]
    fn stored_numbers_clamp() {
        assert_eq!(non_negative(-3), 0);
        assert_eq!(non_negative(7), 7);
    }

    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
    #[test]
    fn stats_clamp_negative_counts() {
        let s = queue_stats("q".into(), [1, -2, 3, 4], true);
        assert_eq!(
            (
                s.queue.as_str(),
                s.ready,
                s.scheduled,
                s.running,
                s.dead,
                s.paused
            ),
            ("q", 1, 0, 3, 4, true)
        );
    }

    #[test]
    fn attempt_numbers_clamp() {
        assert_eq!(attempt_u32(-1), 0);
        assert_eq!(attempt_u32(i64::MAX), u32::MAX);
        assert_eq!(attempt_u32(5), 5);
    }

    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    #[test]
    fn statement_numbers_saturate() {
        assert_eq!(millis(std::time::Duration::from_millis(1500)), 1500);
        assert_eq!(millis(std::time::Duration::MAX), i64::MAX);
        assert_eq!(count(usize::MAX), i64::MAX);
        assert_eq!(count(3), 3);
    }

    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    #[test]
    fn a_newer_schema_is_refused_with_what_to_do() {
        assert!(check_schema_not_newer("sqlite", 3, 3).is_ok());
        assert!(check_schema_not_newer("sqlite", 0, 3).is_ok());
        let err = check_schema_not_newer("postgres", 4, 3).unwrap_err();
        assert!(matches!(
            err,
            Error::SchemaTooNew {
                driver: "postgres",
                found: 4,
                supported: 3
            }
        ));
        assert_eq!(
            err.to_string(),
            "the postgres database schema is at version 4, newer than this build of asynctasq \
             supports (3); upgrade asynctasq, or point this build at a database of its own"
        );
    }
}
