//! The driver's SQL, one constant per operation.
//!
//! Every statement is static: lists (queues, receipts, ids) travel as arrays
//! (`$1::uuid[]`, `unnest(...)`), so each statement is prepared once per
//! connection whatever the batch size. Time is the database's clock
//! (`now()`), so workers on hosts with skewed clocks agree on leases.
//! Statements that make jobs claimable again call `asynctasq_wake` (see the
//! schema) for the queues they touched, so idle workers wake at once.

/// Columns of a [`ClaimedJob`](asynctasq_core::ClaimedJob) of the jobs `j`,
/// in [`super::rows::job`] order.
macro_rules! job_columns {
    () => {
        "j.id, j.task, j.queue, j.attempt, j.max_attempts, j.payload, j.lease_token"
    };
}

/// Columns of a [`JobInfo`](asynctasq_core::JobInfo), in [`super::rows::info`] order.
macro_rules! info_columns {
    () => {
        "id, task, queue, \
         CASE WHEN state <> 'pending' THEN state WHEN run_at > now() THEN 'scheduled' ELSE 'ready' END, \
         attempt, max_attempts, priority, run_at, created_at, errors::text"
    };
}

/// The receipts `$1` (ids) and `$2` (tokens) joined to the jobs `j` that
/// are still running under that token (fencing).
///
/// A job has a lease token exactly while it is running: the claim sets it,
/// and every statement that ends a lease (complete, release, retry, bury,
/// rescue) clears it. So the token match is the whole test, and the fenced
/// statements say nothing of `state`: that keeps the partial lease index
/// (`WHERE state = 'running'`) out of their plans, which the planner would
/// otherwise pick whenever stale statistics claim few running jobs, and scan
/// whole. They reach rows through the primary key only.
macro_rules! held {
    () => {
        "unnest($1::uuid[], $2::int8[]) AS r(id, token) \
         WHERE j.id = r.id AND j.lease_token = r.token"
    };
}

/// Wakes the queues of the jobs in CTE `moved(queue, run_at)` and returns
/// how many jobs moved.
macro_rules! count_and_wake_moved {
    () => {
        ", woken AS (SELECT asynctasq_wake(queue, min(run_at)) FROM moved GROUP BY queue) \
         SELECT (SELECT count(*) FROM moved), (SELECT count(*) FROM woken)"
    };
}

/// Inserts a batch of jobs and wakes their queues (the notifications are
/// delivered on commit). `$1` ids, `$2` tasks, `$3` queues, `$4`
/// priorities, `$5` run_at, `$6` max_attempts, `$7` payloads: parallel
/// arrays, one element per job. Returns (inserted, queues woken).
pub(super) const INSERT_JOBS: &str = concat!(
    "WITH moved AS (INSERT INTO asynctasq_jobs \
       (id, task, queue, priority, run_at, max_attempts, payload) \
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int2[], \
                            $5::timestamptz[], $6::int4[], $7::bytea[]) \
       RETURNING queue, run_at)",
    count_and_wake_moved!()
);

/// The head of the multi-row insert of
/// [`PgInsert::sea_orm_statements`](super::PgInsert::sea_orm_statements):
/// `VALUES` rows of the seven columns follow, then [`INSERT_VALUES_TAIL`].
pub(super) const INSERT_VALUES_HEAD: &str = "WITH moved AS (INSERT INTO asynctasq_jobs \
     (id, task, queue, priority, run_at, max_attempts, payload) VALUES ";

/// The end of the multi-row insert: wakes the queues, returns (inserted,
/// queues woken).
pub(super) const INSERT_VALUES_TAIL: &str =
    concat!(" RETURNING queue, run_at)", count_and_wake_moved!());

