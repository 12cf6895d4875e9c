//! The driver's SQL: constants, and builders for statements whose number of
//! placeholders depends on a list (ids, receipts, queues).
//!
//! Time is the database's clock in epoch milliseconds ([`now_ms!`]), so
//! workers on hosts with skewed clocks agree on leases. The statements use
//! only SQL that MySQL 8 and MariaDB 10.6+ share: no `RETURNING`, no JSON
//! functions (the `errors` array is appended to as text).

use std::fmt::Write as _;

/// The database's clock in epoch milliseconds. Exact whatever the session
/// `time_zone`, except in the repeated hour of a daylight-saving change
/// (sqlx sessions use `+00:00`).
macro_rules! now_ms {
    () => {
        "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)"
    };
}

/// Appends the JSON object in placeholder `?` to the `errors` array.
macro_rules! append_error {
    () => {
        "errors = CASE WHEN TRIM(errors) IN ('', '[]') THEN CONCAT('[', ?, ']') \
         ELSE CONCAT(LEFT(TRIM(errors), CHAR_LENGTH(TRIM(errors)) - 1), ',', ?, ']') END"
    };
}

/// Columns of a [`JobInfo`](asynctasq_core::JobInfo), in [`super::rows::info`] order.
macro_rules! info_columns {
    () => {
        concat!(
            "id, task, queue, \
             CASE WHEN state <> 'pending' THEN CAST(state AS CHAR) WHEN run_at > ",
            now_ms!(),
            " THEN 'scheduled' ELSE 'ready' END, \
             attempt, max_attempts, priority, run_at, created_at, errors"
        )
    };
}

/// `?, ?, …, ?` with `n` placeholders.
fn placeholders(n: usize) -> String {
    let mut s = String::with_capacity(n * 3);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('?');
    }
    s
}

/// `(id = ? AND lease_token = ?) OR …` for `n` receipts: exact pairs, so a
/// stale receipt never matches a row that another claim of the same batch
/// holds; the optimizer turns it into primary-key ranges.
fn receipts(n: usize) -> String {
    let mut s = String::with_capacity(n * 32);
    for i in 0..n {
        if i > 0 {
            s.push_str(" OR ");
        }
        s.push_str("(id = ? AND lease_token = ?)");
    }
    s
}

/// The head of an insert; rows follow as [`INSERT_ROW`], comma-separated.
pub(super) const INSERT_HEAD: &str = "INSERT INTO asynctasq_jobs \
     (id, task, queue, priority, run_at, max_attempts, payload, errors, created_at) VALUES ";

/// One row of an insert: id, task, queue, priority, run_at, max_attempts, payload.
pub(super) const INSERT_ROW: &str = concat!("(?, ?, ?, ?, ?, ?, ?, '[]', ", now_ms!(), ")");

/// One probe of [`probes`]: the highest priority level of a queue below a
/// bound that holds pending jobs, with its earliest `run_at`, the
/// database's clock, the queue's paused flag and its lowest pending level
/// (so that a claim which empties a level knows, without another round
/// trip, whether a lower one is worth probing). Binds: the probe's index,
/// queue (four times), the exclusive upper bound of the priority.
/// The aggregates are resolved from the claim index alone ("select tables
/// optimized away"): three index probes, whatever the statistics say.
const PROBE: &str = concat!(
    "SELECT ?, x.p, \
       (SELECT MIN(run_at) FROM asynctasq_jobs WHERE state = 'pending' AND queue = ? AND priority = x.p), ",
    now_ms!(),
    ", (SELECT paused FROM asynctasq_queues WHERE name = ?), \
       (SELECT MIN(priority) FROM asynctasq_jobs WHERE state = 'pending' AND queue = ?) \
     FROM (SELECT (SELECT MAX(priority) FROM asynctasq_jobs \
                   WHERE state = 'pending' AND queue = ? AND priority < ?) AS p) x"
);

/// `n` [`PROBE`]s in one statement (one round trip per priority level
/// walked, whatever the number of queues).
pub(super) fn probes(n: usize) -> String {
    vec![PROBE; n].join(" UNION ALL ")
}

/// One part of [`next_due`]. Binds: index, queue, queue.
const DUE: &str = concat!(
    "SELECT ?, (SELECT MIN(run_at) FROM asynctasq_jobs WHERE state = 'pending' AND queue = ?), ",
    now_ms!(),
    ", (SELECT paused FROM asynctasq_queues WHERE name = ?)"
);

/// The earliest `run_at` of the pending jobs of `n` queues, with the clock
/// and paused flags: one index probe per queue (`asynctasq_jobs_due`).
pub(super) fn next_due(n: usize) -> String {
    vec![DUE; n].join(" UNION ALL ")
}

