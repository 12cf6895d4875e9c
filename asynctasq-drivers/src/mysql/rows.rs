//! Decoding result rows into core types.

use std::time::Duration;

use sqlx::Row;
use sqlx::mysql::MySqlRow;
use uuid::Uuid;

use asynctasq_core::job::from_millis;
use asynctasq_core::{
    AttemptError, ClaimedJob, Error, JobId, JobInfo, QueueStats, Receipt, Result,
};

use super::claim::Head;
use super::{NAME, db_err};
use crate::support::{attempt_u32, non_negative, state_from_str};

/// The 16 bytes of a `BINARY(16)` id.
pub(super) fn job_id(bytes: &[u8]) -> Result<JobId> {
    Uuid::from_slice(bytes)
        .map(JobId)
        .map_err(|e| Error::driver(NAME, format!("malformed job id in asynctasq_jobs: {e}")))
}

/// A row of [`super::sql::HELD`]: the id of a job still held.
pub(super) fn held(row: &MySqlRow) -> Result<JobId> {
    job_id(&row.try_get::<Vec<u8>, _>(0).map_err(db_err)?)
}

/// A row of [`super::sql::EXPIRED`] or of [`super::sql::CLAIM_LEVEL`]
/// (whose attempt counts the claim, and whose token the claim sets).
pub(super) fn claimed(row: &MySqlRow) -> Result<ClaimedJob> {
    let id: Vec<u8> = row.try_get(0).map_err(db_err)?;
    Ok(ClaimedJob {
        receipt: Receipt {
            id: job_id(&id)?,
            token: row.try_get(6).map_err(db_err)?,
        },
        task: row.try_get(1).map_err(db_err)?,
        queue: row.try_get(2).map_err(db_err)?,
        attempt: attempt_u32(row.try_get(3).map_err(db_err)?),
        max_attempts: attempt_u32(row.try_get(4).map_err(db_err)?),
        payload: row.try_get(5).map_err(db_err)?,
    })
}

/// A row of the `info_columns!` of [`super::sql`].
pub(super) fn info(row: &MySqlRow) -> Result<JobInfo> {
    let id: Vec<u8> = row.try_get(0).map_err(db_err)?;
    let state: String = row.try_get(3).map_err(db_err)?;
    let errors: String = row.try_get(9).map_err(db_err)?;
    let created_at = from_millis(row.try_get(8).map_err(db_err)?);
    Ok(JobInfo {
        id: job_id(&id)?,
        task: row.try_get(1).map_err(db_err)?,
        queue: row.try_get(2).map_err(db_err)?,
        state: state_from_str(NAME, &state)?,
        attempt: attempt_u32(row.try_get(4).map_err(db_err)?),
        max_attempts: attempt_u32(row.try_get(5).map_err(db_err)?),
        priority: row.try_get(6).map_err(db_err)?,
        run_at: from_millis(row.try_get(7).map_err(db_err)?),
        created_at,
        errors: AttemptError::from_stored_list(&errors, created_at),
    })
}

/// A row of [`super::sql::probes`]: the probe's queue index, the head it
/// found (`None`: no level below its bound), the queue's paused flag and
/// the database's clock.
pub(super) fn probe(row: &MySqlRow) -> Result<(i64, Option<Head>, bool, i64)> {
    let priority: Option<i64> = row.try_get(1).map_err(db_err)?;
    let first: Option<i64> = row.try_get(2).map_err(db_err)?;
    let paused: Option<bool> = row.try_get(4).map_err(db_err)?;
    let lowest: Option<i64> = row.try_get(5).map_err(db_err)?;
    let level = |p: i64| i16::try_from(p).unwrap_or_default();
    let head = match (priority, first) {
        (Some(p), Some(first)) => Some(Head {
            priority: level(p),
            first,
            lowest: lowest.map_or(level(p), level),
        }),
        _ => None,
    };
    let q = row.try_get(0).map_err(db_err)?;
    Ok((
        q,
        head,
        paused.unwrap_or(false),
        row.try_get(3).map_err(db_err)?,
    ))
}

/// A row of [`super::sql::next_due`]: how long until the queue's earliest
/// pending job is due, `None` when it has none or is paused.
pub(super) fn due_in(row: &MySqlRow) -> Result<Option<Duration>> {
    let first: Option<i64> = row.try_get(1).map_err(db_err)?;
    let now: i64 = row.try_get(2).map_err(db_err)?;
    let paused: Option<bool> = row.try_get(3).map_err(db_err)?;
    Ok(first
        .filter(|_| paused != Some(true))
        .map(|first| Duration::from_millis(non_negative(first.saturating_sub(now)))))
}

/// A row of [`super::sql::stats`].
pub(super) fn stats(row: &MySqlRow) -> Result<QueueStats> {
    let n = |i: usize| row.try_get::<i64, _>(i).map(non_negative).map_err(db_err);
    Ok(QueueStats {
        queue: row.try_get(0).map_err(db_err)?,
        ready: n(1)?,
        scheduled: n(2)?,
        running: n(3)?,
        dead: n(4)?,
        paused: n(5)? > 0,
    })
}
