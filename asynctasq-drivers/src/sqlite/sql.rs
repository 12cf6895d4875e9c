//! The driver's SQL: static statements, and the few that depend on a count
//! (rows per insert, queues per claim), of few distinct texts so that
//! SQLite's prepared-statement cache keeps hitting.
//!
//! Lists of receipts, ids and queue names travel as one JSON text bound to
//! `json_each(?)`, which keeps those statements static.

use asynctasq_core::job::to_millis;
use asynctasq_core::{AttemptError, DeadSelector, NewJob, Receipt};
use sea_orm::{DbBackend, Statement, Value};
use sqlx::AssertSqlSafe;

use super::connect::Query;

/// The `errors` column as a JSON array, whatever a foreign writer left in it:
/// a valid array is kept, NULL or empty text becomes `[]`, anything else is
/// kept as one string element, so an append never fails on a bad row.
macro_rules! errors_array {
    () => {
        "CASE typeof(errors) \
           WHEN 'text' THEN CASE \
             WHEN errors = '' THEN '[]' \
             WHEN json_valid(errors) AND json_type(errors) = 'array' THEN errors \
             ELSE json_array(errors) END \
           WHEN 'null' THEN '[]' \
           ELSE json_array(quote(errors)) END"
    };
}

/// Columns that a claim returns, in [`super::rows::claimed`] order.
macro_rules! claimed_columns {
    () => {
        "id, task, queue, attempt, max_attempts, payload, priority, run_at"
    };
}

/// Columns of a [`JobInfo`](asynctasq_core::JobInfo), in [`super::rows::info`] order.
macro_rules! info_columns {
    () => {
        "id, task, queue, state, attempt, max_attempts, priority, run_at, created_at, errors"
    };
}

/// Rows of `asynctasq_jobs` that match a receipt in the JSON array `?1` of
/// `[id, token]` pairs and are still running under that token.
macro_rules! receipt_rowids {
    () => {
        "SELECT j.rowid FROM json_each(?1) AS r CROSS JOIN asynctasq_jobs AS j \
         ON j.id = json_extract(r.value, '$[0]') AND j.lease_token = json_extract(r.value, '$[1]') \
         WHERE j.state = 'running'"
    };
}

/// Deletes completed jobs. `?1`: receipts.
pub(super) const COMPLETE: &str = concat!(
    "DELETE FROM asynctasq_jobs WHERE rowid IN (",
    receipt_rowids!(),
    ")"
);

/// Returns running jobs to ready without counting the attempt. `?1`: receipts.
pub(super) const RELEASE: &str = concat!(
    "UPDATE asynctasq_jobs SET state = 'pending', attempt = MAX(attempt - 1, 0), \
     lease_token = NULL, lease_until = NULL, worker = NULL WHERE rowid IN (",
    receipt_rowids!(),
    ")"
);

/// Extends leases. `?1`: receipts, `?2`: the new `lease_until`. Returns
/// the ids of the jobs extended.
pub(super) const EXTEND: &str = concat!(
    "UPDATE asynctasq_jobs SET lease_until = ?2 WHERE rowid IN (",
    receipt_rowids!(),
    ") RETURNING id"
);

/// Ends failed attempts: sets `$set` (which reads the time `r.value -> 2`)
/// and appends the stored error `r.value -> 3` to the history of each job
/// running under a receipt of `?1`, a JSON array of `[id, token, ms, error]`.
macro_rules! failed {
    ($set:literal) => {
        concat!(
            "UPDATE asynctasq_jobs SET ",
            $set,
            ", lease_token = NULL, lease_until = NULL, worker = NULL, errors = json_insert(",
            errors_array!(),
            ", '$[#]', json(json_extract(r.value, '$[3]'))) FROM json_each(?1) AS r \
             WHERE asynctasq_jobs.id = json_extract(r.value, '$[0]') \
             AND asynctasq_jobs.lease_token = json_extract(r.value, '$[1]') \
             AND asynctasq_jobs.state = 'running'"
        )
    };
}

