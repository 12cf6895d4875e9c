//! The embedded SQLite driver: a job queue in one file, no server.
//!
//! # Design
//!
//! * **One table, compare-and-set transitions.** Jobs live in
//!   `asynctasq_jobs`; ready and scheduled are both `state = 'pending'`, told
//!   apart by `run_at` against the clock. Every ack (`complete`, `retry`,
//!   `bury`, `release`, `extend`) matches `state = 'running'` *and* the lease
//!   token of the claim, so a stale receipt changes nothing (fencing). Pauses
//!   live in `asynctasq_queues`.
//! * **WAL and one writer.** [`SqliteDriver::connect`] opens the file in WAL
//!   mode with `synchronous = NORMAL` and a 5 s busy timeout: readers never
//!   block the writer, and a commit costs no fsync of the database file.
//!   SQLite has one writer at a time, so every write is a single short
//!   statement (or a short transaction that starts by writing), and writers
//!   of this process queue on an async lock instead of SQLite's busy handler.
//! * **Batch claim in one statement.** A claim is one `UPDATE … WHERE rowid IN
//!   (SELECT … ORDER BY priority DESC, run_at, id LIMIT n) RETURNING …`, each
//!   queue being a range scan of a partial index, so claiming is O(log n)
//!   whatever the backlog. Acks of many jobs are one statement too: the
//!   receipts travel as one JSON array joined with `json_each`.
//! * **Wake-ups without polling the table.** An idle worker's
//!   [`wait`](Driver::wait) returns when a change in this process may have
//!   made work claimable (every driver on the same file shares one
//!   [`Notify`](tokio::sync::Notify)), when another process committed
//!   (`PRAGMA data_version` on a dedicated connection, checked every 2 ms;
//!   it reads shared memory, not the file), or when the earliest scheduled
//!   job of its queues comes due. A wake-up first re-reads that earliest due
//!   time, so commits that bring no claimable work (another queue's
//!   completions, a job scheduled for later) do not send the worker to claim.
//!
//! # Sharing the application's database
//!
//! [`SqliteDriver::from_pool`] takes an existing [`SqlitePool`], for example
//! the one behind a sea-orm `DatabaseConnection`
//! (`db.get_sqlite_connection_pool()`), so jobs and business rows live in one
//! file. The pool's own settings then apply: give it WAL, a busy timeout and
//! more than one connection.

mod rows;
mod schema;
mod sql;
mod url;
mod wake;

use std::cmp::Reverse;
use std::fmt;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Connection};
use tokio::time::Instant;

use crate::support::{count, millis, queue_stats};
use crate::txn::{INSTANCE_QUERY, JobsDatabase};
use asynctasq_core::driver::{ConnectFuture, not_extended};
use asynctasq_core::job::to_millis;
use asynctasq_core::{
    AttemptError, Burial, ClaimParams, ClaimedJob, DeadListParams, DeadSelector, Driver,
    DriverFactory, Error, ExpiredLease, ExpiredParams, JobId, JobInfo, NewJob, QueueStats, Receipt,
    Result, Retry,
};
use sea_orm::{DatabaseTransaction, DbBackend, Statement, Value};

use wake::{Shared, Watchers};

/// The driver's name in logs and errors.
const NAME: &str = "sqlite";

/// Connections in the pool that [`SqliteDriver::connect`] opens.
const MAX_CONNECTIONS: u32 = 8;

/// How long a statement waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How often an idle [`wait`](Driver::wait) checks `PRAGMA data_version`.
const POLL_INTERVAL: Duration = Duration::from_millis(2);

/// A job queue in a SQLite database. Cheap to clone; clones share the pool.
///
/// ```no_run
/// # async fn run() -> asynctasq_core::Result<()> {
/// use asynctasq_core::Driver;
/// use asynctasq_drivers::SqliteDriver;
///
/// let driver = SqliteDriver::connect("sqlite://jobs.db").await?;
/// driver.migrate().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteDriver {
    inner: Arc<Inner>,
}

