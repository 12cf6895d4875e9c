//! Decoding result rows into core types.

use std::cmp::Reverse;

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use asynctasq_core::{AttemptError, ClaimedJob, JobId, JobInfo, QueueStats, Receipt, Result};

use super::db_err;
use crate::support::{attempt_u32, queue_stats, state_from_str};

/// The rows of [`super::sql::CLAIM`] (which come back in no particular
/// order) in claim order: highest priority first, then earliest `run_at`,
/// then oldest id.
pub(super) fn claimed_in_order(rows: &[PgRow]) -> Result<Vec<ClaimedJob>> {
    let mut claimed = rows
        .iter()
        .map(|row| {
            let priority: i16 = row.try_get(7).map_err(db_err)?;
            let run_at: DateTime<Utc> = row.try_get(8).map_err(db_err)?;
            Ok((Reverse(priority), run_at, job(row)?))
        })
        .collect::<Result<Vec<_>>>()?;
    claimed.sort_by_key(|(priority, run_at, job)| (*priority, *run_at, job.receipt.id));
    Ok(claimed.into_iter().map(|(_, _, job)| job).collect())
}

/// A row of the `job_columns!` of [`super::sql`]: a claimed job, or one
/// whose lease expired.
pub(super) fn job(row: &PgRow) -> Result<ClaimedJob> {
    let id: Uuid = row.try_get(0).map_err(db_err)?;
    let attempt: i32 = row.try_get(3).map_err(db_err)?;
    let max_attempts: i32 = row.try_get(4).map_err(db_err)?;
    Ok(ClaimedJob {
        receipt: Receipt {
            id: JobId(id),
            token: row.try_get(6).map_err(db_err)?,
        },
        task: row.try_get(1).map_err(db_err)?,
        queue: row.try_get(2).map_err(db_err)?,
        attempt: attempt_u32(attempt.into()),
        max_attempts: attempt_u32(max_attempts.into()),
        payload: row.try_get(5).map_err(db_err)?,
    })
}

/// A row of the `info_columns!` of [`super::sql`].
pub(super) fn info(row: &PgRow) -> Result<JobInfo> {
    let id: Uuid = row.try_get(0).map_err(db_err)?;
    let state: String = row.try_get(3).map_err(db_err)?;
    let attempt: i32 = row.try_get(4).map_err(db_err)?;
    let max_attempts: i32 = row.try_get(5).map_err(db_err)?;
    let errors: String = row.try_get(9).map_err(db_err)?;
    let created_at: DateTime<Utc> = row.try_get(8).map_err(db_err)?;
    Ok(JobInfo {
        id: JobId(id),
        task: row.try_get(1).map_err(db_err)?,
        queue: row.try_get(2).map_err(db_err)?,
        state: state_from_str("postgres", &state)?,
        attempt: attempt_u32(attempt.into()),
        max_attempts: attempt_u32(max_attempts.into()),
        priority: row.try_get(6).map_err(db_err)?,
        run_at: row.try_get(7).map_err(db_err)?,
        created_at,
        errors: AttemptError::from_stored_list(&errors, created_at),
    })
}

/// A row of [`super::sql::STATS_QUEUES`] or [`super::sql::STATS_ALL`].
pub(super) fn stats(row: &PgRow) -> Result<QueueStats> {
    let n = |i: usize| row.try_get::<i64, _>(i).map_err(db_err);
    Ok(queue_stats(
        row.try_get(0).map_err(db_err)?,
        [n(1)?, n(2)?, n(3)?, n(4)?],
        row.try_get(5).map_err(db_err)?,
    ))
}
