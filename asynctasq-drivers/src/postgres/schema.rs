//! The schema and its migrations.
//!
//! Applied versions are recorded in `asynctasq_schema`. A migration runs in
//! one transaction that first takes a transaction-scoped advisory lock
//! (`pg_advisory_xact_lock`), so several processes that start at once
//! serialize: the first applies what is missing, the others then find the
//! schema current and do nothing. DDL is transactional in Postgres, so a
//! failed migration leaves no half-built schema behind.

use sqlx::{AssertSqlSafe, PgPool};

use asynctasq_core::Result;

use super::db_err;
use crate::support::check_schema_not_newer;

/// The advisory lock key that serializes migrations (`"asynctq"` + 1 as bytes).
const MIGRATION_LOCK: i64 = 0x6173_796e_6374_7101;

/// Each entry upgrades the schema from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: jobs, queues, the wake-up function and trigger.
    r#"
CREATE TABLE IF NOT EXISTS asynctasq_jobs (
    id           uuid        NOT NULL PRIMARY KEY,
    task         text        NOT NULL,
    queue        text        NOT NULL,
    state        text        NOT NULL DEFAULT 'pending'
                             CHECK (state IN ('pending', 'running', 'dead')),
    priority     smallint    NOT NULL DEFAULT 0,
    run_at       timestamptz NOT NULL,
    attempt      integer     NOT NULL DEFAULT 0,
    max_attempts integer     NOT NULL,
    lease_token  bigint,
    lease_until  timestamptz,
    worker       text,
    payload      bytea       NOT NULL,
    errors       jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(errors) = 'array'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    failed_at    timestamptz
);
-- A queue table churns: vacuum it long before the default 20% of dead rows.
ALTER TABLE asynctasq_jobs SET (
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.02
);
-- Claims: per queue, in claim order. Partial, so running and dead rows cost nothing.
CREATE INDEX IF NOT EXISTS asynctasq_jobs_claim
    ON asynctasq_jobs (queue, priority DESC, run_at, id) WHERE state = 'pending';
-- The rescuer: expired leases.
CREATE INDEX IF NOT EXISTS asynctasq_jobs_lease
    ON asynctasq_jobs (lease_until) WHERE state = 'running';
-- Dead-letter listings, newest failure first.
CREATE INDEX IF NOT EXISTS asynctasq_jobs_dead
    ON asynctasq_jobs (failed_at, id) WHERE state = 'dead';
CREATE INDEX IF NOT EXISTS asynctasq_jobs_dead_queue
    ON asynctasq_jobs (queue, failed_at, id) WHERE state = 'dead';

CREATE TABLE IF NOT EXISTS asynctasq_queues (
    name   text    NOT NULL PRIMARY KEY,
    paused boolean NOT NULL DEFAULT false
);

-- Wakes idle workers of `queue`: the payload is the epoch milliseconds at
-- which the earliest of the jobs becomes due, a colon, and the queue name
-- (empty when the name is too long for a notification: wake every queue).
CREATE OR REPLACE FUNCTION asynctasq_wake(queue text, due timestamptz) RETURNS integer
LANGUAGE sql VOLATILE AS $fn$
    SELECT 1 FROM pg_notify(
        'asynctasq_jobs',
        floor(extract(epoch FROM due) * 1000)::bigint::text || ':'
            || CASE WHEN octet_length(queue) <= 4000 THEN queue ELSE '' END)
$fn$;

-- Every insert wakes the workers of the queues it filled, whoever inserts
-- (the driver, an application transaction, a script). NOTIFY is delivered on
-- commit, so a job inserted in a transaction that rolls back wakes nobody.
CREATE OR REPLACE FUNCTION asynctasq_jobs_inserted() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM asynctasq_wake(queue, min(run_at))
    FROM asynctasq_new_jobs WHERE state = 'pending' GROUP BY queue;
    RETURN NULL;
END
$fn$;

DROP TRIGGER IF EXISTS asynctasq_jobs_notify ON asynctasq_jobs;
CREATE TRIGGER asynctasq_jobs_notify
    AFTER INSERT ON asynctasq_jobs
    REFERENCING NEW TABLE AS asynctasq_new_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION asynctasq_jobs_inserted();
"#,
    // 2: drop `asynctasq_jobs_due (queue, run_at)`, which version 1 created.
    // The claim index answers "earliest due job" per priority level, and a
    // second index over pending jobs cost every insert and, with statistics
    // stale after a bulk insert, lured the claim into sorting a whole queue.
    "DROP INDEX IF EXISTS asynctasq_jobs_due;",
    // 3: the driver's insert statements notify themselves (a data-modifying
    // CTE that calls `asynctasq_wake`), which costs a dispatch less than the
    // statement trigger with its transition table did; and `asynctasq_wake`
    // becomes PL/pgSQL, whose plan a session caches (a SQL function that is
    // not inlined is planned again on every call).
    r#"