struct Inner {
    pool: SqlitePool,
    /// What drivers on the same file in this process share.
    shared: Arc<Shared>,
    /// The database's identity in the process-wide registry.
    key: String,
    watchers: Watchers,
    /// For `dispatch_in`: which database the jobs are in.
    jobs_db: JobsDatabase,
}

impl fmt::Debug for SqliteDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteDriver")
            .field("database", &self.inner.key)
            .field("pool_size", &self.inner.pool.size())
            .finish()
    }
}

fn db_err(e: sqlx::Error) -> Error {
    Error::driver(NAME, e)
}

fn now_ms() -> i64 {
    to_millis(Utc::now())
}

/// `[[id, token], …]`, the form the ack statements join with `json_each`.
fn receipts_json(receipts: &[Receipt]) -> String {
    let mut json = String::with_capacity(2 + receipts.len() * 64);
    json.push('[');
    for (i, r) in receipts.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str("[\"");
        json.push_str(&r.id.to_string());
        json.push_str("\",");
        json.push_str(&r.token.to_string());
        json.push(']');
    }
    json.push(']');
    json
}

fn json_err(e: serde_json::Error) -> Error {
    Error::driver(NAME, e)
}

/// `queues` without repetitions, in their first order.
fn unique(queues: &[String]) -> Vec<&str> {
    let mut unique: Vec<&str> = Vec::with_capacity(queues.len());
    for q in queues {
        if !unique.contains(&q.as_str()) {
            unique.push(q);
        }
    }
    unique
}

fn is_busy(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|code| matches!(code & 0xff, 5 | 6)) // SQLITE_BUSY, SQLITE_LOCKED
}

impl SqliteDriver {
    /// Opens (creating if missing) the database at `url` with a pool of
    /// 8 connections, WAL, `synchronous = NORMAL` and a 5 s busy timeout.
    ///
    /// Accepted URLs are those of sqlx: `sqlite://jobs.db`, `sqlite:jobs.db`,
    /// `sqlite:///abs/path.db`, `sqlite::memory:` (an in-memory database
    /// shared by the pool's connections, gone when the driver is dropped),
    /// with optional `?mode=ro|rw|rwc|memory`, `cache=`, `immutable=`, `vfs=`.
    /// An explicit `mode` replaces create-if-missing. The scheme may be in
    /// any case (`SQLite://jobs.db`).
    ///
    /// A URL with no path (`sqlite://`, `sqlite:`, `sqlite://?mode=rwc`) is
    /// refused: SQLite would give every pooled connection its own temporary
    /// database. So is `sqlite::memory:?cache=private`.
    ///
    /// The schema is not created here: call [`migrate`](Driver::migrate)
    /// (the `Client` does unless auto-migrate is off).
    pub async fn connect(url: &str) -> Result<Self> {
        let url::SqliteUrl {
            options,
            mode,
            memory,
        } = url::parse(url)?;
        let mode = mode.as_deref();
        let mut options = options
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT);
        if mode.is_none() && !memory {
            options = options.create_if_missing(true);
        }
        if !memory && mode != Some("ro") {
            enable_wal(&options).await?;
        }
        let mut pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            // A ping before each use costs a round trip to the connection's
            // thread and can find nothing wrong with a local file.
            .test_before_acquire(false);
        if memory {
            // An in-memory database lives as long as one connection to it.
            pool = pool
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let pool = pool.connect_with(options).await.map_err(db_err)?;
        Ok(Self::from_pool(pool))
    }

    /// Uses an existing pool, for example the application's own
    /// (`sea_orm::DatabaseConnection::get_sqlite_connection_pool()`), so jobs
    /// and business rows share one database and one configuration.
    ///
    /// The pool is used as configured: it should be in WAL mode with a busy
    /// timeout, and have more than one connection. Wake-ups across
    /// processes open a few extra connections with the pool's options.
    pub fn from_pool(pool: SqlitePool) -> Self {
        let key = wake::database_key(&pool.connect_options());
        SqliteDriver {
            inner: Arc::new(Inner {
                shared: wake::shared(&key),
                jobs_db: JobsDatabase::new(NAME, DbBackend::Sqlite, format!("sqlite://{key}")),
                key,
                pool,
                watchers: Watchers::default(),
            }),
        }
    }