/// CTE `levels(queue, priority, run_at)`: for each unpaused queue of `$1`,
/// every priority level that holds pending jobs, with the earliest `run_at`
/// of the level. One probe of the claim index per level (a loose index
/// scan), however many jobs each level holds.
macro_rules! levels {
    () => {
        "queues AS ( \
           SELECT DISTINCT q.name FROM unnest($1::text[]) AS q(name) \
           WHERE NOT EXISTS (SELECT 1 FROM asynctasq_queues p WHERE p.name = q.name AND p.paused)), \
         levels AS ( \
           SELECT h.queue, h.priority, h.run_at FROM queues CROSS JOIN LATERAL ( \
             SELECT j.queue, j.priority, j.run_at FROM asynctasq_jobs j \
             WHERE j.state = 'pending' AND j.queue = queues.name \
             ORDER BY j.priority DESC, j.run_at, j.id LIMIT 1) h \
           UNION ALL \
           SELECT h.queue, h.priority, h.run_at FROM levels l CROSS JOIN LATERAL ( \
             SELECT j.queue, j.priority, j.run_at FROM asynctasq_jobs j \
             WHERE j.state = 'pending' AND j.queue = l.queue AND j.priority < l.priority \
             ORDER BY j.priority DESC, j.run_at, j.id LIMIT 1) h)"
    };
}

/// Leases up to `$2` ready jobs of the unpaused queues `$1`, highest
/// priority first, then earliest `run_at`, then oldest id. `$3` token,
/// `$4` lease in milliseconds, `$5` worker.
///
/// The claim index is ordered `(queue, priority DESC, run_at, id)` over
/// pending jobs, ready and scheduled alike. A plain ordered scan with
/// `run_at <= now()` would wade through every scheduled job of a higher
/// priority before reaching the ready ones. So the statement first finds,
/// per queue, the priority levels that hold pending jobs (one index probe
/// per level: a loose index scan), keeps the levels whose first job is due,
/// and only then scans each such level from its earliest job, locking with
/// `FOR UPDATE SKIP LOCKED` so concurrent claimers pass each other by. The
/// cost is O(levels × log n + batch), whatever the number of scheduled jobs.
/// The rows are updated through `id = ANY(ARRAY(...))`, a primary-key probe
/// per job whatever the planner believes about the batch's size (the
/// statement runs as a generic plan, where `LIMIT $2` is unknown).
pub(super) const CLAIM: &str = concat!(
    "WITH RECURSIVE ",
    levels!(),
    ", \
     picked AS ( \
       SELECT c.id FROM levels l CROSS JOIN LATERAL ( \
         SELECT j.id, j.priority, j.run_at FROM asynctasq_jobs j \
         WHERE j.state = 'pending' AND j.queue = l.queue AND j.priority = l.priority \
           AND j.run_at <= now() \
         ORDER BY j.run_at, j.id LIMIT $2 \
         FOR UPDATE SKIP LOCKED) c \
       WHERE l.run_at <= now() \
       ORDER BY c.priority DESC, c.run_at, c.id LIMIT $2) \
     UPDATE asynctasq_jobs j SET state = 'running', attempt = j.attempt + 1, \
       lease_token = $3, lease_until = now() + $4 * interval '1 millisecond', worker = $5 \
     WHERE j.id = ANY(ARRAY(SELECT id FROM picked)) \
     RETURNING ",
    job_columns!(),
    ", j.priority, j.run_at"
);

/// Deletes completed jobs. `$1` ids, `$2` tokens.
pub(super) const COMPLETE: &str = concat!("DELETE FROM asynctasq_jobs j USING ", held!());

/// Marks jobs completed and keeps them ([`Completion::Keep`](asynctasq_core::Completion::Keep)).
/// `$1` ids, `$2` tokens.
pub(super) const COMPLETE_KEPT: &str = concat!(
    "UPDATE asynctasq_jobs j SET state = 'completed', finished_at = now(), \
       lease_token = NULL, lease_until = NULL, worker = NULL FROM ",
    held!()
);

/// Deletes up to `$2` kept completed jobs that completed before `$1`,
/// oldest first.
pub(super) const PRUNE_COMPLETED: &str = "DELETE FROM asynctasq_jobs WHERE id = ANY(ARRAY( \
       SELECT id FROM asynctasq_jobs WHERE state = 'completed' AND finished_at < $1 \
       ORDER BY finished_at LIMIT $2))";

