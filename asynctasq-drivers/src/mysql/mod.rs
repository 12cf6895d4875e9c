//! The MySQL / MariaDB driver: `mysql://user:password@host:3306/database`
//! (`mariadb://` is accepted as a synonym). Needs MySQL 8.0.1+ or MariaDB
//! 10.6+ for `SKIP LOCKED`.
//!
//! # Design
//!
//! The same model as the Postgres driver: one `asynctasq_jobs` table whose
//! rows are `pending` (ready or scheduled, told apart by `run_at`),
//! `running` (leased with a fencing token and a deadline) or `dead`;
//! completed jobs are deleted; paused queues live in `asynctasq_queues`.
//! Time is the database's clock, in epoch milliseconds (`BIGINT`).
//!
//! - **Claims** are a short `READ COMMITTED` transaction (MariaDB has no
//!   `UPDATE … RETURNING`). The priority levels of the queues are walked
//!   from the highest, each found by index probes (`MAX(priority)` below
//!   the previous level, `MIN(run_at)` within it, and the queue's lowest
//!   level, so that the last level is not probed below; all resolved from
//!   the claim index alone, whatever the optimizer's statistics); for each due
//!   level, `SELECT … ORDER BY run_at, id LIMIT n FOR UPDATE SKIP LOCKED`
//!   takes the oldest jobs that no other claim holds; one `UPDATE … WHERE
//!   id IN (…)` marks them running. Scheduled jobs are never scanned,
//!   however many there are.
//! - **Acks** take whole batches, matching exact `(id, lease_token)` pairs
//!   of rows still running (fencing).
//! - **Wake-ups**: MySQL has no `LISTEN/NOTIFY`. An idle worker polls with
//!   a short interval that doubles while nothing happens (50 ms up to 1 s by
//!   default), each poll one index probe per queue; and dispatches
//!   from the same process wake it at once through a process-global hub per
//!   database.
//! - **Payloads** are `LONGBLOB` (up to 4 GiB; in practice bounded by the
//!   server's `max_allowed_packet`, 16 MiB on MariaDB by default).
//! - **Connection loss** fails the statements in flight; the pool replaces
//!   dead connections, the worker retries, and a claim whose answer was
//!   lost is rescued when its lease expires. Delivery is at-least-once.
//!
//! The insert of a batch is a reusable statement list, [`MySqlInsert`], for
//! transactional enqueue on the application's own transaction.

mod insert;
mod rows;
mod schema;
mod sql;
mod wake;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use sqlx::mysql::{MySqlArguments, MySqlConnectOptions, MySqlPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::query::Query;
use sqlx::{MySql, MySqlPool, Row, Transaction};
use tokio::time::Instant;

use asynctasq_core::driver::not_extended;
use asynctasq_core::job::to_millis;
use asynctasq_core::{
    Burial, ClaimParams, ClaimedJob, DeadListParams, DeadSelector, Driver, DriverFactory, Error,
    ExpiredLease, ExpiredParams, JobId, JobInfo, NewJob, QueueStats, Receipt, Result, Retry,
};

use crate::sql_connect::explained;
use crate::support::{Wake, count, millis, non_negative};
use crate::txn::{INSTANCE_QUERY, JobsDatabase};
use asynctasq_core::url::{parse_option, redact as redact_url, split_options as split_url};
pub use insert::{MySqlInsert, MySqlParam, MySqlStatement};
use wake::Hub;

/// The driver's name in logs and errors.
const NAME: &str = "mysql";

/// Most receipts or ids in one statement.
const MAX_LIST: usize = 1000;

/// Most jobs in one claim.
const MAX_CLAIM: usize = 10_000;

/// Longest pause of a waiter that keeps finding due jobs it cannot claim.
const MAX_SPIN_PAUSE: Duration = Duration::from_secs(1);

fn db_err(e: sqlx::Error) -> Error {
    Error::driver(NAME, e)
}

/// How to reach MySQL/MariaDB and how the driver behaves.
///
/// Every field can also be set from the URL's query string, next to
/// sqlx's own parameters (`ssl-mode`, `charset`, ...):
/// `mysql://app@db/jobs?max_connections=20&poll_interval=500ms`.
#[derive(Clone, PartialEq, Eq)]
pub struct MySqlConfig {
    /// The connection URL (`mysql://` or `mariadb://`).
    pub url: String,
    /// Most connections in the driver's pool (default 10).
    pub max_connections: u32,
    /// Connections kept open when idle (default 0).
    pub min_connections: u32,
    /// How long a statement waits for a connection (default 2 s): for a
    /// free one when all are busy, or for a new one while the server cannot
    /// be reached, after which the statement fails with the cause
    /// (`connection refused`, ...). See "When the backend is down" in
    /// `docs/drivers.md`.
    pub acquire_timeout: Duration,
    /// How long opening the first connection in
    /// [`connect`](MySqlDriver::connect) may take (default 2 s); it fails
    /// sooner, with the cause, when the server refuses.
    pub connect_timeout: Duration,
    /// The first poll interval of an idle worker (default 50 ms); it
    /// doubles on each empty poll up to [`poll_interval`](Self::poll_interval).
    pub poll_interval_min: Duration,
    /// The longest poll interval of an idle worker: the latency, at worst,
    /// of a dispatch from another process to an idle worker (default 1 s).
    pub poll_interval: Duration,
    /// Keep completed jobs for this long instead of deleting them (default
    /// `None`: deleted on completion). Kept jobs are in state `completed`;
    /// the workers' maintenance deletes them once the period has passed
    /// (URL: `retain_completed=1h`).
    pub retain_completed: Option<Duration>,
}

impl fmt::Debug for MySqlConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MySqlConfig")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("min_connections", &self.min_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("poll_interval_min", &self.poll_interval_min)
            .field("poll_interval", &self.poll_interval)
            .field("retain_completed", &self.retain_completed)
            .finish()
    }
}

