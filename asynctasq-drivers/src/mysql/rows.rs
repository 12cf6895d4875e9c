//! Decoding result rows into core types.

use std::time::Duration;

use sqlx::mysql::MySqlRow;
use sqlx::{Decode, MySql, Row, Type};
use uuid::Uuid;

use asynctasq_core::job::from_millis;
use asynctasq_core::{
    AttemptError, ClaimedJob, Error, JobId, JobInfo, QueueStats, Receipt, Result,
};

use super::claim::{Head, Probed};
use super::{NAME, db_err};
use crate::support::{attempt_u32, non_negative, state_from_str};

/// Column `index` of `row`.
pub(super) fn get<'r, T: Decode<'r, MySql> + Type<MySql>>(
    row: &'r MySqlRow,
    index: usize,
) -> Result<T> {
    row.try_get(index).map_err(db_err)
}

/// The 16 bytes of a `BINARY(16)` id.
pub(super) fn job_id(bytes: &[u8]) -> Result<JobId> {
    Uuid::from_slice(bytes)
        .map(JobId)
        .map_err(|e| Error::driver(NAME, format!("malformed job id in asynctasq_jobs: {e}")))
}

/// A row of [`super::sql::HELD`]: the id of a job still held.
pub(super) fn held(row: &MySqlRow) -> Result<JobId> {
    job_id(&get::<Vec<u8>>(row, 0)?)
}

/// A row of [`super::sql::EXPIRED`] or of [`super::sql::CLAIM_LEVEL`]
/// (whose attempt counts the claim, and whose token the claim sets).
pub(super) fn claimed(row: &MySqlRow) -> Result<ClaimedJob> {
    let id: Vec<u8> = get(row, 0)?;
    Ok(ClaimedJob {
        receipt: Receipt {
            id: job_id(&id)?,
            token: get(row, 6)?,
        },
        task: get(row, 1)?,
        queue: get(row, 2)?,
        attempt: attempt_u32(get(row, 3)?),
        max_attempts: attempt_u32(get(row, 4)?),
        payload: get(row, 5)?,
    })
}

/// A row of the `info_columns!` of [`super::sql`].
pub(super) fn info(row: &MySqlRow) -> Result<JobInfo> {
    let id: Vec<u8> = get(row, 0)?;
    let state: String = get(row, 3)?;
    let errors: String = get(row, 9)?;
    let created_at = from_millis(get(row, 8)?);
    Ok(JobInfo {
        id: job_id(&id)?,
        task: get(row, 1)?,
        queue: get(row, 2)?,
        state: state_from_str(NAME, &state)?,
        attempt: attempt_u32(get(row, 4)?),
        max_attempts: attempt_u32(get(row, 5)?),
        priority: get(row, 6)?,
        run_at: from_millis(get(row, 7)?),
        created_at,
        errors: AttemptError::from_stored_list(&errors, created_at),
    })
}

/// A row of [`super::sql::probes`] over `queues` queues: the probe's queue
/// index, the head it found (`None`: no level below its bound), the
/// queue's paused flag and the database's clock.
pub(super) fn probe(row: &MySqlRow, queues: usize) -> Result<Probed> {
    let priority: Option<i64> = get(row, 1)?;
    let first: Option<i64> = get(row, 2)?;
    let paused: Option<bool> = get(row, 4)?;
    let lowest: Option<i64> = get(row, 5)?;
    let level = |p: i64| i16::try_from(p).unwrap_or_default();
    let head = match (priority, first) {
        (Some(p), Some(first)) => Some(Head {
            priority: level(p),
            first,
            lowest: lowest.map_or(level(p), level),
        }),
        _ => None,
    };
    let q = usize::try_from(get::<i64>(row, 0)?).unwrap_or(usize::MAX);
    Ok((
        q.min(queues - 1),
        head,
        paused.unwrap_or(false),
        get(row, 3)?,
    ))
}

/// A row of [`super::sql::next_due`]: how long until the queue's earliest
/// pending job is due, `None` when it has none or is paused.
pub(super) fn due_in(row: &MySqlRow) -> Result<Option<Duration>> {
    let first: Option<i64> = get(row, 1)?;
    let now: i64 = get(row, 2)?;
    let paused: Option<bool> = get(row, 3)?;
    Ok(first
        .filter(|_| paused != Some(true))
        .map(|first| Duration::from_millis(non_negative(first.saturating_sub(now)))))
}

/// A row of [`super::sql::stats`].
pub(super) fn stats(row: &MySqlRow) -> Result<QueueStats> {
    let n = |i| get(row, i).map(non_negative);
    Ok(QueueStats {
        queue: get(row, 0)?,
        ready: n(1)?,
        scheduled: n(2)?,
        running: n(3)?,
        dead: n(4)?,
        paused: n(5)? > 0,
    })
}