/// Returns running jobs to ready without counting the attempt. `$1` ids,
/// `$2` tokens. Returns (released, queues woken).
pub(super) const RELEASE: &str = concat!(
    "WITH moved AS (UPDATE asynctasq_jobs j SET state = 'pending', \
       attempt = greatest(j.attempt - 1, 0), lease_token = NULL, lease_until = NULL, worker = NULL \
     FROM ",
    held!(),
    " RETURNING j.queue, j.run_at)",
    count_and_wake_moved!()
);

/// Extends leases to `now() + $3` milliseconds. `$1` ids, `$2` tokens.
/// Returns the ids of the jobs extended.
pub(super) const EXTEND: &str = concat!(
    "UPDATE asynctasq_jobs j SET lease_until = now() + $3 * interval '1 millisecond' FROM ",
    held!(),
    " RETURNING j.id"
);

/// Schedules other attempts. `$1` ids, `$2` tokens, `$3` run_at, `$4`
/// the errors as JSON text: parallel arrays, one element per job. Returns
/// (retried, queues woken).
pub(super) const RETRY: &str = concat!(
    "WITH moved AS (UPDATE asynctasq_jobs j SET state = 'pending', run_at = r.run_at, \
       lease_token = NULL, lease_until = NULL, worker = NULL, \
       errors = j.errors || jsonb_build_array(r.error::jsonb) \
     FROM unnest($1::uuid[], $2::int8[], $3::timestamptz[], $4::text[]) \
       AS r(id, token, run_at, error) \
     WHERE j.id = r.id AND j.lease_token = r.token \
     RETURNING j.queue, j.run_at)",
    count_and_wake_moved!()
);

/// Moves jobs to dead-letter. `$1` ids, `$2` tokens, `$3` the errors as
/// JSON text: parallel arrays, one element per job.
pub(super) const BURY: &str = "UPDATE asynctasq_jobs j SET state = 'dead', failed_at = now(), \
       lease_token = NULL, lease_until = NULL, worker = NULL, \
       errors = j.errors || jsonb_build_array(r.error::jsonb) \
     FROM unnest($1::uuid[], $2::int8[], $3::text[]) AS r(id, token, error) \
     WHERE j.id = r.id AND j.lease_token = r.token";

/// Up to `$2` running jobs whose lease expired before `$1` (the server's
/// `now()` when NULL), earliest expiry first.
pub(super) const EXPIRED: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM asynctasq_jobs j \
     WHERE j.state = 'running' AND j.lease_until < COALESCE($1::timestamptz, now()) \
     ORDER BY j.lease_until, j.id LIMIT $2"
);

/// Milliseconds until the earliest pending job of the unpaused queues `$1`
/// is due, rounded up (zero or negative: due now), or NULL when they hold none.
pub(super) const NEXT_DUE: &str = concat!(
    "WITH RECURSIVE ",
    levels!(),
    " SELECT ceil(extract(epoch FROM (min(run_at) - clock_timestamp())) * 1000)::int8 FROM levels"
);

/// Counts by state for the queues `$1`, each from its partial index.
pub(super) const STATS_QUEUES: &str = "SELECT q.name, \
       (SELECT count(*) FROM asynctasq_jobs j WHERE j.state = 'pending' AND j.queue = q.name AND j.run_at <= now()), \
       (SELECT count(*) FROM asynctasq_jobs j WHERE j.state = 'pending' AND j.queue = q.name AND j.run_at > now()), \
       (SELECT count(*) FROM asynctasq_jobs j WHERE j.state = 'running' AND j.queue = q.name), \
       (SELECT count(*) FROM asynctasq_jobs j WHERE j.state = 'dead' AND j.queue = q.name), \
       COALESCE((SELECT p.paused FROM asynctasq_queues p WHERE p.name = q.name), false) \
     FROM (SELECT DISTINCT name FROM unnest($1::text[]) AS u(name)) q ORDER BY q.name";

