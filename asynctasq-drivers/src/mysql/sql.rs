//! The driver's SQL: constants, and builders for statements whose number of
//! placeholders depends on a list (ids, receipts, queues).
//!
//! Time is the database's clock in epoch milliseconds ([`now_ms!`]), so
//! workers on hosts with skewed clocks agree on leases. The statements use
//! only SQL that MySQL 8 and MariaDB 10.6+ share: no `RETURNING`, no JSON
//! functions (the `errors` array is appended to as text).

use sqlx::MySql;
use sqlx::mysql::MySqlArguments;
use sqlx::query::Query;

use asynctasq_core::job::to_millis;
use asynctasq_core::{Burial, JobId, Receipt, Retry};

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
    vec!["?"; n].join(", ")
}

/// `(id = ? AND lease_token = ?) OR …` for `n` receipts: exact pairs, so a
/// stale receipt never matches a row that another claim of the same batch
/// holds; the optimizer turns it into primary-key ranges.
fn receipts(n: usize) -> String {
    vec!["(id = ? AND lease_token = ?)"; n].join(" OR ")
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
/// in [`super::rows::claimed`] order (the attempt the claim makes, a token
/// to replace), then `run_at`.
pub(super) const CLAIM_LEVEL: &str = concat!(
    "SELECT id, task, queue, attempt + 1, max_attempts, payload, 0, run_at \
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

/// Deletes completed jobs; [`fenced`] adds the receipts.
pub(super) const COMPLETE: &str = "DELETE FROM asynctasq_jobs";

/// Marks completed jobs `completed` and keeps them ([`Completion::Keep`](asynctasq_core::Completion));
/// [`fenced`] adds the receipts.
pub(super) const COMPLETE_KEEP: &str = concat!(
    "UPDATE asynctasq_jobs SET state = 'completed', finished_at = ",
    now_ms!(),
    ", lease_token = NULL, lease_until = NULL, worker = NULL"
);

/// Deletes up to `?` (second bind) completed jobs that finished before `?`
/// (first bind, epoch ms), oldest first.
pub(super) const PRUNE_COMPLETED: &str = "DELETE FROM asynctasq_jobs \
     WHERE state = 'completed' AND finished_at < ? ORDER BY finished_at LIMIT ?";

/// Returns running jobs to ready without counting the attempt; [`fenced`]
/// adds the receipts.
pub(super) const RELEASE: &str = "UPDATE asynctasq_jobs SET state = 'pending', \
     attempt = GREATEST(attempt - 1, 0), lease_token = NULL, lease_until = NULL, worker = NULL";

/// Extends leases; binds the lease in ms, then [`fenced`] adds the receipts.
pub(super) const EXTEND: &str = concat!(
    "UPDATE asynctasq_jobs SET lease_until = ",
    now_ms!(),
    " + ?"
);

/// The ids of the jobs still running; [`fenced`] adds the receipts.
pub(super) const HELD: &str = "SELECT id FROM asynctasq_jobs";

/// `head` (a statement without `WHERE`) applied to the jobs still running
/// under one of `n` receipts. Binds `n` (id, token) pairs after `head`'s.
pub(super) fn fenced(head: &str, n: usize) -> String {
    format!("{head} WHERE state = 'running' AND ({})", receipts(n))
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
/// first (columns read by `rows::claimed`).
pub(super) const EXPIRED: &str = concat!(
    "SELECT id, task, queue, attempt, max_attempts, payload, lease_token \
     FROM asynctasq_jobs WHERE state = 'running' AND lease_until < COALESCE(?, ",
    now_ms!(),
    ") ORDER BY lease_until, id LIMIT ?"
);

/// Counts by state and the paused flag of `n` queues (bound twice: jobs,
/// then paused flags), or of every queue when `n` is `None`: one row per
/// queue (columns read by `rows::stats`).
pub(super) fn stats(n: Option<usize>) -> String {
    let (jobs, queues) = match n.map(placeholders) {
        Some(list) => (
            format!("AND queue IN ({list})"),
            format!("AND name IN ({list})"),
        ),
        None => (String::new(), String::new()),
    };
    format!(
        "SELECT queue, MAX(r), MAX(s), MAX(n), MAX(d), MAX(p) FROM ( \
           SELECT queue, \
             COUNT(CASE WHEN state = 'pending' AND run_at <= {now} THEN 1 END) AS r, \
             COUNT(CASE WHEN state = 'pending' AND run_at > {now} THEN 1 END) AS s, \
             COUNT(CASE WHEN state = 'running' THEN 1 END) AS n, \
             COUNT(CASE WHEN state = 'dead' THEN 1 END) AS d, 0 AS p \
           FROM asynctasq_jobs WHERE state IN ('pending', 'running', 'dead') {jobs} \
           GROUP BY queue \
           UNION ALL \
           SELECT name, 0, 0, 0, 0, 1 FROM asynctasq_queues WHERE paused {queues} \
         ) x GROUP BY queue",
        now = now_ms!()
    )
}

/// One job. Binds id.
pub(super) const JOB: &str = concat!(
    "SELECT ",
    info_columns!(),
    " FROM asynctasq_jobs WHERE id = ?"
);

/// Dead jobs, of one queue (binds queue) or of all, newest failure first.
/// Binds limit, offset.
pub(super) fn dead_list(of_queue: bool) -> String {
    format!(
        concat!(
            "SELECT ",
            info_columns!(),
            " FROM asynctasq_jobs WHERE {}failed_at IS NOT NULL AND state = 'dead' \
             ORDER BY failed_at DESC, id DESC LIMIT ? OFFSET ?"
        ),
        if of_queue { "queue = ? AND " } else { "" }
    )
}

/// Requeues every dead job with a fresh attempt count; [`among_ids`] or
/// [`in_queue`] narrow it.
pub(super) const DEAD_REQUEUE: &str = concat!(
    "UPDATE asynctasq_jobs SET state = 'pending', attempt = 0, run_at = ",
    now_ms!(),
    ", failed_at = NULL, lease_token = NULL, lease_until = NULL, worker = NULL \
     WHERE state = 'dead'"
);

/// Deletes every dead job; [`among_ids`] or [`in_queue`] narrow it.
pub(super) const DEAD_PURGE: &str = "DELETE FROM asynctasq_jobs WHERE state = 'dead'";

/// `base` (a statement with a `WHERE`) restricted to `n` ids. Binds the ids.
pub(super) fn among_ids(base: &str, n: usize) -> String {
    format!("{base} AND id IN ({})", placeholders(n))
}

/// `base` (a statement with a `WHERE`) restricted to one queue. Binds it.
pub(super) fn in_queue(base: &str) -> String {
    format!("{base} AND queue = ?")
}

/// Deletes the ready and scheduled jobs of one queue. Binds queue.
pub(super) const QUEUE_PURGE: &str =
    "DELETE FROM asynctasq_jobs WHERE state = 'pending' AND queue = ?";

/// Pauses a queue. Binds queue.
pub(super) const QUEUE_PAUSE: &str = "INSERT INTO asynctasq_queues (name, paused) VALUES (?, TRUE) \
     ON DUPLICATE KEY UPDATE paused = TRUE";

/// Resumes a queue. Binds queue.
pub(super) const QUEUE_RESUME: &str = "UPDATE asynctasq_queues SET paused = FALSE WHERE name = ?";

/// A statement with (some of) its values bound.
pub(super) type MyQuery<'q> = Query<'q, MySql, MySqlArguments>;

/// A value that binds its placeholders of a statement, in order.
pub(super) trait Bind {
    /// `query` with this value's placeholders bound.
    fn bind<'q>(&'q self, query: MyQuery<'q>) -> MyQuery<'q>;
}

/// `query` with every item of `items` bound, in order.
pub(super) fn bind_all<'q, T: Bind>(query: MyQuery<'q>, items: &'q [T]) -> MyQuery<'q> {
    items.iter().fold(query, |query, item| item.bind(query))
}

impl Bind for JobId {
    fn bind<'q>(&'q self, query: MyQuery<'q>) -> MyQuery<'q> {
        query.bind(self.0.as_bytes().as_slice())
    }
}

/// Binds (id, token): see [`fenced`].
impl Bind for Receipt {
    fn bind<'q>(&'q self, query: MyQuery<'q>) -> MyQuery<'q> {
        self.id.bind(query).bind(self.token)
    }
}

impl Bind for String {
    fn bind<'q>(&'q self, query: MyQuery<'q>) -> MyQuery<'q> {
        query.bind(self.as_str())
    }
}

/// Binds [`RETRY`]'s placeholders.
impl Bind for Retry {
    fn bind<'q>(&'q self, query: MyQuery<'q>) -> MyQuery<'q> {
        let error = self.error.to_stored();
        let query = query
            .bind(to_millis(self.run_at))
            .bind(error.clone())
            .bind(error);
        self.receipt.bind(query)
    }
}

/// Binds [`BURY`]'s placeholders.
impl Bind for Burial {
    fn bind<'q>(&'q self, query: MyQuery<'q>) -> MyQuery<'q> {
        let error = self.error.to_stored();
        self.receipt.bind(query.bind(error.clone()).bind(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_lists() {
        assert_eq!(placeholders(3), "?, ?, ?");
        assert_eq!(
            fenced(COMPLETE, 2),
            "DELETE FROM asynctasq_jobs WHERE state = 'running' AND \
             ((id = ? AND lease_token = ?) OR (id = ? AND lease_token = ?))"
        );
        assert!(claim_update(2).ends_with("WHERE id IN (?, ?)"));
        assert_eq!(
            among_ids(DEAD_PURGE, 2),
            "DELETE FROM asynctasq_jobs WHERE state = 'dead' AND id IN (?, ?)"
        );
    }
}