/// URL query parameters that configure the driver rather than the session.
const URL_OPTIONS: &[&str] = &[
    "max_connections",
    "min_connections",
    "acquire_timeout",
    "connect_timeout",
    "poll_interval_min",
    "poll_interval",
    "retain_completed",
];

impl MySqlConfig {
    /// Defaults for `url`, without reading its query string.
    pub fn new(url: impl Into<String>) -> Self {
        MySqlConfig {
            url: url.into(),
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: crate::sql_connect::DEFAULT_ACQUIRE_TIMEOUT,
            connect_timeout: crate::sql_connect::DEFAULT_CONNECT_TIMEOUT,
            poll_interval_min: Duration::from_millis(50),
            poll_interval: Duration::from_secs(1),
            retain_completed: None,
        }
    }

    /// Defaults overridden by the driver options in `url`'s query string
    /// (see [`MySqlConfig`]); the options are removed from [`url`](Self::url).
    ///
    /// ```
    /// use asynctasq_drivers::mysql::MySqlConfig;
    ///
    /// let config = MySqlConfig::from_url("mysql://app@db/jobs?poll_interval=250ms")?;
    /// assert_eq!(config.poll_interval, std::time::Duration::from_millis(250));
    /// assert_eq!(config.url, "mysql://app@db/jobs");
    /// # Ok::<(), asynctasq_core::Error>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Self> {
        let split = split_url(url, URL_OPTIONS);
        let mut config = MySqlConfig::new(split.database_url);
        let duration = asynctasq_core::config::parse_duration;
        for (key, value) in &split.options {
            let number = |v: &str| v.parse::<u32>().map_err(|e| e.to_string());
            match key.as_str() {
                "max_connections" => {
                    config.max_connections = parse_option(NAME, key, value, number)?
                }
                "min_connections" => {
                    config.min_connections = parse_option(NAME, key, value, number)?
                }
                "acquire_timeout" => {
                    config.acquire_timeout = parse_option(NAME, key, value, duration)?
                }
                "connect_timeout" => {
                    config.connect_timeout = parse_option(NAME, key, value, duration)?
                }
                "poll_interval_min" => {
                    config.poll_interval_min = parse_option(NAME, key, value, duration)?
                }
                "poll_interval" => config.poll_interval = parse_option(NAME, key, value, duration)?,
                "retain_completed" => {
                    config.retain_completed = Some(parse_option(NAME, key, value, duration)?)
                }
                _ => {}
            }
        }
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        if self.max_connections == 0 {
            return Err(Error::Config(
                "mysql max_connections must be at least 1".into(),
            ));
        }
        if self.poll_interval_min < Duration::from_millis(1)
            || self.poll_interval < self.poll_interval_min
        {
            return Err(Error::Config(
                "mysql poll intervals must satisfy 1ms <= poll_interval_min <= poll_interval"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// The MySQL / MariaDB driver. Cheap to clone; clones share the pool.
///
/// ```no_run
/// # async fn run() -> asynctasq_core::Result<()> {
/// use asynctasq_core::Driver;
/// use asynctasq_drivers::MySqlDriver;
///
/// let driver = MySqlDriver::connect("mysql://root@127.0.0.1/app").await?;
/// driver.migrate().await?;
/// # Ok(()) }
/// ```
///
/// To share the pool of a sea-orm `DatabaseConnection`, pass
/// `db.get_mysql_connection_pool().clone()` to [`MySqlDriver::from_pool`].
#[derive(Clone)]
pub struct MySqlDriver {
    inner: Arc<Inner>,
}

struct Inner {
    pool: MySqlPool,
    hub: Arc<Hub>,
    poll_min: Duration,
    poll_max: Duration,
    /// See [`MySqlConfig::retain_completed`].
    retain_completed: Option<Duration>,
    /// Consecutive waits that found due jobs at once (see `wait`).
    spins: AtomicU32,
    /// Where the driver connects, password redacted.
    target: String,
    /// For `dispatch_in`: which database the jobs are in.
    jobs_db: JobsDatabase,
    /// `TCP_NODELAY` for a pool built by the application (see `nodelay`).
    adopted: Option<crate::nodelay::Adopted>,
}

impl fmt::Debug for MySqlDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MySqlDriver")
            .field("target", &self.inner.target)
            .finish_non_exhaustive()
    }
}

/// The head of one priority level of a queue, as a probe finds it.
#[derive(Debug, Clone, Copy)]
struct Head {
    /// The level's priority.
    priority: i16,
    /// Its earliest `run_at` (epoch ms).
    first: i64,
    /// The queue's lowest pending level: none below this one if equal.
    lowest: i16,
}

/// The exclusive upper bound that makes a probe find a queue's highest level.
const ABOVE_ALL: i32 = i16::MAX as i32 + 1;

/// Runs one round of probes: for each `(queue index, bound)`, the highest
/// level of that queue below `bound`. Returns, per probe in order, the head
/// found (or `None`: no level below), the queue's paused flag, and the
/// database's clock.
async fn probe<'c, E: sqlx::MySqlExecutor<'c>>(
    exec: E,
    queues: &[String],
    probes: &[(usize, i32)],
) -> Result<Vec<(usize, Option<Head>, bool, i64)>> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql::probes(probes.len())));
    for &(q, below) in probes {
        query = query
            .bind(count(q))
            .bind(&queues[q])
            .bind(&queues[q])
            .bind(&queues[q])
            .bind(&queues[q])
            .bind(below);
    }
    let rows = query.fetch_all(exec).await.map_err(db_err)?;
    rows.iter()
        .map(|row| {
            let q: i64 = row.try_get(0).map_err(db_err)?;
            let priority: Option<i64> = row.try_get(1).map_err(db_err)?;
            let first: Option<i64> = row.try_get(2).map_err(db_err)?;
            let now: i64 = row.try_get(3).map_err(db_err)?;
            let paused: Option<bool> = row.try_get(4).map_err(db_err)?;
            let lowest: Option<i64> = row.try_get(5).map_err(db_err)?;
            let level = |p: i64| i16::try_from(p).unwrap_or_default();
            let head = match (priority, first) {
                (Some(p), Some(first)) => Some(Head {
                    priority: level(p),
                    first,
                    lowest: lowest.map_or(level(p), level),
                }),
                _ => None,
            };
            let q = usize::try_from(q)
                .unwrap_or(usize::MAX)
                .min(queues.len() - 1);
            Ok((q, head, paused.unwrap_or(false), now))
        })
        .collect()
}