/// Counts by state for every queue that holds jobs or was ever paused.
pub(super) const STATS_ALL: &str = "SELECT COALESCE(c.queue, p.name), \
       COALESCE(c.ready, 0), COALESCE(c.scheduled, 0), COALESCE(c.running, 0), \
       COALESCE(c.dead, 0), COALESCE(p.paused, false) \
     FROM (SELECT queue, \
             count(*) FILTER (WHERE state = 'pending' AND run_at <= now()) AS ready, \
             count(*) FILTER (WHERE state = 'pending' AND run_at > now()) AS scheduled, \
             count(*) FILTER (WHERE state = 'running') AS running, \
             count(*) FILTER (WHERE state = 'dead') AS dead \
           FROM asynctasq_jobs GROUP BY queue) c \
     FULL JOIN asynctasq_queues p ON p.name = c.queue \
     ORDER BY 1";

/// One job. `$1` id.
pub(super) const JOB: &str = concat!(
    "SELECT ",
    info_columns!(),
    " FROM asynctasq_jobs WHERE id = $1"
);

/// Dead jobs of every queue, newest failure first. `$1` limit, `$2` offset.
pub(super) const DEAD_LIST_ALL: &str = concat!(
    "SELECT ",
    info_columns!(),
    " FROM asynctasq_jobs WHERE state = 'dead' \
     ORDER BY failed_at DESC, id DESC LIMIT $1 OFFSET $2"
);

/// Dead jobs of queue `$3`, newest failure first. `$1` limit, `$2` offset.
pub(super) const DEAD_LIST_QUEUE: &str = concat!(
    "SELECT ",
    info_columns!(),
    " FROM asynctasq_jobs WHERE state = 'dead' AND queue = $3 \
     ORDER BY failed_at DESC, id DESC LIMIT $1 OFFSET $2"
);

/// The update that requeues dead jobs with a fresh attempt count.
macro_rules! requeue {
    ($where:literal) => {
        concat!(
            "WITH moved AS (UPDATE asynctasq_jobs SET state = 'pending', attempt = 0, \
               run_at = now(), failed_at = NULL, lease_token = NULL, lease_until = NULL, worker = NULL \
             WHERE state = 'dead' AND ",
            $where,
            " RETURNING queue, run_at)",
            count_and_wake_moved!()
        )
    };
}

/// Requeues the dead jobs among ids `$1`. Returns (requeued, queues woken).
pub(super) const DEAD_REQUEUE_IDS: &str = requeue!("id = ANY($1::uuid[])");

/// Requeues every dead job. Returns (requeued, queues woken).
pub(super) const DEAD_REQUEUE_ALL: &str = requeue!("true");

/// Requeues the dead jobs of queue `$1`. Returns (requeued, queues woken).
pub(super) const DEAD_REQUEUE_QUEUE: &str = requeue!("queue = $1");

/// Deletes the dead jobs among ids `$1`.
pub(super) const DEAD_PURGE_IDS: &str =
    "DELETE FROM asynctasq_jobs WHERE state = 'dead' AND id = ANY($1::uuid[])";

/// Deletes every dead job.
pub(super) const DEAD_PURGE_ALL: &str = "DELETE FROM asynctasq_jobs WHERE state = 'dead'";

/// Deletes the dead jobs of queue `$1`.
pub(super) const DEAD_PURGE_QUEUE: &str =
    "DELETE FROM asynctasq_jobs WHERE state = 'dead' AND queue = $1";

/// Deletes the ready and scheduled jobs of queue `$1`.
pub(super) const QUEUE_PURGE: &str =
    "DELETE FROM asynctasq_jobs WHERE state = 'pending' AND queue = $1";

/// Pauses queue `$1`.
pub(super) const QUEUE_PAUSE: &str = "INSERT INTO asynctasq_queues (name, paused) VALUES ($1, true) \
     ON CONFLICT (name) DO UPDATE SET paused = true";

/// Resumes queue `$1` and wakes its workers.
pub(super) const QUEUE_RESUME: &str = "WITH resumed AS ( \
       UPDATE asynctasq_queues SET paused = false WHERE name = $1 RETURNING name) \
     SELECT asynctasq_wake($1, now()) FROM resumed";