DROP TRIGGER IF EXISTS asynctasq_jobs_notify ON asynctasq_jobs;
DROP FUNCTION IF EXISTS asynctasq_jobs_inserted();
CREATE OR REPLACE FUNCTION asynctasq_wake(queue text, due timestamptz) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $fn$
BEGIN
    PERFORM pg_notify(
        'asynctasq_jobs',
        floor(extract(epoch FROM due) * 1000)::bigint::text || ':'
            || CASE WHEN octet_length(queue) <= 4000 THEN queue ELSE '' END);
    RETURN 1;
END
$fn$;
"#,
    // 4: completed jobs can be kept (`retain_completed`): a `completed`
    // state, when it was reached, and an index for pruning them.
    r#"
ALTER TABLE asynctasq_jobs DROP CONSTRAINT IF EXISTS asynctasq_jobs_state_check;
ALTER TABLE asynctasq_jobs ADD CONSTRAINT asynctasq_jobs_state_check
    CHECK (state IN ('pending', 'running', 'dead', 'completed'));
ALTER TABLE asynctasq_jobs ADD COLUMN IF NOT EXISTS finished_at timestamptz;
CREATE INDEX IF NOT EXISTS asynctasq_jobs_completed
    ON asynctasq_jobs (finished_at) WHERE state = 'completed';
"#,
    // 5: the jobs database's identity, checked by transactional enqueue
    // (one random id, written once; see `txn`).
    r#"
CREATE TABLE IF NOT EXISTS asynctasq_instance (id text NOT NULL);
INSERT INTO asynctasq_instance (id)
    SELECT gen_random_uuid()::text
    WHERE NOT EXISTS (SELECT 1 FROM asynctasq_instance);
"#,
];

/// The schema version this build creates.
pub(super) const LATEST: i32 = MIGRATIONS.len() as i32;

/// Whether the schema table exists (on the search path).
const SCHEMA_TABLE_EXISTS: &str = "SELECT to_regclass('asynctasq_schema') IS NOT NULL";

/// The applied version.
const CURRENT_VERSION: &str = "SELECT COALESCE(MAX(version), 0) FROM asynctasq_schema";

/// Brings the schema up to [`LATEST`]. Returns the versions it applied.
pub(super) async fn migrate(pool: &PgPool) -> Result<Vec<i32>> {
    // Fast path: an up-to-date schema needs no lock.
    let current = current_version(pool).await?;
    if let Some(v) = current {
        check_schema_not_newer("postgres", v, LATEST)?;
        if v == LATEST {
            tracing::debug!(version = v, "asynctasq postgres schema is up to date");
            return Ok(Vec::new());
        }
    }

    let mut tx = pool.begin().await.map_err(db_err)?;
    // `DROP … IF EXISTS` and `CREATE … IF NOT EXISTS` answer with NOTICEs
    // (`trigger … does not exist, skipping`), which sqlx logs at INFO: on a
    // fresh database they look alarming and mean nothing. Only for this
    // transaction: the connection goes back to the pool unchanged.
    // Then the lock, and the version table, in the same round trip.
    let prepare = format!(
        "SET LOCAL client_min_messages = warning; SELECT pg_advisory_xact_lock({MIGRATION_LOCK}); \
         CREATE TABLE IF NOT EXISTS asynctasq_schema ( \
             version    integer     NOT NULL PRIMARY KEY, \
             applied_at timestamptz NOT NULL DEFAULT now())"
    );
    sqlx::raw_sql(AssertSqlSafe(prepare))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    let current: i32 = sqlx::query_scalar(CURRENT_VERSION)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
    check_schema_not_newer("postgres", current, LATEST)?;
    let mut applied = Vec::new();
    for (index, ddl) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i32 + 1;
        let ddl = format!("{ddl};\nINSERT INTO asynctasq_schema (version) VALUES ({version})");
        sqlx::raw_sql(AssertSqlSafe(ddl))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        applied.push(version);
    }
    tx.commit().await.map_err(db_err)?;
    for version in &applied {
        tracing::info!(version, "asynctasq postgres schema migrated");
    }
    if applied.is_empty() {
        tracing::debug!(
            version = current,
            "asynctasq postgres schema was migrated by another process"
        );
    }
    Ok(applied)
}

/// The applied version, or `None` when the schema table does not exist yet.
async fn current_version(pool: &PgPool) -> Result<Option<i32>> {
    let exists: bool = sqlx::query_scalar(SCHEMA_TABLE_EXISTS)
        .fetch_one(pool)
        .await
        .map_err(db_err)?;
    if !exists {
        return Ok(None);
    }
    let version: i32 = sqlx::query_scalar(CURRENT_VERSION)
        .fetch_one(pool)
        .await
        .map_err(db_err)?;
    Ok(Some(version))
}
