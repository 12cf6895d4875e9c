//! Rows to core types. Decoding is total where the data is ours to judge:
//! a malformed `errors` column never fails a read.

use std::cmp::Reverse;

use asynctasq_core::job::from_millis;
use asynctasq_core::{
    AttemptError, ClaimedJob, Error, ExpiredLease, JobId, JobInfo, JobState, Receipt, Result,
};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::connect::db_err;
use crate::support::{attempt_u32, state_from_str};

/// The job of a claim or an expired lease, from its first columns: id,
/// task, queue, attempt, max_attempts, payload.
fn job(row: &SqliteRow, token: i64) -> Result<ClaimedJob> {
    let id: String = row.try_get(0).map_err(db_err)?;
    Ok(ClaimedJob {
        receipt: Receipt {
            id: job_id(&id)?,
            token,
        },
        task: row.try_get(1).map_err(db_err)?,
        queue: row.try_get(2).map_err(db_err)?,
        attempt: attempt_u32(row.try_get(3).map_err(db_err)?),
        max_attempts: attempt_u32(row.try_get(4).map_err(db_err)?),
        payload: row.try_get_unchecked(5).map_err(db_err)?,
    })
}

/// The rows of a claim (columns of `claimed_columns!`) in claim order:
/// `RETURNING` gives them in no particular order.
pub(super) fn claimed(rows: &[SqliteRow], token: i64) -> Result<Vec<ClaimedJob>> {
    let mut claimed = Vec::with_capacity(rows.len());
    for row in rows {
        let priority: i64 = row.try_get(6).map_err(db_err)?;
        let run_at: i64 = row.try_get(7).map_err(db_err)?;
        claimed.push((Reverse(priority), run_at, job(row, token)?));
    }
    claimed.sort_unstable_by_key(|(priority, run_at, job)| (*priority, *run_at, job.receipt.id));
    Ok(claimed.into_iter().map(|(_, _, job)| job).collect())
}

/// A row of `sql::EXPIRED`: a job, then its lease token.
pub(super) fn expired(row: &SqliteRow) -> Result<ExpiredLease> {
    job(row, row.try_get(6).map_err(db_err)?)
}

/// A row of `info_columns!`; `now` decides ready vs scheduled.
pub(super) fn info(row: &SqliteRow, now: i64) -> Result<JobInfo> {
    let id: String = row.try_get(0).map_err(db_err)?;
    let state: String = row.try_get(3).map_err(db_err)?;
    let run_at: i64 = row.try_get(7).map_err(db_err)?;
    let created_at: i64 = row.try_get(8).map_err(db_err)?;
    let state = match state.as_str() {
        "pending" if run_at > now => JobState::Scheduled,
        "pending" => JobState::Ready,
        other => state_from_str("sqlite", other)?,
    };
    let raw_errors: Option<Vec<u8>> = row.try_get_unchecked(9).map_err(db_err)?;
    let raw_errors = String::from_utf8_lossy(raw_errors.as_deref().unwrap_or_default());
    let created_at = from_millis(created_at);
    Ok(JobInfo {
        id: job_id(&id)?,
        task: row.try_get(1).map_err(db_err)?,
        queue: row.try_get(2).map_err(db_err)?,
        state,
        attempt: attempt_u32(row.try_get(4).map_err(db_err)?),
        max_attempts: attempt_u32(row.try_get(5).map_err(db_err)?),
        priority: to_i16(row.try_get(6).map_err(db_err)?),
        run_at: from_millis(run_at),
        created_at,
        errors: AttemptError::from_stored_list(&raw_errors, created_at),
    })
}

/// The ids that a statement returned.
pub(super) fn job_ids(ids: &[String]) -> Result<Vec<JobId>> {
    ids.iter().map(|id| job_id(id)).collect()
}

pub(super) fn job_id(text: &str) -> Result<JobId> {
    text.parse().map_err(|e| {
        Error::driver(
            "sqlite",
            format!("malformed job id {text:?} in asynctasq_jobs: {e}"),
        )
    })
}

fn to_i16(v: i64) -> i16 {
    v.clamp(i16::MIN.into(), i16::MAX.into()) as i16
}
