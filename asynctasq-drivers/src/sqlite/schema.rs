//! The schema and its migrations.
//!
//! Versions are recorded in `asynctasq_schema` rather than `PRAGMA
//! user_version`, because the database may be the application's own (see
//! [`SqliteDriver::from_pool`](super::SqliteDriver::from_pool)) and its
//! `user_version` is not ours to take.
//!
//! A migration runs in a `BEGIN IMMEDIATE` transaction: the write lock is
//! taken before the version is read, so two processes that migrate at once
//! serialize (the second waits on the busy timeout), and the second sees the
//! first one's version and does nothing.

use sqlx::SqlitePool;

use asynctasq_core::Result;

use super::connect::db_err;
use crate::support::check_schema_not_newer;

/// Each entry upgrades the schema from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: jobs and queues.
    r#"
CREATE TABLE IF NOT EXISTS asynctasq_jobs (
    id           TEXT    NOT NULL PRIMARY KEY,
    task         TEXT    NOT NULL,
    queue        TEXT    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('pending', 'running', 'dead')),
    priority     INTEGER NOT NULL DEFAULT 0,
    run_at       INTEGER NOT NULL,
    attempt      INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    lease_token  INTEGER,
    lease_until  INTEGER,
    worker       TEXT,
    payload      BLOB    NOT NULL,
    errors       TEXT    NOT NULL DEFAULT '[]',
    created_at   INTEGER NOT NULL,
    failed_at    INTEGER
);
-- Claims: per queue, in claim order. Partial, so dead and running rows cost nothing.
CREATE INDEX IF NOT EXISTS asynctasq_jobs_claim
    ON asynctasq_jobs (queue, priority DESC, run_at, id) WHERE state = 'pending';
-- The earliest run_at of a queue, for wake-ups of idle workers.
CREATE INDEX IF NOT EXISTS asynctasq_jobs_due
    ON asynctasq_jobs (queue, run_at) WHERE state = 'pending';
-- The rescuer: expired leases.
CREATE INDEX IF NOT EXISTS asynctasq_jobs_lease
    ON asynctasq_jobs (lease_until) WHERE state = 'running';
-- Dead-letter listings, newest failure first.
CREATE INDEX IF NOT EXISTS asynctasq_jobs_dead
    ON asynctasq_jobs (failed_at, id) WHERE state = 'dead';
CREATE INDEX IF NOT EXISTS asynctasq_jobs_dead_queue
    ON asynctasq_jobs (queue, failed_at, id) WHERE state = 'dead';
CREATE TABLE IF NOT EXISTS asynctasq_queues (
    name   TEXT    NOT NULL PRIMARY KEY,
    paused INTEGER NOT NULL DEFAULT 0
);
"#,
    // 2: the jobs database's identity, checked by transactional enqueue
    // (one random id, written once; see `txn`).
    r#"
CREATE TABLE IF NOT EXISTS asynctasq_instance (id TEXT NOT NULL);
INSERT INTO asynctasq_instance (id)
    SELECT lower(hex(randomblob(16)))
    WHERE NOT EXISTS (SELECT 1 FROM asynctasq_instance);
"#,
];

/// The schema version this build creates.
pub(super) const LATEST: i64 = MIGRATIONS.len() as i64;

/// Brings the schema up to [`LATEST`].
pub(super) async fn migrate(pool: &SqlitePool) -> Result<()> {
    // Fast path: an up-to-date schema needs no write lock. A missing table
    // (a fresh database) reads as an error and takes the slow path.
    if let Ok(Some(v)) =
        sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(version) FROM asynctasq_schema")
            .fetch_one(pool)
            .await
    {
        check_schema_not_newer("sqlite", v, LATEST)?;
        if v == LATEST {
            return Ok(());
        }
    }

    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    sqlx::query("CREATE TABLE IF NOT EXISTS asynctasq_schema (version INTEGER NOT NULL)")
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    let current: i64 =
        sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(version) FROM asynctasq_schema")
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?
            .unwrap_or(0);
    check_schema_not_newer("sqlite", current, LATEST)?;
    for (index, ddl) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        sqlx::raw_sql(*ddl)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query("INSERT INTO asynctasq_schema (version) VALUES (?1)")
            .bind(index as i64 + 1)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tracing::info!(version = index + 1, "asynctasq sqlite schema migrated");
    }
    tx.commit().await.map_err(db_err)
}
