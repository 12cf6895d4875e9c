//! The schema and its migrations.
//!
//! MySQL and MariaDB commit DDL implicitly, so a migration cannot be one
//! transaction as on Postgres. Instead every statement is idempotent
//! (`CREATE TABLE IF NOT EXISTS`, indexes declared inside it, since MySQL
//! has no `CREATE INDEX IF NOT EXISTS`), and migrations are serialized
//! across processes by a named lock (`GET_LOCK`), held on one connection
//! for the whole run. A run that dies half-way is completed by the next.

use sqlx::{MySqlConnection, MySqlPool};

use asynctasq_core::{Error, Result};

use super::{NAME, db_err};
use crate::support::check_schema_not_newer;

/// The named lock that serializes migrations.
const MIGRATION_LOCK: &str = "asynctasq_migrate";

/// How long a migration waits for another process's, in seconds.
const LOCK_WAIT_SECS: i64 = 60;

/// Each entry upgrades the schema from version `index` to `index + 1`, one
/// statement at a time.
const MIGRATIONS: &[&[&str]] = &[
    // 1: jobs and queues.
    &[
        r#"
CREATE TABLE IF NOT EXISTS asynctasq_jobs (
    id           BINARY(16)   NOT NULL,
    task         VARCHAR(255) NOT NULL,
    queue        VARCHAR(255) NOT NULL,
    state        ENUM('pending', 'running', 'dead') NOT NULL DEFAULT 'pending',
    priority     SMALLINT     NOT NULL DEFAULT 0,
    run_at       BIGINT       NOT NULL COMMENT 'epoch milliseconds',
    attempt      INT          NOT NULL DEFAULT 0,
    max_attempts INT          NOT NULL,
    lease_token  BIGINT       NULL,
    lease_until  BIGINT       NULL COMMENT 'epoch milliseconds',
    worker       VARCHAR(255) NULL,
    payload      LONGBLOB     NOT NULL,
    errors       LONGTEXT     NOT NULL COMMENT 'JSON array of {at, attempt, message}',
    created_at   BIGINT       NOT NULL COMMENT 'epoch milliseconds',
    failed_at    BIGINT       NULL COMMENT 'epoch milliseconds',
    PRIMARY KEY (id),
    -- Claims: pending jobs per queue, per priority level, by run_at; and
    -- the priority levels themselves (MAX/MIN resolved from the index).
    KEY asynctasq_jobs_claim (state, queue, priority, run_at, id),
    -- The earliest run_at of a queue, for idle waits.
    KEY asynctasq_jobs_due (state, queue, run_at),
    -- The rescuer: expired leases (lease_until is NULL unless running).
    KEY asynctasq_jobs_lease (lease_until),
    -- Dead-letter listings, newest failure first (failed_at is NULL unless
    -- dead). Without `state`, so that claims and acks never touch them.
    KEY asynctasq_jobs_dead (failed_at, id),
    KEY asynctasq_jobs_dead_queue (queue, failed_at, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin
"#,
        r#"
CREATE TABLE IF NOT EXISTS asynctasq_queues (
    name   VARCHAR(255) NOT NULL,
    paused BOOLEAN      NOT NULL DEFAULT FALSE,
    PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin
"#,
    ],
    // 2: completed jobs can be kept (`retain_completed`): a `completed`
    // state, when it was reached, and an index for pruning them. One
    // `ALTER TABLE` (applied whole or not at all), run only while the
    // column is missing, so that a run which died before recording the
    // version can be repeated (MySQL has no `ADD COLUMN IF NOT EXISTS`).
    &[
        r#"
SET @asynctasq_ddl = IF(
    (SELECT COUNT(*) FROM information_schema.columns
     WHERE table_schema = DATABASE() AND table_name = 'asynctasq_jobs'
       AND column_name = 'finished_at') = 0,
    'ALTER TABLE asynctasq_jobs
         MODIFY state ENUM(''pending'', ''running'', ''dead'', ''completed'') NOT NULL DEFAULT ''pending'',
         ADD COLUMN finished_at BIGINT NULL COMMENT ''epoch milliseconds'',
         ADD KEY asynctasq_jobs_completed (state, finished_at)',
    'DO 0')
"#,
        "PREPARE asynctasq_migration FROM @asynctasq_ddl",
        "EXECUTE asynctasq_migration",
        "DEALLOCATE PREPARE asynctasq_migration",
    ],
    // 3: the jobs database's identity, checked by transactional enqueue
    // (one random id, written once; see `txn`).
    &[
        "CREATE TABLE IF NOT EXISTS asynctasq_instance (id VARCHAR(64) NOT NULL) ENGINE = InnoDB",
        "INSERT INTO asynctasq_instance (id) SELECT UUID() FROM DUAL \
         WHERE NOT EXISTS (SELECT 1 FROM asynctasq_instance)",
    ],
];

/// The schema version this build creates.
pub(super) const LATEST: i32 = MIGRATIONS.len() as i32;

const SCHEMA_TABLE: &str = "CREATE TABLE IF NOT EXISTS asynctasq_schema ( \
       version    INT    NOT NULL PRIMARY KEY, \
       applied_at BIGINT NOT NULL \
     ) ENGINE = InnoDB";

/// Whether the schema table exists in the current database.
const SCHEMA_TABLE_EXISTS: &str = "SELECT COUNT(*) FROM information_schema.tables \
     WHERE table_schema = DATABASE() AND table_name = 'asynctasq_schema'";

const CURRENT_VERSION: &str =
    "SELECT CAST(COALESCE(MAX(version), 0) AS SIGNED) FROM asynctasq_schema";

const RECORD_VERSION: &str = "INSERT INTO asynctasq_schema (version, applied_at) \
     VALUES (?, CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED))";

/// Brings the schema up to [`LATEST`].
pub(super) async fn migrate(pool: &MySqlPool) -> Result<()> {
    let mut conn = pool.acquire().await.map_err(db_err)?;
    // Fast path: an up-to-date schema needs no lock.
    if current_version(&mut conn).await? == LATEST {
        tracing::debug!(version = LATEST, "asynctasq mysql schema is up to date");
        return Ok(());
    }
    let locked: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
        .bind(MIGRATION_LOCK)
        .bind(LOCK_WAIT_SECS)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?;
    if locked != Some(1) {
        return Err(Error::driver(
            NAME,
            format!(
                "another process has held the migration lock `{MIGRATION_LOCK}` for over {LOCK_WAIT_SECS} s"
            ),
        ));
    }
    let applied = apply(&mut conn).await;
    // Released with the session anyway if this fails.
    let _ = sqlx::query("SELECT RELEASE_LOCK(?)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *conn)
        .await;
    applied
}

/// Applies the missing migrations; the caller holds the lock.
async fn apply(conn: &mut MySqlConnection) -> Result<()> {
    let run = |sql: &'static str| sqlx::raw_sql(sql);
    run(SCHEMA_TABLE)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    let current = current_version(conn).await?;
    for (index, statements) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i32 + 1;
        for statement in *statements {
            run(statement).execute(&mut *conn).await.map_err(db_err)?;
        }
        sqlx::query(RECORD_VERSION)
            .bind(version)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        tracing::info!(version, "asynctasq mysql schema migrated");
    }
    Ok(())
}

/// The version of the schema (0 before the first migration); refused when
/// a newer asynctasq migrated it.
async fn current_version(conn: &mut MySqlConnection) -> Result<i32> {
    let exists: i64 = sqlx::query_scalar(SCHEMA_TABLE_EXISTS)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?;
    if exists == 0 {
        return Ok(0);
    }
    let v: i64 = sqlx::query_scalar(CURRENT_VERSION)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?;
    let v = i32::try_from(v).unwrap_or(i32::MAX);
    check_schema_not_newer(NAME, v, LATEST)?;
    Ok(v)
}