impl MySqlDriver {
    /// Connects to `url` (options in its query string: see [`MySqlConfig`]).
    /// Fails within [`connect_timeout`](MySqlConfig::connect_timeout), with
    /// the cause, when the server cannot be reached or refuses the login.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(&MySqlConfig::from_url(url)?).await
    }

    /// Connects with an explicit configuration.
    pub async fn connect_with(config: &MySqlConfig) -> Result<Self> {
        config.validate()?;
        let target = redact_url(&config.url);
        let url = match config.url.strip_prefix("mariadb:") {
            Some(rest) => format!("mysql:{rest}"),
            None => config.url.clone(),
        };
        let options = MySqlConnectOptions::from_str(&url)
            .map_err(|e| Error::Config(format!("invalid mysql url `{target}`: {e}")))?;
        let port = options.get_port();
        let pool = MySqlPoolOptions::new()
            .max_connections(config.max_connections)
            .min_connections(config.min_connections)
            .acquire_timeout(config.acquire_timeout);
        let pool = crate::nodelay::on_connect(pool, port);
        let pool =
            crate::sql_connect::connect_pool(NAME, &target, pool, options, config.connect_timeout)
                .await?;
        Ok(Self::build(pool, config, target, None))
    }

    /// A driver over an existing pool, e.g. the one of a sea-orm
    /// `DatabaseConnection` (`db.get_mysql_connection_pool().clone()`),
    /// with default settings.
    pub fn from_pool(pool: MySqlPool) -> Self {
        Self::from_pool_with(pool, &MySqlConfig::new(""))
    }

    /// Like [`from_pool`](Self::from_pool), taking the poll intervals from
    /// `config` (its URL and pool settings are ignored).
    pub fn from_pool_with(pool: MySqlPool, config: &MySqlConfig) -> Self {
        let options = pool.connect_options();
        // The application's pool has no hook of ours: treat its connections
        // now and as it opens more (see `nodelay`).
        let adopted = crate::nodelay::Adopted::new(options.get_port(), pool.size());
        let target = format!(
            "mysql://{}@{}:{}/{}",
            options.get_username(),
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default()
        );
        Self::build(pool, config, target, Some(adopted))
    }

    fn build(
        pool: MySqlPool,
        config: &MySqlConfig,
        target: String,
        adopted: Option<crate::nodelay::Adopted>,
    ) -> Self {
        let options = pool.connect_options();
        let identity = match options.get_socket() {
            Some(socket) => format!(
                "{}@{}/{}",
                options.get_username(),
                socket.display(),
                options.get_database().unwrap_or_default()
            ),
            None => format!(
                "{}@{}:{}/{}",
                options.get_username(),
                options.get_host(),
                options.get_port(),
                options.get_database().unwrap_or_default()
            ),
        };
        let poll_min = config.poll_interval_min.max(Duration::from_millis(1));
        MySqlDriver {
            inner: Arc::new(Inner {
                hub: wake::hub(&identity),
                poll_min,
                poll_max: config.poll_interval.max(poll_min),
                retain_completed: config.retain_completed,
                spins: AtomicU32::new(0),
                jobs_db: JobsDatabase::new(NAME, sea_orm::DbBackend::MySql, target.clone()),
                target,
                adopted,
                pool,
            }),
        }
    }

    /// The driver's connection pool.
    pub fn pool(&self) -> &MySqlPool {
        &self.inner.pool
    }

    /// The pool, for the driver's own statements.
    fn pool_ref(&self) -> &MySqlPool {
        if let Some(adopted) = &self.inner.adopted {
            adopted.check(self.inner.pool.size());
        }
        &self.inner.pool
    }

    /// A connection of the pool; when none comes, the error says why (see
    /// [`explained`](crate::sql_connect::explained)).
    async fn acquire(&self) -> Result<PoolConnection<MySql>> {
        let pool = self.pool_ref();
        explained(pool, pool.acquire()).await.map_err(db_err)
    }

    /// A transaction on a connection of the pool, opened with `statement`
    /// (`BEGIN` when `None`); errors as for [`acquire`](Self::acquire).
    async fn begin(&self, statement: Option<&'static str>) -> Result<Transaction<'static, MySql>> {
        let pool = self.pool_ref();
        let begun = match statement {
            Some(sql) => explained(pool, pool.begin_with(sql)).await,
            None => explained(pool, pool.begin()).await,
        };
        begun.map_err(db_err)
    }

    /// Wakes this process's idle workers for jobs inserted outside
    /// [`enqueue`](Driver::enqueue), e.g. with [`MySqlInsert`] in the
    /// application's transaction: call it after the commit. Workers in
    /// other processes find the jobs at their next poll.
    pub fn notify_enqueued(&self, jobs: &[NewJob]) {
        let mut earliest: Vec<(&str, i64)> = Vec::new();
        for job in jobs {
            let due = to_millis(job.run_at);
            match earliest.iter_mut().find(|(q, _)| *q == job.queue) {
                Some((_, at)) => *at = (*at).min(due),
                None => earliest.push((&job.queue, due)),
            }
        }
        for (queue, due_ms) in earliest {
            self.inner.hub.publish(Wake::Due {
                queue: Some(Arc::from(queue)),
                due_ms,
            });
        }
    }

    /// Wakes this process's idle workers of every queue: jobs became
    /// claimable again (a retry, a release, a rescue, a requeue).
    fn wake_all(&self, due_ms: i64) {
        self.inner.hub.publish(Wake::Due {
            queue: None,
            due_ms,
        });
    }

    /// Milliseconds until the earliest pending job of the unpaused
    /// `queues` is due (<= 0: due now), or `None` when they hold none.
    async fn next_due(&self, queues: &[String]) -> Result<Option<i64>> {
        if queues.is_empty() {
            return Ok(None);
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql::next_due(queues.len())));
        for (i, q) in queues.iter().enumerate() {
            query = query.bind(count(i)).bind(q).bind(q);
        }
        let rows = query
            .fetch_all(&mut *self.acquire().await?)
            .await
            .map_err(db_err)?;
        let mut next: Option<i64> = None;
        for row in &rows {
            let first: Option<i64> = row.try_get(1).map_err(db_err)?;
            let now: i64 = row.try_get(2).map_err(db_err)?;
            let paused: Option<bool> = row.try_get(3).map_err(db_err)?;
            if let (Some(first), false) = (first, paused.unwrap_or(false)) {
                let ms = first - now;
                next = Some(next.map_or(ms, |n| n.min(ms)));
            }
        }
        Ok(next)
    }

    /// Pauses a waiter that keeps finding due jobs that its claims do not
    /// get, so that it does not spin; the first time costs nothing.
    async fn spin_pause(&self) {
        let n = self.inner.spins.fetch_add(1, Ordering::Relaxed);
        if n > 0 {
            let pause = Duration::from_millis(5) * 2u32.pow(n.min(8));
            tokio::time::sleep(pause.min(MAX_SPIN_PAUSE)).await;
        }
    }

    /// Runs `build(n)` with the receipts bound as (id, token) pairs, in
    /// chunks, after `first` extra leading binds. Returns rows affected.
    async fn by_receipts(
        &self,
        receipts: &[Receipt],
        build: fn(usize) -> String,
        lead: Option<i64>,
    ) -> Result<u64> {
        let mut affected = 0;
        for chunk in receipts.chunks(MAX_LIST) {
            let sql = build(chunk.len());
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            if let Some(lead) = lead {
                query = query.bind(lead);
            }
            for r in chunk {
                query = query.bind(r.id.0.as_bytes().as_slice()).bind(r.token);
            }
            affected += self.execute(query).await?;
        }
        Ok(affected)
    }

    /// Runs `query(item)` for each item in one transaction (one durable
    /// commit for the batch). Returns the rows each changed.
    async fn each_in_transaction<'q, T>(
        &self,
        items: &'q [T],
        query: impl Fn(&'q T) -> Query<'q, MySql, MySqlArguments>,
    ) -> Result<Vec<u64>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin(None).await?;
        let mut applied = Vec::with_capacity(items.len());
        for item in items {
            let done = query(item).execute(&mut *tx).await.map_err(db_err)?;
            applied.push(done.rows_affected());
        }
        tx.commit().await.map_err(db_err)?;
        Ok(applied)
    }

    /// Runs `build(n)` with ids bound, in chunks. Returns rows affected.
    async fn by_ids(&self, ids: &[JobId], build: fn(usize) -> String) -> Result<u64> {
        let mut affected = 0;
        for chunk in ids.chunks(MAX_LIST) {
            let sql = build(chunk.len());
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.0.as_bytes().as_slice());
            }
            affected += self.execute(query).await?;
        }
        Ok(affected)
    }

    async fn execute(&self, query: Query<'_, MySql, MySqlArguments>) -> Result<u64> {
        let done = query
            .execute(&mut *self.acquire().await?)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected())
    }
}