/// The due jobs of one priority level of one queue, oldest first, locked
/// unless another claim holds them. Binds queue, priority, limit. Columns
/// in [`super::rows::claimed`] order.
pub(super) const CLAIM_LEVEL: &str = concat!(
    "SELECT id, task, queue, priority, run_at, attempt, max_attempts, payload \
     FROM asynctasq_jobs FORCE INDEX (asynctasq_jobs_claim) \
     WHERE state = 'pending' AND queue = ? AND priority = ? AND run_at <= ",
    now_ms!(),
    " ORDER BY run_at, id LIMIT ? FOR UPDATE SKIP LOCKED"
);

/// Marks `n` locked jobs running. Binds token, lease ms, worker, then ids.
pub(super) fn claim_update(n: usize) -> String {
    format!(
        "UPDATE asynctasq_jobs SET state = 'running', attempt = attempt + 1, \
         lease_token = ?, lease_until = {now} + ?, worker = ? \
         WHERE id IN ({ids})",
        now = now_ms!(),
        ids = placeholders(n)
    )
}

/// The transaction a claim runs in: `READ COMMITTED`, so that locking
/// reads take no gap locks and enqueues never wait for a claim.
pub(super) const CLAIM_BEGIN: &str =
    "SET TRANSACTION ISOLATION LEVEL READ COMMITTED; START TRANSACTION";

/// Deletes completed jobs. Binds `n` (id, token) pairs.
pub(super) fn complete(n: usize) -> String {
    format!(
        "DELETE FROM asynctasq_jobs WHERE state = 'running' AND ({})",
        receipts(n)
    )
}

/// Marks jobs completed and keeps them (retention on). Binds `n` (id,
/// token) pairs.
pub(super) fn complete_retained(n: usize) -> String {
    format!(
        "UPDATE asynctasq_jobs SET state = 'completed', finished_at = {now}, \
         lease_token = NULL, lease_until = NULL, worker = NULL \
         WHERE state = 'running' AND ({receipts})",
        now = now_ms!(),
        receipts = receipts(n)
    )
}

/// Deletes up to `?` (second bind) completed jobs that finished more than
/// `?` (first bind) milliseconds ago, oldest first.
pub(super) const PRUNE_COMPLETED: &str = concat!(
    "DELETE FROM asynctasq_jobs WHERE state = 'completed' AND finished_at < ",
    now_ms!(),
    " - ? ORDER BY finished_at LIMIT ?"
);

/// Returns running jobs to ready without counting the attempt. Binds `n` pairs.
pub(super) fn release(n: usize) -> String {
    format!(
        "UPDATE asynctasq_jobs SET state = 'pending', attempt = GREATEST(attempt - 1, 0), \
         lease_token = NULL, lease_until = NULL, worker = NULL \
         WHERE state = 'running' AND ({})",
        receipts(n)
    )
}

/// Extends leases. Binds the lease in ms, then `n` pairs.
pub(super) fn extend(n: usize) -> String {
    format!(
        "UPDATE asynctasq_jobs SET lease_until = {now} + ? WHERE state = 'running' AND ({})",
        receipts(n),
        now = now_ms!()
    )
}

/// The ids of the jobs still running under one of `n` receipts. Binds `n` pairs.
pub(super) fn held(n: usize) -> String {
    format!(
        "SELECT id FROM asynctasq_jobs WHERE state = 'running' AND ({})",
        receipts(n)
    )
}

/// Schedules another attempt. Binds run_at, error JSON (twice), id, token.
pub(super) const RETRY: &str = concat!(
    "UPDATE asynctasq_jobs SET state = 'pending', run_at = ?, \
     lease_token = NULL, lease_until = NULL, worker = NULL, ",
    append_error!(),
    " WHERE id = ? AND state = 'running' AND lease_token = ?"
);

/// Moves a job to dead-letter. Binds error JSON (twice), id, token.
pub(super) const BURY: &str = concat!(
    "UPDATE asynctasq_jobs SET state = 'dead', failed_at = ",
    now_ms!(),
    ", lease_token = NULL, lease_until = NULL, worker = NULL, ",
    append_error!(),
    " WHERE id = ? AND state = 'running' AND lease_token = ?"
);

/// Up to `?` (the second bind) running jobs whose lease expired before
/// the first bind (ms; the database's clock when NULL), earliest expiry
/// first (columns read by `rows::expired`).
pub(super) const EXPIRED: &str = concat!(
    "SELECT id, task, queue, attempt, max_attempts, payload, lease_token \
     FROM asynctasq_jobs WHERE state = 'running' AND lease_until < COALESCE(?, ",
    now_ms!(),
    ") ORDER BY lease_until, id LIMIT ?"
);