    /// A driver on the pool of the application's own sea-orm connection, so
    /// that queries, jobs and model re-fetching share one pool and
    /// `dispatch_in(&txn)` writes to the same file. Fails if `db` is not SQLite.
    pub fn from_sea_orm(db: &sea_orm::DatabaseConnection) -> Result<Self> {
        match db.get_database_backend() {
            sea_orm::DbBackend::Sqlite => {
                Ok(Self::from_pool(db.get_sqlite_connection_pool().clone()))
            }
            other => Err(Error::Config(format!(
                "SqliteDriver::from_sea_orm needs a SQLite connection, got {other:?}"
            ))),
        }
    }

    /// The pool this driver runs on.
    pub fn pool(&self) -> &SqlitePool {
        &self.inner.pool
    }

    /// Wakes waiters of every driver on this database in this process.
    fn wake(&self) {
        self.inner.shared.notify.notify_waiters();
    }

    async fn write_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.shared.write.lock().await
    }

    /// Runs one ack statement over `receipts`; returns the rows it changed.
    async fn ack(&self, sql: &'static str, receipts: &[Receipt], lease_until: i64) -> Result<u64> {
        if receipts.is_empty() {
            return Ok(0);
        }
        let receipts = receipts_json(receipts);
        let _write = self.write_lock().await;
        let done = sqlx::query(sql)
            .bind(receipts)
            .bind(lease_until)
            .execute(&self.inner.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    /// Runs `sql` (binds: id, token, a time in ms, the error as JSON) once
    /// per row, in one transaction; returns the rows it changed.
    async fn ack_with_errors<'e>(
        &self,
        sql: &'static str,
        rows: impl ExactSizeIterator<Item = (Receipt, i64, &'e AttemptError)>,
    ) -> Result<u64> {
        if rows.len() == 0 {
            return Ok(0);
        }
        let _write = self.write_lock().await;
        let mut tx = self.inner.pool.begin().await.map_err(db_err)?;
        let mut done = 0;
        for (receipt, at_ms, error) in rows {
            let error = error.to_stored();
            done += sqlx::query(sql)
                .bind(receipt.id.to_string())
                .bind(receipt.token)
                .bind(at_ms)
                .bind(error)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
        }
        tx.commit().await.map_err(db_err)?;
        Ok(done)
    }

    /// The earliest `run_at` of pending jobs in the unpaused queues of `queues_json`.
    async fn next_due(&self, queues_json: &str) -> Result<Option<i64>> {
        sqlx::query_scalar(sql::NEXT_DUE)
            .bind(queues_json)
            .fetch_one(&self.inner.pool)
            .await
            .map_err(db_err)
    }

    /// The body of [`Driver::wait`] once a watcher is set up.
    async fn wait_with<'a>(
        &'a self,
        queues_json: &str,
        deadline: Instant,
        mut watcher: Option<&mut (SqliteConnection, i64)>,
        mut notified: std::pin::Pin<&mut tokio::sync::futures::Notified<'a>>,
    ) -> Result<()> {
        let notify = &self.inner.shared.notify;
        let mut due = self.next_due(queues_json).await?;
        loop {
            let now = now_ms();
            let wake_at = match due {
                Some(due) if due <= now => return Ok(()),
                Some(due) => {
                    let until_due = Duration::from_millis(due.abs_diff(now));
                    let instant = Instant::now();
                    if until_due < deadline.saturating_duration_since(instant) {
                        instant + until_due
                    } else {
                        deadline
                    }
                }
                None => deadline,
            };
            let changed = tokio::select! {
                () = notified.as_mut() => {
                    notified.set(notify.notified());
                    notified.as_mut().enable();
                    true
                }
                () = tokio::time::sleep_until(wake_at) => return Ok(()),
                changed = poll_version(watcher.as_deref_mut()) => changed?,
            };
            if changed {
                due = self.next_due(queues_json).await?;
            }
        }
    }
}