/// Most retained completed jobs deleted by one statement.
const PRUNE_BATCH: i64 = 1000;

/// `queues` without duplicates, in order.
fn distinct(queues: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(queues.len());
    for q in queues {
        if !out.contains(q) {
            out.push(q.clone());
        }
    }
    out
}

#[async_trait]
impl Driver for MySqlDriver {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn migrate(&self) -> Result<()> {
        schema::migrate(self.pool_ref()).await.map(|_| ())
    }

    async fn enqueue(&self, jobs: &[NewJob]) -> Result<()> {
        let insert = MySqlInsert::new(jobs);
        match insert.statements() {
            [] => {}
            [one] => {
                self.execute(one.query()).await?;
            }
            _ => {
                let mut tx = self.begin(None).await?;
                insert.execute(&mut tx).await?;
                tx.commit().await.map_err(db_err)?;
            }
        }
        self.notify_enqueued(jobs);
        Ok(())
    }

    /// Inserts in the caller's transaction. Workers find the jobs at their
    /// next poll after the commit (MySQL has no commit notifications); call
    /// [`notify_enqueued`](MySqlDriver::notify_enqueued) after the commit to
    /// wake this process's workers at once.
    async fn enqueue_in(&self, txn: &sea_orm::DatabaseTransaction, jobs: &[NewJob]) -> Result<()> {
        let insert = MySqlInsert::new(jobs);
        let statements: Vec<_> = insert
            .statements()
            .iter()
            .map(MySqlStatement::to_sea_orm)
            .collect();
        let pool = self.pool_ref();
        self.inner
            .jobs_db
            .execute_in(txn, statements, || {
                sqlx::query_scalar(INSTANCE_QUERY).fetch_one(pool)
            })
            .await
    }