/// Counts by queue and state for `n` queues (bound twice: jobs, then
/// paused flags). Rows: kind 0 = counts, kind 1 = paused queue.
pub(super) fn stats_queues(n: usize) -> String {
    let list = placeholders(n);
    stats(
        &format!("AND queue IN ({list})"),
        &format!("AND name IN ({list})"),
    )
}

/// Counts by queue and state for every queue, and every paused queue.
pub(super) fn stats_all() -> String {
    stats("", "")
}

fn stats(jobs_filter: &str, queues_filter: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "SELECT 0, queue, \
           COUNT(CASE WHEN state = 'pending' AND run_at <= {now} THEN 1 END), \
           COUNT(CASE WHEN state = 'pending' AND run_at > {now} THEN 1 END), \
           COUNT(CASE WHEN state = 'running' THEN 1 END), \
           COUNT(CASE WHEN state = 'dead' THEN 1 END) \
         FROM asynctasq_jobs WHERE state IN ('pending', 'running', 'dead') {jobs_filter} \
         GROUP BY queue \
         UNION ALL \
         SELECT 1, name, 0, 0, 0, 0 FROM asynctasq_queues WHERE paused {queues_filter}",
        now = now_ms!()
    );
    s
}

/// One job. Binds id.
pub(super) const JOB: &str = concat!(
    "SELECT ",
    info_columns!(),
    " FROM asynctasq_jobs WHERE id = ?"
);

/// Dead jobs of every queue, newest failure first. Binds limit, offset.
pub(super) const DEAD_LIST_ALL: &str = concat!(
    "SELECT ",
    info_columns!(),
    " FROM asynctasq_jobs WHERE failed_at IS NOT NULL AND state = 'dead' \
     ORDER BY failed_at DESC, id DESC LIMIT ? OFFSET ?"
);

/// Dead jobs of one queue, newest failure first. Binds queue, limit, offset.
pub(super) const DEAD_LIST_QUEUE: &str = concat!(
    "SELECT ",
    info_columns!(),
    " FROM asynctasq_jobs WHERE queue = ? AND failed_at IS NOT NULL AND state = 'dead' \
     ORDER BY failed_at DESC, id DESC LIMIT ? OFFSET ?"
);

/// The update that requeues dead jobs with a fresh attempt count.
macro_rules! requeue_set {
    () => {
        concat!(
            "UPDATE asynctasq_jobs SET state = 'pending', attempt = 0, run_at = ",
            now_ms!(),
            ", failed_at = NULL, lease_token = NULL, lease_until = NULL, worker = NULL \
             WHERE state = 'dead'"
        )
    };
}

/// Requeues the dead jobs among `n` ids.
pub(super) fn dead_requeue_ids(n: usize) -> String {
    format!(concat!(requeue_set!(), " AND id IN ({})"), placeholders(n))
}

/// Requeues every dead job.
pub(super) const DEAD_REQUEUE_ALL: &str = requeue_set!();

/// Requeues the dead jobs of one queue. Binds queue.
pub(super) const DEAD_REQUEUE_QUEUE: &str = concat!(requeue_set!(), " AND queue = ?");

/// Deletes the dead jobs among `n` ids.
pub(super) fn dead_purge_ids(n: usize) -> String {
    format!(
        "DELETE FROM asynctasq_jobs WHERE state = 'dead' AND id IN ({})",
        placeholders(n)
    )
}

/// Deletes every dead job.
pub(super) const DEAD_PURGE_ALL: &str = "DELETE FROM asynctasq_jobs WHERE state = 'dead'";

/// Deletes the dead jobs of one queue. Binds queue.
pub(super) const DEAD_PURGE_QUEUE: &str =
    "DELETE FROM asynctasq_jobs WHERE state = 'dead' AND queue = ?";

/// Deletes the ready and scheduled jobs of one queue. Binds queue.
pub(super) const QUEUE_PURGE: &str =
    "DELETE FROM asynctasq_jobs WHERE state = 'pending' AND queue = ?";

/// Pauses a queue. Binds queue.
pub(super) const QUEUE_PAUSE: &str = "INSERT INTO asynctasq_queues (name, paused) VALUES (?, TRUE) \
     ON DUPLICATE KEY UPDATE paused = TRUE";

/// Resumes a queue. Binds queue.
pub(super) const QUEUE_RESUME: &str = "UPDATE asynctasq_queues SET paused = FALSE WHERE name = ?";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_lists() {
        assert_eq!(placeholders(3), "?, ?, ?");
        assert_eq!(
            complete(2),
            "DELETE FROM asynctasq_jobs WHERE state = 'running' AND \
             ((id = ? AND lease_token = ?) OR (id = ? AND lease_token = ?))"
        );
        assert!(claim_update(2).ends_with("WHERE id IN (?, ?)"));
    }
}