/// After [`POLL_INTERVAL`], whether the watcher's `data_version` moved.
/// Never resolves without a watcher.
async fn poll_version(watcher: Option<&mut (SqliteConnection, i64)>) -> Result<bool> {
    let Some((conn, version)) = watcher else {
        return std::future::pending().await;
    };
    tokio::time::sleep(POLL_INTERVAL).await;
    let now = wake::data_version(conn).await?;
    Ok(std::mem::replace(version, now) != now)
}

/// Switches the file to WAL (a persistent setting). Changing the journal
/// mode needs an exclusive lock that the busy timeout does not wait for, so
/// two processes creating the file at once retry here.
async fn enable_wal(options: &SqliteConnectOptions) -> Result<()> {
    let mut conn = SqliteConnection::connect_with(options)
        .await
        .map_err(db_err)?;
    let deadline = Instant::now() + BUSY_TIMEOUT;
    let mode = loop {
        match sqlx::query_scalar::<_, String>("PRAGMA journal_mode = WAL")
            .fetch_one(&mut conn)
            .await
        {
            Ok(mode) => break mode,
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => return Err(db_err(e)),
        }
    };
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(journal_mode = %mode, "sqlite: could not switch the database to WAL");
    }
    conn.close().await.map_err(db_err)
}

#[async_trait]
impl Driver for SqliteDriver {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn migrate(&self) -> Result<()> {
        let _write = self.write_lock().await;
        schema::migrate(&self.inner.pool).await
    }