/// Schedules another attempt of each job at its time. `?1`: see `failed!`.
pub(super) const RETRY: &str = failed!("state = 'pending', run_at = json_extract(r.value, '$[2]')");

/// Moves jobs to dead-letter, failed at their time. `?1`: see `failed!`.
pub(super) const BURY: &str = failed!("state = 'dead', failed_at = json_extract(r.value, '$[2]')");

/// Running jobs whose lease expired before `?1` (ms), earliest expiry
/// first, at most `?2` (columns read by `rows::expired`).
pub(super) const EXPIRED: &str = "SELECT id, task, queue, attempt, max_attempts, payload, lease_token \
     FROM asynctasq_jobs WHERE state = 'running' AND lease_until < ?1 \
     ORDER BY lease_until, id LIMIT ?2";

/// Milliseconds until the earliest pending job of the unpaused queues among
/// `?1` (queue names) is due at `?2` (now, ms): 0 when due, NULL when none.
pub(super) const NEXT_DUE: &str = "SELECT MAX(MIN((SELECT MIN(run_at) FROM asynctasq_jobs \
       WHERE state = 'pending' AND queue = q.value)) - ?2, 0) \
     FROM json_each(?1) AS q \
     WHERE q.value NOT IN (SELECT name FROM asynctasq_queues WHERE paused = 1)";

/// Counts of every queue that has jobs or a row in `asynctasq_queues`, in
/// one scan. `?1` now.
pub(super) const STATS_ALL: &str = "WITH counts AS ( \
       SELECT queue, \
         SUM(state = 'pending' AND run_at <= ?1) AS ready, \
         SUM(state = 'pending' AND run_at > ?1) AS scheduled, \
         SUM(state = 'running') AS running, \
         SUM(state = 'dead') AS dead \
       FROM asynctasq_jobs GROUP BY queue), \
     names AS (SELECT queue AS name FROM counts UNION SELECT name FROM asynctasq_queues) \
     SELECT n.name, COALESCE(c.ready, 0), COALESCE(c.scheduled, 0), \
       COALESCE(c.running, 0), COALESCE(c.dead, 0), COALESCE(q.paused, 0) \
     FROM names AS n \
     LEFT JOIN counts AS c ON c.queue = n.name \
     LEFT JOIN asynctasq_queues AS q ON q.name = n.name \
     ORDER BY n.name";

/// Counts of the given queues, each from an index range rather than a scan
/// of the table (the worker asks this when checking for a drained queue,
/// and a large dead-letter elsewhere must not slow it). `?1` now, `?2` queue names.
pub(super) const STATS_QUEUES: &str = "SELECT q.value, \
       (SELECT COUNT(*) FROM asynctasq_jobs WHERE state = 'pending' AND queue = q.value AND run_at <= ?1), \
       (SELECT COUNT(*) FROM asynctasq_jobs WHERE state = 'pending' AND queue = q.value AND run_at > ?1), \
       (SELECT COUNT(*) FROM asynctasq_jobs WHERE state = 'running' AND queue = q.value), \
       (SELECT COUNT(*) FROM asynctasq_jobs WHERE state = 'dead' AND queue = q.value), \
       COALESCE((SELECT paused FROM asynctasq_queues WHERE name = q.value), 0) \
     FROM json_each(?2) AS q ORDER BY q.key";

/// One job. `?1` id.
pub(super) const JOB: &str = concat!(
    "SELECT ",
    info_columns!(),
    " FROM asynctasq_jobs WHERE id = ?1"
);

/// Dead jobs of every queue. `?1` NULL (no queue), `?2` limit, `?3` offset.
pub(super) const DEAD_LIST_ALL: &str = concat!(
    "SELECT ",
    info_columns!(),
    " FROM asynctasq_jobs WHERE state = 'dead' AND ?1 IS NULL \
     ORDER BY failed_at DESC, id DESC LIMIT ?2 OFFSET ?3"
);

