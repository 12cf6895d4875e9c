//! Decoding the scripts' replies: a fixed number of values per job, read
//! as a tuple each by the `redis` crate.

use std::time::Duration;

use asynctasq_core::job::from_millis;
use asynctasq_core::{AttemptError, ClaimedJob, Error, JobId, JobInfo, Receipt, Result};

use super::body;
use super::queues::make_token;
use crate::support::{attempt_u32, state_from_str};

/// An error of this driver.
pub(super) fn driver_err(
    e: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
) -> Error {
    Error::driver("redis", e)
}

fn parse_id(id: &str) -> Result<JobId> {
    id.parse()
        .map_err(|_| driver_err(format!("stored job id `{id}` is not a uuid")))
}

/// A lease as `claim.lua` and `expired.lua` answer it: id, lease deadline,
/// claims, attempt, body.
pub(super) type Lease = (String, i64, i64, i64, Vec<u8>);

/// The jobs of `leases` on queue `queue`, numbered `number`, each with its
/// lease deadline.
pub(super) fn leases(
    queue: &str,
    number: i64,
    leases: Vec<Lease>,
) -> Result<Vec<(i64, ClaimedJob)>> {
    let lease = |(id, deadline, claims, attempt, body): Lease| {
        let body = body::claimed(body);
        let receipt = Receipt {
            id: parse_id(&id)?,
            token: make_token(number, claims),
        };
        let job = ClaimedJob {
            receipt,
            task: body.task,
            queue: queue.to_string(),
            attempt: attempt_u32(attempt),
            max_attempts: body.max_attempts,
            payload: body.payload,
        };
        Ok((deadline, job))
    };
    leases.into_iter().map(lease).collect()
}

/// A job as `lookup.lua` answers it: id, state, task, attempt, max_attempts,
/// priority, run_at, created_at, errors.
pub(super) type Info = (String, String, String, i64, i64, i64, i64, i64, String);

/// The jobs of `infos`, of queue `queue`.
pub(super) fn infos(queue: &str, infos: Vec<Info>) -> Result<Vec<JobInfo>> {
    let info = |(id, state, task, attempt, max, priority, run_at, created, errors): Info| {
        let created_at = from_millis(created);
        Ok(JobInfo {
            id: parse_id(&id)?,
            task,
            queue: queue.to_string(),
            state: state_from_str("redis", &state)?,
            attempt: attempt_u32(attempt),
            max_attempts: attempt_u32(max),
            priority: i16::try_from(priority).unwrap_or_default(),
            run_at: from_millis(run_at),
            created_at,
            errors: AttemptError::from_stored_list(&errors, created_at),
        })
    };
    infos.into_iter().map(info).collect()
}

/// The (failed at, id) pairs of `dead_page.lua`.
pub(super) fn dead_entries(page: Vec<(String, i64)>) -> Result<Vec<(i64, JobId)>> {
    page.into_iter()
        .map(|(id, at)| Ok((at, parse_id(&id)?)))
        .collect()
}

/// What a waiter or a multi-queue claim learns about a queue (`probe.lua`).
pub(super) struct Probe {
    pub(super) paused: bool,
    /// The highest priority with a due job.
    pub(super) top: Option<i64>,
    /// How long until the earliest job is due; zero when one is.
    pub(super) next_due: Option<Duration>,
}

impl From<(i64, String, i64)> for Probe {
    fn from((paused, top, next_due): (i64, String, i64)) -> Self {
        Probe {
            paused: paused != 0,
            top: top.parse().ok(),
            next_due: u64::try_from(next_due).ok().map(Duration::from_millis),
        }
    }
}
