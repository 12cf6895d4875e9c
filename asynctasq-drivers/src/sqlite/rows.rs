//! Rows to core types. Decoding is total where the data is ours to judge:
//! a malformed `errors` column never fails a read.

use asynctasq_core::job::from_millis;
use asynctasq_core::{
    AttemptError, ClaimedJob, Error, ExpiredLease, JobId, JobInfo, JobState, Receipt, Result,
};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::db_err;

/// A claimed row (columns of `claimed_columns!`), with its sort key.
pub(super) struct Claimed {
    pub(super) job: ClaimedJob,
    pub(super) priority: i16,
    pub(super) run_at: i64,
}

pub(super) fn claimed(row: &SqliteRow, token: i64) -> Result<Claimed> {
    let id: String = row.try_get(0).map_err(db_err)?;
    let priority: i64 = row.try_get(3).map_err(db_err)?;
    Ok(Claimed {
        job: ClaimedJob {
            receipt: Receipt {
                id: job_id(&id)?,
                token,
            },
            task: row.try_get(1).map_err(db_err)?,
            queue: row.try_get(2).map_err(db_err)?,
            attempt: to_u32(row.try_get(5).map_err(db_err)?),
            max_attempts: to_u32(row.try_get(6).map_err(db_err)?),
            payload: row.try_get_unchecked(7).map_err(db_err)?,
        },
        priority: to_i16(priority),
        run_at: row.try_get(4).map_err(db_err)?,
    })
}

/// A row of `sql::EXPIRED`.
pub(super) fn expired(row: &SqliteRow) -> Result<ExpiredLease> {
    let id: String = row.try_get(0).map_err(db_err)?;
    Ok(ExpiredLease {
        receipt: Receipt {
            id: job_id(&id)?,
            token: row.try_get(6).map_err(db_err)?,
        },
        task: row.try_get(1).map_err(db_err)?,
        queue: row.try_get(2).map_err(db_err)?,
        attempt: to_u32(row.try_get(3).map_err(db_err)?),
        max_attempts: to_u32(row.try_get(4).map_err(db_err)?),
        payload: row.try_get_unchecked(5).map_err(db_err)?,
    })
}

/// A row of `info_columns!`; `now` decides ready vs scheduled.
pub(super) fn info(row: &SqliteRow, now: i64) -> Result<JobInfo> {
    let id: String = row.try_get(0).map_err(db_err)?;
    let state: String = row.try_get(3).map_err(db_err)?;
    let run_at: i64 = row.try_get(7).map_err(db_err)?;
    let created_at: i64 = row.try_get(8).map_err(db_err)?;
    let failed_at: Option<i64> = row.try_get(10).map_err(db_err)?;
    let state = match state.as_str() {
        "pending" if run_at > now => JobState::Scheduled,
        "pending" => JobState::Ready,
        "running" => JobState::Running,
        "dead" => JobState::Dead,
        other => {
            return Err(Error::driver(
                "sqlite",
                format!("job {id} has an unknown state {other:?}"),
            ));
        }
    };
    let raw_errors: Option<Vec<u8>> = row.try_get_unchecked(9).map_err(db_err)?;
    let fallback_at = failed_at.unwrap_or(created_at);
    Ok(JobInfo {
        id: job_id(&id)?,
        task: row.try_get(1).map_err(db_err)?,
        queue: row.try_get(2).map_err(db_err)?,
        state,
        attempt: to_u32(row.try_get(4).map_err(db_err)?),
        max_attempts: to_u32(row.try_get(5).map_err(db_err)?),
        priority: to_i16(row.try_get(6).map_err(db_err)?),
        run_at: from_millis(run_at),
        created_at: from_millis(created_at),
        errors: parse_errors(raw_errors.as_deref().unwrap_or(b"[]"), fallback_at),
    })
}

/// Parses the `errors` column. Elements that are not an [`AttemptError`]
/// are kept as their text (dated `fallback_at`, attempt 0); text that is not
/// a JSON array becomes one such element; an empty column is no errors.
pub(super) fn parse_errors(raw: &[u8], fallback_at: i64) -> Vec<AttemptError> {
    let foreign = |message: String| AttemptError {
        at: from_millis(fallback_at),
        attempt: 0,
        message,
    };
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Vec::new();
    }
    match serde_json::from_slice::<Vec<serde_json::Value>>(raw) {
        Ok(values) => values
            .into_iter()
            .map(
                |v| match serde_json::from_value::<AttemptError>(v.clone()) {
                    Ok(e) => e,
                    Err(_) => foreign(match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    }),
                },
            )
            .collect(),
        Err(_) => vec![foreign(String::from_utf8_lossy(raw).into_owned())],
    }
}

pub(super) fn job_id(text: &str) -> Result<JobId> {
    text.parse().map_err(|e| {
        Error::driver(
            "sqlite",
            format!("malformed job id {text:?} in asynctasq_jobs: {e}"),
        )
    })
}

fn to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

fn to_i16(v: i64) -> i16 {
    v.clamp(i16::MIN.into(), i16::MAX.into()) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_parse_totally() {
        assert!(parse_errors(b"[]", 0).is_empty());
        assert!(parse_errors(b"", 0).is_empty());
        let good = br#"[{"at":"2026-01-01T00:00:00Z","attempt":2,"message":"boom"}]"#;
        let e = parse_errors(good, 0);
        assert_eq!((e[0].attempt, e[0].message.as_str()), (2, "boom"));
        let e = parse_errors(b"not json", 5);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].message, "not json");
        assert_eq!(e[0].at, from_millis(5));
        let e = parse_errors(br#"["text", 7, {"x":1}]"#, 0);
        let messages: Vec<&str> = e.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, ["text", "7", r#"{"x":1}"#]);
        let e = parse_errors(&[0xff, 0xfe], 0);
        assert_eq!(e.len(), 1);
    }
}