/// Dead jobs of one queue. `?1` queue, `?2` limit, `?3` offset.
pub(super) const DEAD_LIST_QUEUE: &str = concat!(
    "SELECT ",
    info_columns!(),
    " FROM asynctasq_jobs WHERE state = 'dead' AND queue = ?1 \
     ORDER BY failed_at DESC, id DESC LIMIT ?2 OFFSET ?3"
);

/// The columns a requeue resets. Binds `?1` now.
macro_rules! requeue_set {
    () => {
        "UPDATE asynctasq_jobs SET state = 'pending', attempt = 0, run_at = ?1, failed_at = NULL, \
         lease_token = NULL, lease_until = NULL, worker = NULL "
    };
}

/// Requeues dead jobs by id. `?1` now, `?2` ids.
pub(super) const DEAD_REQUEUE_IDS: &str = concat!(
    requeue_set!(),
    "WHERE state = 'dead' AND id IN (SELECT value FROM json_each(?2))"
);

/// Requeues dead jobs of one queue or all. `?1` now, `?2` queue or NULL.
pub(super) const DEAD_REQUEUE_ALL: &str = concat!(
    requeue_set!(),
    "WHERE state = 'dead' AND (?2 IS NULL OR queue = ?2)"
);

/// Deletes dead jobs by id. `?1` ids.
pub(super) const DEAD_PURGE_IDS: &str =
    "DELETE FROM asynctasq_jobs WHERE state = 'dead' AND id IN (SELECT value FROM json_each(?1))";

/// Deletes dead jobs of one queue or all. `?1` queue or NULL.
pub(super) const DEAD_PURGE_ALL: &str =
    "DELETE FROM asynctasq_jobs WHERE state = 'dead' AND (?1 IS NULL OR queue = ?1)";

/// Deletes a queue's ready and scheduled jobs. `?1` queue.
pub(super) const QUEUE_PURGE: &str =
    "DELETE FROM asynctasq_jobs WHERE state = 'pending' AND queue = ?1";

/// Pauses or resumes a queue. `?1` queue, `?2` 1 or 0.
pub(super) const QUEUE_SET_PAUSED: &str = "INSERT INTO asynctasq_queues (name, paused) VALUES (?1, ?2) \
     ON CONFLICT (name) DO UPDATE SET paused = excluded.paused";

/// Most rows per `INSERT`: at 8 binds per row, 512 variables, under
/// SQLite's limit even in builds before 3.32 (999).
pub(super) const INSERT_CHUNK: usize = 64;

/// An `INSERT` of `rows` new jobs, binding per row: id, task, queue,
/// priority, run_at, max_attempts, payload, created_at.
pub(super) fn insert(rows: usize) -> String {
    let row = "(?, ?, ?, 'pending', ?, ?, 0, ?, ?, '[]', ?)";
    format!(
        "INSERT INTO asynctasq_jobs (id, task, queue, state, priority, run_at, attempt, \
         max_attempts, payload, errors, created_at) VALUES {}",
        vec![row; rows].join(", ")
    )
}

/// Splits rows into insert statements of at most [`INSERT_CHUNK`] rows,
/// with power-of-two remainders, so that few distinct statements exist.
pub(super) fn chunks<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        // The largest power of two that fits; none when no rows are left.
        let size = 1 << rows.len().min(INSERT_CHUNK).checked_ilog2()?;
        let (chunk, rest) = rows.split_at(size);
        rows = rest;
        Some(chunk)
    })
}

/// The binds of [`insert`] for `jobs`, created at `now`, in its order.
pub(super) fn insert_values(jobs: &[NewJob], now: i64) -> Vec<Value> {
    let row = |job: &NewJob| {
        [
            Value::from(job.id.to_string()),
            Value::from(job.task.as_str()),
            Value::from(job.queue.as_str()),
            Value::from(job.priority),
            Value::from(to_millis(job.run_at)),
            Value::from(i64::from(job.max_attempts)),
            Value::from(job.payload.clone()),
            Value::from(now),
        ]
    };
    jobs.iter().flat_map(row).collect()
}