    async fn claim(&self, params: ClaimParams<'_>) -> Result<Vec<ClaimedJob>> {
        let max = params.max.min(MAX_CLAIM);
        if max == 0 || params.queues.is_empty() {
            return Ok(Vec::new());
        }
        let queues = distinct(params.queues);
        // Walk the priority levels of all queues from the highest, probing
        // each queue's next level lazily: most claims stop at the first.
        let all: Vec<(usize, i32)> = (0..queues.len()).map(|q| (q, ABOVE_ALL)).collect();
        let first_round = probe(&mut *self.acquire().await?, &queues, &all).await?;
        let Some(&(_, _, _, now)) = first_round.first() else {
            return Ok(Vec::new());
        };
        let mut frontier: Vec<Option<Head>> = vec![None; queues.len()];
        for (q, head, paused, _) in first_round {
            if !paused {
                frontier[q] = head;
            }
        }
        let mut tx = None;
        let mut picked: Vec<rows::Candidate> = Vec::with_capacity(max);
        while picked.len() < max {
            let Some(priority) = frontier.iter().flatten().map(|h| h.priority).max() else {
                break;
            };
            let level: Vec<usize> = (0..queues.len())
                .filter(|&q| frontier[q].is_some_and(|h| h.priority == priority))
                .collect();
            // Levels of one priority (from several queues) are merged by run_at.
            let mut group = Vec::new();
            for &q in &level {
                if frontier[q].is_some_and(|h| h.first > now) {
                    continue; // every job of this level is scheduled
                }
                if tx.is_none() {
                    tx = Some(self.begin(Some(sql::CLAIM_BEGIN)).await?);
                }
                let conn = tx.as_mut().expect("transaction started");
                let rows = sqlx::query(sql::CLAIM_LEVEL)
                    .bind(&queues[q])
                    .bind(priority)
                    .bind(count(max - picked.len()))
                    .fetch_all(&mut **conn)
                    .await
                    .map_err(db_err)?;
                for row in &rows {
                    group.push(rows::candidate(row)?);
                }
            }
            group.sort_by_key(|c| (c.run_at, c.id));
            group.truncate(max - picked.len());
            picked.extend(group);
            if picked.len() >= max {
                break;
            }
            // Probe below this level only the queues that have lower levels.
            let mut next: Vec<(usize, i32)> = Vec::new();
            for &q in &level {
                match frontier[q] {
                    Some(h) if h.lowest < h.priority => next.push((q, i32::from(priority))),
                    _ => frontier[q] = None,
                }
            }
            if next.is_empty() {
                continue;
            }
            let heads = match tx.as_mut() {
                Some(conn) => probe(&mut **conn, &queues, &next).await?,
                None => probe(&mut *self.acquire().await?, &queues, &next).await?,
            };
            for (q, head, _, _) in heads {
                frontier[q] = head;
            }
        }
        let Some(mut tx) = tx else {
            return Ok(Vec::new());
        };
        if picked.is_empty() {
            tx.rollback().await.map_err(db_err)?;
            return Ok(Vec::new());
        }
        let token: i64 = rand::random();
        let update = sql::claim_update(picked.len());
        let mut query = sqlx::query(sqlx::AssertSqlSafe(update))
            .bind(token)
            .bind(millis(params.lease))
            .bind(params.worker);
        for c in &picked {
            query = query.bind(c.id.0.as_bytes().as_slice());
        }
        query.execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        self.inner.spins.store(0, Ordering::Relaxed);
        Ok(picked.into_iter().map(|c| c.claimed(token)).collect())
    }