    async fn enqueue(&self, jobs: &[NewJob]) -> Result<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let statement = |rows: &[NewJob]| {
            let mut query = sqlx::query(AssertSqlSafe(sql::insert(rows.len())));
            for job in rows {
                query = query
                    .bind(job.id.to_string())
                    .bind(job.task.as_str())
                    .bind(job.queue.as_str())
                    .bind(job.priority)
                    .bind(to_millis(job.run_at))
                    .bind(i64::from(job.max_attempts))
                    .bind(job.payload.as_slice())
                    .bind(now);
            }
            query
        };
        {
            let _write = self.write_lock().await;
            if jobs.len() <= sql::INSERT_CHUNK && jobs.len().is_power_of_two() {
                // One statement is atomic on its own.
                statement(jobs)
                    .execute(&self.inner.pool)
                    .await
                    .map_err(db_err)?;
            } else {
                let mut tx = self.inner.pool.begin().await.map_err(db_err)?;
                let mut rest = jobs;
                for size in sql::insert_chunks(jobs.len()) {
                    let (chunk, tail) = rest.split_at(size);
                    rest = tail;
                    statement(chunk).execute(&mut *tx).await.map_err(db_err)?;
                }
                tx.commit().await.map_err(db_err)?;
            }
        }
        self.wake();
        Ok(())
    }

    async fn enqueue_in(&self, txn: &DatabaseTransaction, jobs: &[NewJob]) -> Result<()> {
        let now = now_ms();
        let mut rest = jobs;
        let statements = sql::insert_chunks(jobs.len()).map(|size| {
            let (chunk, tail) = rest.split_at(size);
            rest = tail;
            let values = chunk.iter().flat_map(|job| {
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
            });
            Statement::from_sql_and_values(DbBackend::Sqlite, sql::insert(size).to_string(), values)
        });
        // Workers see the commit through `PRAGMA data_version`, in this process and others.
        let pool = &self.inner.pool;
        self.inner
            .jobs_db
            .execute_in(txn, statements, || {
                sqlx::query_scalar(INSTANCE_QUERY).fetch_one(pool)
            })
            .await
    }

    async fn claim(&self, params: ClaimParams<'_>) -> Result<Vec<ClaimedJob>> {
        let queues = unique(params.queues);
        if params.max == 0 || queues.is_empty() {
            return Ok(Vec::new());
        }
        let token: i64 = rand::random();
        let now = now_ms();
        let mut query = sqlx::query(AssertSqlSafe(sql::claim(queues.len())))
            .bind(token)
            .bind(now.saturating_add(millis(params.lease)))
            .bind(params.worker)
            .bind(now)
            .bind(count(params.max));
        for q in &queues {
            query = query.bind(*q);
        }
        let rows = {
            let _write = self.write_lock().await;
            query.fetch_all(&self.inner.pool).await.map_err(db_err)?
        };
        let mut claimed = rows
            .iter()
            .map(|row| rows::claimed(row, token))
            .collect::<Result<Vec<_>>>()?;
        // RETURNING gives rows in no particular order.
        claimed.sort_unstable_by_key(|c| (Reverse(c.priority), c.run_at, c.job.receipt.id));
        Ok(claimed.into_iter().map(|c| c.job).collect())
    }

    async fn complete(&self, receipts: &[Receipt]) -> Result<u64> {
        self.ack(sql::COMPLETE, receipts, 0).await
    }

    async fn retry(&self, retries: &[Retry]) -> Result<u64> {
        let rows = retries
            .iter()
            .map(|r| (r.receipt, to_millis(r.run_at), &r.error));
        let done = self.ack_with_errors(sql::RETRY, rows).await?;
        if done > 0 {
            // Waiters re-read their next due time (a retry without backoff is ready now).
            self.wake();
        }
        Ok(done)
    }

    async fn bury(&self, burials: &[Burial]) -> Result<u64> {
        let now = now_ms();
        let rows = burials.iter().map(|b| (b.receipt, now, &b.error));
        self.ack_with_errors(sql::BURY, rows).await
    }

    async fn release(&self, receipts: &[Receipt]) -> Result<u64> {
        let released = self.ack(sql::RELEASE, receipts, 0).await?;
        if released > 0 {
            self.wake();
        }
        Ok(released)
    }

    async fn extend(&self, receipts: &[Receipt], lease: Duration) -> Result<Vec<Receipt>> {
        if receipts.is_empty() {
            return Ok(Vec::new());
        }
        let until = now_ms().saturating_add(millis(lease));
        let json = receipts_json(receipts);
        let extended: Vec<String> = {
            let _write = self.write_lock().await;
            sqlx::query_scalar(sql::EXTEND)
                .bind(json)
                .bind(until)
                .fetch_all(&self.inner.pool)
                .await
                .map_err(db_err)?
        };
        let extended = extended
            .iter()
            .map(|id| rows::job_id(id))
            .collect::<Result<Vec<_>>>()?;
        Ok(not_extended(receipts, &extended))
    }

    async fn leases_expired(&self, params: ExpiredParams) -> Result<Vec<ExpiredLease>> {
        let rows = sqlx::query(sql::EXPIRED)
            .bind(params.now.map_or_else(now_ms, to_millis))
            .bind(i64::try_from(params.limit).unwrap_or(i64::MAX))
            .fetch_all(&self.inner.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(rows::expired).collect()
    }

    async fn wait(&self, queues: &[String], timeout: Duration) -> Result<()> {
        let now = Instant::now();
        // A year stands in for "forever" where adding would overflow.
        let deadline = now
            .checked_add(timeout)
            .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600));
        let queues_json = serde_json::to_string(queues).map_err(json_err)?;
        // Listen before looking, so that a change between the look and the
        // wait is not lost.
        let mut notified = pin!(self.inner.shared.notify.notified());
        notified.as_mut().enable();
        let mut watcher = match self.inner.watchers.take(&self.inner.pool).await? {
            Some(mut conn) => match wake::data_version(&mut conn).await {
                Ok(version) => Some((conn, version)),
                Err(e) => return Err(e), // the connection is dropped
            },
            None => None,
        };
        let result = self
            .wait_with(&queues_json, deadline, watcher.as_mut(), notified)
            .await;
        if let (Some((conn, _)), Ok(())) = (watcher, &result) {
            self.inner.watchers.give_back(conn);
        }
        result
    }

    async fn stats(&self, queues: Option<&[String]>) -> Result<Vec<QueueStats>> {
        let query = match queues {
            None => sqlx::query_as::<_, (String, i64, i64, i64, i64, i64)>(sql::STATS_ALL)
                .bind(now_ms()),
            Some(queues) => sqlx::query_as(sql::STATS_QUEUES)
                .bind(now_ms())
                .bind(serde_json::to_string(&unique(queues)).map_err(json_err)?),
        };
        let rows = query.fetch_all(&self.inner.pool).await.map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|(queue, ready, scheduled, running, dead, paused)| {
                queue_stats(queue, [ready, scheduled, running, dead], paused != 0)
            })
            .collect())
    }

    async fn job(&self, id: JobId) -> Result<Option<JobInfo>> {
        let row = sqlx::query(sql::JOB)
            .bind(id.to_string())
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(db_err)?;
        row.map(|row| rows::info(&row, now_ms())).transpose()
    }

    async fn dead_list(&self, params: DeadListParams<'_>) -> Result<Vec<JobInfo>> {
        let (limit, offset) = (count(params.limit), count(params.offset));
        let query = match params.queue {
            Some(queue) => sqlx::query(sql::DEAD_LIST_QUEUE)
                .bind(limit)
                .bind(offset)
                .bind(queue),
            None => sqlx::query(sql::DEAD_LIST_ALL).bind(limit).bind(offset),
        };
        let rows = query.fetch_all(&self.inner.pool).await.map_err(db_err)?;
        let now = now_ms();
        rows.iter().map(|row| rows::info(row, now)).collect()
    }

    async fn dead_requeue(&self, selector: DeadSelector<'_>) -> Result<u64> {
        let query = match selector {
            DeadSelector::Ids([]) => return Ok(0),
            DeadSelector::Ids(ids) => sqlx::query(sql::DEAD_REQUEUE_IDS)
                .bind(now_ms())
                .bind(serde_json::to_string(ids).map_err(json_err)?),
            DeadSelector::All { queue } => sqlx::query(sql::DEAD_REQUEUE_ALL)
                .bind(now_ms())
                .bind(queue),
        };
        let requeued = {
            let _write = self.write_lock().await;
            query
                .execute(&self.inner.pool)
                .await
                .map_err(db_err)?
                .rows_affected()
        };
        if requeued > 0 {
            self.wake();
        }
        Ok(requeued)
    }

    async fn dead_purge(&self, selector: DeadSelector<'_>) -> Result<u64> {
        let query = match selector {
            DeadSelector::Ids([]) => return Ok(0),
            DeadSelector::Ids(ids) => {
                sqlx::query(sql::DEAD_PURGE_IDS).bind(serde_json::to_string(ids).map_err(json_err)?)
            }
            DeadSelector::All { queue } => sqlx::query(sql::DEAD_PURGE_ALL).bind(queue),
        };
        let _write = self.write_lock().await;
        Ok(query
            .execute(&self.inner.pool)
            .await
            .map_err(db_err)?
            .rows_affected())
    }

    async fn queue_purge(&self, queue: &str) -> Result<u64> {
        let _write = self.write_lock().await;
        Ok(sqlx::query(sql::QUEUE_PURGE)
            .bind(queue)
            .execute(&self.inner.pool)
            .await
            .map_err(db_err)?
            .rows_affected())
    }

    async fn queue_pause(&self, queue: &str) -> Result<()> {
        let _write = self.write_lock().await;
        sqlx::query(sql::QUEUE_SET_PAUSED)
            .bind(queue)
            .bind(1_i64)
            .execute(&self.inner.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn queue_resume(&self, queue: &str) -> Result<()> {
        {
            let _write = self.write_lock().await;
            sqlx::query(sql::QUEUE_SET_PAUSED)
                .bind(queue)
                .bind(0_i64)
                .execute(&self.inner.pool)
                .await
                .map_err(db_err)?;
        }
        self.wake();
        Ok(())
    }
}

fn connect_url(url: &str) -> ConnectFuture {
    let url = url.to_owned();
    Box::pin(async move {
        let driver: Arc<dyn Driver> = Arc::new(SqliteDriver::connect(&url).await?);
        Ok(driver)
    })
}

inventory::submit! {
    DriverFactory {
        schemes: asynctasq_core::url::SQLITE.schemes,
        connect: connect_url,
    }
}