/// One `INSERT` of `jobs` (at most [`INSERT_CHUNK`]), for the pool.
pub(super) fn insert_query(jobs: &[NewJob], now: i64) -> Query<'static> {
    let query = sqlx::query(AssertSqlSafe(insert(jobs.len())));
    insert_values(jobs, now)
        .into_iter()
        .fold(query, |query, value| match value {
            Value::String(text) => query.bind(text),
            Value::SmallInt(n) => query.bind(n),
            Value::BigInt(n) => query.bind(n),
            Value::Bytes(bytes) => query.bind(bytes),
            other => unreachable!("insert_values binds no {other:?}"),
        })
}

/// The `INSERT`s of `jobs`, created at `now`, for a caller's sea-orm transaction.
pub(super) fn insert_statements(jobs: &[NewJob], now: i64) -> Vec<Statement> {
    let statement = |chunk: &[NewJob]| {
        let values = insert_values(chunk, now);
        Statement::from_sql_and_values(DbBackend::Sqlite, insert(chunk.len()), values)
    };
    chunks(jobs).map(statement).collect()
}

/// `[[id, token], …]`, the receipts as the ack statements join them with `json_each`.
pub(super) fn receipts(receipts: &[Receipt]) -> String {
    let pairs: Vec<_> = receipts.iter().map(|r| (r.id, r.token)).collect();
    serde_json::to_string(&pairs).expect("ids and numbers serialize")
}

/// `[[id, token, ms, error], …]` for [`RETRY`] and [`BURY`]: each receipt
/// with its time in ms and its error's stored form.
pub(super) fn failures<'e>(rows: impl Iterator<Item = (Receipt, i64, &'e AttemptError)>) -> String {
    let rows: Vec<_> = rows
        .map(|(r, ms, error)| (r.id, r.token, ms, error.to_stored()))
        .collect();
    serde_json::to_string(&rows).expect("ids, numbers and text serialize")
}

/// `query` with what `selector` names bound next: the ids as JSON, or
/// the queue (NULL for every queue).
pub(super) fn bind_selector<'q>(query: Query<'q>, selector: DeadSelector<'q>) -> Query<'q> {
    match selector {
        DeadSelector::Ids(ids) => query.bind(serde_json::json!(ids).to_string()),
        DeadSelector::All { queue } => query.bind(queue),
    }
}

/// The claim of up to `?5` jobs from `queues` queues, in one statement.
///
/// Binds: `?1` lease token, `?2` lease_until, `?3` worker, `?4` now,
/// `?5` limit, `?6…` the queue names.
///
/// Each queue is its own index range scan in claim order, cut at the limit;
/// the union of those is ordered again and cut. A single `queue IN (...)`
/// would make SQLite sort every ready job of those queues on every claim.
pub(super) fn claim(queues: usize) -> String {
    let branches: Vec<String> = (6..6 + queues)
        .map(|q| {
            format!(
                "SELECT * FROM (SELECT rowid AS rid, priority, run_at, id FROM asynctasq_jobs \
                 WHERE state = 'pending' AND queue = ?{q} AND run_at <= ?4 \
                 AND NOT EXISTS (SELECT 1 FROM asynctasq_queues WHERE name = ?{q} AND paused = 1) \
                 ORDER BY priority DESC, run_at, id LIMIT ?5)"
            )
        })
        .collect();
    format!(
        "UPDATE asynctasq_jobs SET state = 'running', attempt = attempt + 1, \
         lease_token = ?1, lease_until = ?2, worker = ?3 WHERE rowid IN (SELECT rid FROM ({}) \
         ORDER BY priority DESC, run_at, id LIMIT ?5) RETURNING {}",
        branches.join(" UNION ALL "),
        claimed_columns!()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_everything_with_few_sizes() {
        let sizes = |n| chunks(&[(); 300][..n]).map(<[()]>::len).collect::<Vec<_>>();
        for n in 0..300 {
            let chunks = sizes(n);
            assert_eq!(chunks.iter().sum::<usize>(), n);
            assert!(
                chunks
                    .iter()
                    .all(|c| c.is_power_of_two() && *c <= INSERT_CHUNK)
            );
        }
        assert_eq!(sizes(200), [64, 64, 64, 8]);
    }
}