    async fn complete(&self, receipts: &[Receipt]) -> Result<u64> {
        let build = if self.inner.retain_completed.is_some() {
            sql::complete_retained
        } else {
            sql::complete
        };
        self.by_receipts(receipts, build, None).await
    }

    async fn prune_completed(&self) -> Result<u64> {
        let Some(retention) = self.inner.retain_completed else {
            return Ok(0);
        };
        self.execute(
            sqlx::query(sql::PRUNE_COMPLETED)
                .bind(millis(retention))
                .bind(PRUNE_BATCH),
        )
        .await
    }

    async fn retry(&self, retries: &[Retry]) -> Result<u64> {
        let applied = self
            .each_in_transaction(retries, |r| {
                let error = r.error.to_stored();
                sqlx::query(sql::RETRY)
                    .bind(to_millis(r.run_at))
                    .bind(error.clone())
                    .bind(error)
                    .bind(r.receipt.id.0.as_bytes().as_slice())
                    .bind(r.receipt.token)
            })
            .await?;
        let earliest = retries
            .iter()
            .zip(&applied)
            .filter(|&(_, &n)| n > 0)
            .map(|(r, _)| to_millis(r.run_at))
            .min();
        if let Some(due_ms) = earliest {
            self.wake_all(due_ms);
        }
        Ok(applied.iter().sum())
    }

    async fn bury(&self, burials: &[Burial]) -> Result<u64> {
        let applied = self
            .each_in_transaction(burials, |b| {
                let error = b.error.to_stored();
                sqlx::query(sql::BURY)
                    .bind(error.clone())
                    .bind(error)
                    .bind(b.receipt.id.0.as_bytes().as_slice())
                    .bind(b.receipt.token)
            })
            .await?;
        Ok(applied.iter().sum())
    }

    async fn release(&self, receipts: &[Receipt]) -> Result<u64> {
        let released = self.by_receipts(receipts, sql::release, None).await?;
        if released > 0 {
            self.wake_all(0);
        }
        Ok(released)
    }

    async fn extend(&self, receipts: &[Receipt], lease: Duration) -> Result<Vec<Receipt>> {
        // MySQL's UPDATE returns no rows: when it matched fewer rows than
        // receipts, a second statement asks which are still held (one more
        // round trip, only for a batch with a lost lease).
        let mut lost = Vec::new();
        for chunk in receipts.chunks(MAX_LIST) {
            let applied = self
                .by_receipts(chunk, sql::extend, Some(millis(lease)))
                .await?;
            if applied as usize == chunk.len() {
                continue;
            }
            let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql::held(chunk.len())));
            for r in chunk {
                query = query.bind(r.id.0.as_bytes().as_slice()).bind(r.token);
            }
            let held: Vec<Vec<u8>> = query
                .fetch_all(&mut *self.acquire().await?)
                .await
                .map_err(db_err)?;
            let held = held
                .iter()
                .map(|id| rows::job_id(id))
                .collect::<Result<Vec<_>>>()?;
            lost.extend(not_extended(chunk, &held));
        }
        Ok(lost)
    }

    async fn leases_expired(&self, params: ExpiredParams) -> Result<Vec<ExpiredLease>> {
        let rows = sqlx::query(sql::EXPIRED)
            .bind(params.now.map(to_millis))
            .bind(i64::try_from(params.limit).unwrap_or(i64::MAX))
            .fetch_all(&mut *self.acquire().await?)
            .await
            .map_err(db_err)?;
        rows.iter().map(rows::expired).collect()
    }

    async fn wait(&self, queues: &[String], timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        // Subscribe before reading the database: a dispatch of this process
        // after the read is announced to this receiver.
        let mut wakes = self.inner.hub.subscribe();
        let queues = distinct(queues);
        let mut poll = self.inner.poll_min;
        loop {
            let next_due = self.next_due(&queues).await?;
            if next_due.is_some_and(|ms| ms <= 0) {
                self.spin_pause().await;
                return Ok(());
            }
            self.inner.spins.store(0, Ordering::Relaxed);
            let now = Instant::now();
            if now >= deadline {
                return Ok(());
            }
            let due_at = next_due.map(|ms| now + Duration::from_millis(ms.unsigned_abs()));
            let tick = (now + poll).min(deadline).min(due_at.unwrap_or(deadline));
            tokio::select! {
                _ = tokio::time::sleep_until(tick) => {
                    if tick >= deadline || due_at.is_some_and(|at| tick >= at) {
                        return Ok(());
                    }
                    poll = (poll * 2).min(self.inner.poll_max);
                }
                wake = wakes.recv() => match wake {
                    Ok(wake @ Wake::Due { due_ms, .. }) => {
                        if wake.concerns(&queues) && due_ms <= to_millis(Utc::now()) {
                            return Ok(());
                        }
                        // Something is scheduled: look again (it may come due sooner).
                    }
                    Ok(Wake::Resync) | Err(_) => return Ok(()),
                },
            }
        }
    }

    async fn stats(&self, queues: Option<&[String]>) -> Result<Vec<QueueStats>> {
        let (sql, wanted) = match queues {
            Some(queues) => {
                let queues = distinct(queues);
                if queues.is_empty() {
                    return Ok(Vec::new());
                }
                (sql::stats_queues(queues.len()), Some(queues))
            }
            None => (sql::stats_all(), None),
        };
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(queues) = &wanted {
            for q in queues.iter().chain(queues) {
                query = query.bind(q);
            }
        }
        let rows = query
            .fetch_all(&mut *self.acquire().await?)
            .await
            .map_err(db_err)?;
        let mut stats: Vec<QueueStats> = wanted
            .unwrap_or_default()
            .into_iter()
            .map(|queue| QueueStats {
                queue,
                ..Default::default()
            })
            .collect();
        for row in &rows {
            let kind: i64 = row.try_get(0).map_err(db_err)?;
            let queue: String = row.try_get(1).map_err(db_err)?;
            let index = match stats.iter().position(|s| s.queue == queue) {
                Some(i) => i,
                None => {
                    stats.push(QueueStats {
                        queue,
                        ..Default::default()
                    });
                    stats.len() - 1
                }
            };
            let s = &mut stats[index];
            if kind == 1 {
                s.paused = true;
            } else {
                let n = |i: usize| row.try_get::<i64, _>(i).map(non_negative).map_err(db_err);
                s.ready = n(2)?;
                s.scheduled = n(3)?;
                s.running = n(4)?;
                s.dead = n(5)?;
            }
        }
        stats.sort_by(|a, b| a.queue.cmp(&b.queue));
        Ok(stats)
    }

    async fn job(&self, id: JobId) -> Result<Option<JobInfo>> {
        sqlx::query(sql::JOB)
            .bind(id.0.as_bytes().as_slice())
            .fetch_optional(&mut *self.acquire().await?)
            .await
            .map_err(db_err)?
            .map(|row| rows::info(&row))
            .transpose()
    }

    async fn dead_list(&self, params: DeadListParams<'_>) -> Result<Vec<JobInfo>> {
        let query = match params.queue {
            Some(q) => sqlx::query(sql::DEAD_LIST_QUEUE)
                .bind(q)
                .bind(count(params.limit))
                .bind(count(params.offset)),
            None => sqlx::query(sql::DEAD_LIST_ALL)
                .bind(count(params.limit))
                .bind(count(params.offset)),
        };
        let rows = query
            .fetch_all(&mut *self.acquire().await?)
            .await
            .map_err(db_err)?;
        rows.iter().map(rows::info).collect()
    }

    async fn dead_requeue(&self, selector: DeadSelector<'_>) -> Result<u64> {
        let requeued = match selector {
            DeadSelector::Ids(ids) => self.by_ids(ids, sql::dead_requeue_ids).await?,
            DeadSelector::All { queue: None } => {
                self.execute(sqlx::query(sql::DEAD_REQUEUE_ALL)).await?
            }
            DeadSelector::All { queue: Some(q) } => {
                self.execute(sqlx::query(sql::DEAD_REQUEUE_QUEUE).bind(q))
                    .await?
            }
        };
        if requeued > 0 {
            self.wake_all(0);
        }
        Ok(requeued)
    }

    async fn dead_purge(&self, selector: DeadSelector<'_>) -> Result<u64> {
        match selector {
            DeadSelector::Ids(ids) => self.by_ids(ids, sql::dead_purge_ids).await,
            DeadSelector::All { queue: None } => {
                self.execute(sqlx::query(sql::DEAD_PURGE_ALL)).await
            }
            DeadSelector::All { queue: Some(q) } => {
                self.execute(sqlx::query(sql::DEAD_PURGE_QUEUE).bind(q))
                    .await
            }
        }
    }

    async fn queue_purge(&self, queue: &str) -> Result<u64> {
        self.execute(sqlx::query(sql::QUEUE_PURGE).bind(queue))
            .await
    }

    async fn queue_pause(&self, queue: &str) -> Result<()> {
        self.execute(sqlx::query(sql::QUEUE_PAUSE).bind(queue))
            .await?;
        Ok(())
    }

    async fn queue_resume(&self, queue: &str) -> Result<()> {
        self.execute(sqlx::query(sql::QUEUE_RESUME).bind(queue))
            .await?;
        self.inner.hub.publish(Wake::Due {
            queue: Some(Arc::from(queue)),
            due_ms: 0,
        });
        Ok(())
    }
}

asynctasq_core::inventory::submit! {
    DriverFactory {
        schemes: asynctasq_core::url::MYSQL.schemes,
        connect: |url| {
            let url = url.to_string();
            Box::pin(async move { Ok(Arc::new(MySqlDriver::connect(&url).await?) as Arc<dyn Driver>) })
        },
    }
}
