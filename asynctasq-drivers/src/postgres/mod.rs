//! The Postgres driver: `postgres://user:password@host:5432/database`.
//!
//! # Design
//!
//! Jobs live in one table, `asynctasq_jobs`, with paused queues in
//! `asynctasq_queues` (see [`migrate`](asynctasq_core::Driver::migrate) and
//! `docs/drivers.md` for the schema and the claim statement). A job is `pending` (ready or scheduled,
//! told apart by `run_at`), `running` (leased, with a random fencing token
//! and a deadline) or `dead`; completed jobs are deleted.
//!
//! - **Claims** are one statement: find the due jobs of the unpaused queues
//!   in priority order with `FOR UPDATE SKIP LOCKED` and mark them running,
//!   returning them. It first walks the priority levels of each queue (one
//!   index probe per level) and scans only the levels whose first job is
//!   due, so a backlog of scheduled jobs is never read. Concurrent workers
//!   never wait on each other's rows.
//! - **Acks** (complete, release, extend) take whole batches as arrays and
//!   apply only to rows still running under the receipt's token.
//! - **Wake-ups** use `LISTEN/NOTIFY`: the insert statement notifies, and
//!   Postgres delivers on commit, so a job inserted in a transaction wakes
//!   workers only once it is
//!   visible (transactional enqueue is correct by construction). One
//!   listening connection per driver fans notifications out to its waiters;
//!   when it drops, every waiter returns (so workers claim again) and it
//!   reconnects. Waits are bounded by the next scheduled job and by the
//!   worker's own idle timeout, so a lost notification costs latency, never
//!   a job.
//! - **Time** is the database's clock, so leases mean the same on every host.
//! - **Two pools.** Dispatches and admin commands use the main pool and
//!   commit durably. The worker's claims and acks use a second pool with
//!   generic plans, `jit = off` and, unless
//!   [`synchronous_acks`](PgConfig::synchronous_acks), asynchronous commit.
//! - **Connection loss** (a killed backend, a server restart): a statement
//!   that finds its idle connection dead is retried on another (see
//!   `reconnect`); statements in flight fail, the worker retries its claims
//!   and acks, and a claim whose answer was lost is rescued when its lease
//!   expires. Nothing is lost; delivery is at-least-once.
//!
//! The insert of a batch is a reusable statement, [`PgInsert`], for
//! transactional enqueue on the application's own transaction.

mod insert;
mod listen;
mod reconnect;
mod rows;
mod schema;
mod sql;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};
use tokio::time::Instant;
use uuid::Uuid;

use asynctasq_core::driver::not_extended;
use asynctasq_core::job::{from_millis, to_millis};
use asynctasq_core::{
    Burial, ClaimParams, ClaimedJob, DeadListParams, DeadSelector, Driver, DriverFactory, Error,
    ExpiredLease, ExpiredParams, JobId, JobInfo, NewJob, QueueStats, Receipt, Result, Retry,
};

use crate::support::{Wake, count, millis, non_negative, queue_stats};
use crate::txn::{INSTANCE_QUERY, JobsDatabase};
use asynctasq_core::config::parse_bool;
use asynctasq_core::url::{parse_option, redact as redact_url, split_options as split_url};
pub use insert::PgInsert;
use listen::Hub;
use reconnect::retry_lost;

/// The driver's name in logs and errors.
const NAME: &str = "postgres";

/// Most retained completed jobs deleted by one statement.
const PRUNE_BATCH: i64 = 1000;

/// Longest pause of a waiter that keeps finding due jobs it cannot claim
/// (rows locked by someone else's open transaction).
const MAX_SPIN_PAUSE: Duration = Duration::from_secs(1);

fn db_err(e: sqlx::Error) -> Error {
    Error::driver(NAME, e)
}

/// How to reach Postgres and how the driver behaves.
///
/// Every field can also be set from the URL's query string, next to the
/// usual libpq-style parameters (`sslmode`, `application_name`, ...):
/// `postgres://app@db/jobs?max_connections=20&listen=false&poll_interval=500ms`.
#[derive(Clone, PartialEq, Eq)]
pub struct PgConfig {
    /// The connection URL (`postgres://` or `postgresql://`).
    pub url: String,
    /// Most connections in each of the driver's two pools (default 10):
    /// the main one (dispatches, admin commands) and the worker's, which
    /// connects only when claims and acks run. The listener uses one more.
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
    /// [`connect`](PgDriver::connect) may take (default 2 s); it fails
    /// sooner, with the cause, when the server refuses.
    pub connect_timeout: Duration,
    /// `application_name` of the driver's sessions, to find them in
    /// `pg_stat_activity` (default `asynctasq`; an `application_name` in
    /// the URL wins).
    pub application_name: String,
    /// Wake idle workers with `LISTEN/NOTIFY` (default `true`). Turn it off
    /// behind a transaction-pooling proxy (PgBouncer in transaction mode),
    /// where `LISTEN` does not work; workers then poll.
    pub listen: bool,
    /// How often an idle worker looks for new jobs when it cannot rely on
    /// notifications: `listen` is off or the listener is reconnecting
    /// (default 1 s).
    pub poll_interval: Duration,
    /// Commit the worker's own writes (claims, completions, retries,
    /// dead-letter moves, lease extensions and releases) durably, with
    /// `synchronous_commit = on` (default `false`). When off, those writes
    /// run on a second pool whose sessions start with
    /// `synchronous_commit = off`: a commit returns before its WAL record
    /// reaches disk, which saves a flush per claim and per batch of acks. A
    /// Postgres *server* crash can then forget the last moments of them
    /// (at most `3 × wal_writer_delay`, 600 ms by default), and the jobs
    /// concerned run again — which the at-least-once contract already
    /// allows. Dispatches always commit durably. Turn it on behind a proxy
    /// that refuses startup options.
    pub synchronous_acks: bool,
    /// Keep completed jobs for this long instead of deleting them (default
    /// `None`: deleted on completion). Kept jobs are in state `completed`
    /// (see [`Driver::job`]); the workers' maintenance deletes them once
    /// the period has passed (URL: `retain_completed=1h`).
    pub retain_completed: Option<Duration>,
}

impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConfig")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("min_connections", &self.min_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("application_name", &self.application_name)
            .field("listen", &self.listen)
            .field("poll_interval", &self.poll_interval)
            .field("synchronous_acks", &self.synchronous_acks)
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
    "listen",
    "poll_interval",
    "synchronous_acks",
    "retain_completed",
];

impl PgConfig {
    /// Defaults for `url`, without reading its query string.
    pub fn new(url: impl Into<String>) -> Self {
        PgConfig {
            url: url.into(),
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: crate::sql_connect::DEFAULT_ACQUIRE_TIMEOUT,
            connect_timeout: crate::sql_connect::DEFAULT_CONNECT_TIMEOUT,
            application_name: "asynctasq".to_string(),
            listen: true,
            poll_interval: Duration::from_secs(1),
            synchronous_acks: false,
            retain_completed: None,
        }
    }

    /// Defaults overridden by the driver options in `url`'s query string
    /// (see [`PgConfig`]); the options are removed from [`url`](Self::url).
    ///
    /// ```
    /// use asynctasq_drivers::postgres::PgConfig;
    ///
    /// let config = PgConfig::from_url("postgres://app@db/jobs?sslmode=require&max_connections=4")?;
    /// assert_eq!(config.max_connections, 4);
    /// assert_eq!(config.url, "postgres://app@db/jobs?sslmode=require");
    /// # Ok::<(), asynctasq_core::Error>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Self> {
        let split = split_url(url, URL_OPTIONS);
        let mut config = PgConfig::new(split.database_url);
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
                    config.acquire_timeout =
                        parse_option(NAME, key, value, asynctasq_core::config::parse_duration)?
                }
                "connect_timeout" => {
                    config.connect_timeout =
                        parse_option(NAME, key, value, asynctasq_core::config::parse_duration)?
                }
                "listen" => config.listen = parse_option(NAME, key, value, parse_bool)?,
                "synchronous_acks" => {
                    config.synchronous_acks = parse_option(NAME, key, value, parse_bool)?
                }
                "poll_interval" => {
                    config.poll_interval =
                        parse_option(NAME, key, value, asynctasq_core::config::parse_duration)?
                }
                "retain_completed" => {
                    config.retain_completed = Some(parse_option(
                        NAME,
                        key,
                        value,
                        asynctasq_core::config::parse_duration,
                    )?)
                }
                _ => {}
            }
        }
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        if self.max_connections == 0 {
            return Err(Error::Config(
                "postgres max_connections must be at least 1".into(),
            ));
        }
        if self.poll_interval < Duration::from_millis(10) {
            return Err(Error::Config(
                "postgres poll_interval must be at least 10ms".into(),
            ));
        }
        Ok(())
    }
}

/// The Postgres driver. Cheap to clone; clones share the pool and listener.
///
/// ```no_run
/// # async fn run() -> asynctasq_core::Result<()> {
/// use asynctasq_core::Driver;
/// use asynctasq_drivers::PgDriver;
///
/// let driver = PgDriver::connect("postgres://postgres@127.0.0.1/app").await?;
/// driver.migrate().await?;
/// # Ok(()) }
/// ```
///
/// To share the pool of a sea-orm `DatabaseConnection`, pass
/// `db.get_postgres_connection_pool().clone()` to [`PgDriver::from_pool`].
#[derive(Clone)]
pub struct PgDriver {
    inner: Arc<Inner>,
}

struct Inner {
    /// Dispatches and admin commands: durable commits.
    pool: PgPool,
    /// The worker's claims and acks (see [`PgConfig::synchronous_acks`]).
    worker_pool: PgPool,
    hub: Hub,
    poll_interval: Duration,
    /// See [`PgConfig::retain_completed`].
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

impl fmt::Debug for PgDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgDriver")
            .field("target", &self.inner.target)
            .field("listening", &self.inner.hub.is_listening())
            .finish_non_exhaustive()
    }
}

impl PgDriver {
    /// Connects to `url` (options in its query string: see [`PgConfig`]).
    /// Fails within [`connect_timeout`](PgConfig::connect_timeout), with the
    /// cause, when the server cannot be reached or refuses the session.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(&PgConfig::from_url(url)?).await
    }

    /// Connects with an explicit configuration.
    pub async fn connect_with(config: &PgConfig) -> Result<Self> {
        config.validate()?;
        let target = redact_url(&config.url);
        let mut options = PgConnectOptions::from_str(&config.url)
            .map_err(|e| Error::Config(format!("invalid postgres url `{target}`: {e}")))?;
        if options.get_application_name().is_none() {
            options = options.application_name(&config.application_name);
        }
        // Compiling a plan takes longer than running any of the driver's
        // statements; estimates over a churning queue table can still
        // cross `jit_above_cost`.
        options = options.options([("jit", "off")]);
        let port = options.get_port();
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .min_connections(config.min_connections)
            .acquire_timeout(config.acquire_timeout)
            .test_before_acquire(false);
        let pool = crate::nodelay::on_connect(pool, port);
        let pool =
            crate::sql_connect::connect_pool(NAME, &target, pool, options, config.connect_timeout)
                .await?;
        Ok(Self::build(pool, config, target, None))
    }

    /// The pool for the worker's statements (claims, acks, the rescuer, the
    /// idle check): the connect options of `pool`, plus session settings
    /// for a hot, fixed set of statements:
    /// - `plan_cache_mode = force_generic_plan`: each statement is planned
    ///   once per connection, not on every call (a claim's planning costs
    ///   more than its execution), and the plans do not swing with table
    ///   statistics, which a queue table outruns;
    /// - `jit = off`: estimates over a churning table can exceed
    ///   `jit_above_cost`, and compiling takes longer than running;
    /// - `synchronous_commit = off` unless [`PgConfig::synchronous_acks`].
    ///
    /// Each new connection copies the `search_path` of a connection of
    /// `pool`: an application's pool may set it after connecting (sea-orm's
    /// `set_schema_search_path` does), which the connect options do not
    /// carry, and both pools must see the same tables.
    ///
    /// Connected lazily; see [`reconnect`] for why connections are not
    /// pinged before use.
    fn worker_pool(pool: &PgPool, config: &PgConfig) -> PgPool {
        let synchronous_commit = if config.synchronous_acks { "on" } else { "off" };
        let options = (*pool.connect_options()).clone().options([
            ("plan_cache_mode", "force_generic_plan"),
            ("jit", "off"),
            ("synchronous_commit", synchronous_commit),
        ]);
        let main = pool.clone();
        let port = options.get_port();
        PgPoolOptions::new()
            .max_connections(pool.options().get_max_connections())
            .acquire_timeout(pool.options().get_acquire_timeout())
            .test_before_acquire(false)
            .after_connect(move |conn, _| {
                crate::nodelay::set_on_connections_to(port);
                let main = main.clone();
                Box::pin(async move {
                    let path: String = retry_lost(&main, |pool, _| {
                        sqlx::query_scalar("SELECT current_setting('search_path')").fetch_one(pool)
                    })
                    .await?;
                    sqlx::query("SELECT set_config('search_path', $1, false)")
                        .bind(path)
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            })
            .connect_lazy_with(options)
    }

    /// A driver over an existing pool, e.g. the one of a sea-orm
    /// `DatabaseConnection` (`db.get_postgres_connection_pool().clone()`),
    /// with default settings. The worker's pool (as large as this one) and
    /// the listener open their own connections with the pool's connect
    /// options; the worker's pool also copies its `search_path`.
    pub fn from_pool(pool: PgPool) -> Self {
        Self::from_pool_with(pool, &PgConfig::new(""))
    }

    /// Like [`from_pool`](Self::from_pool), taking `listen`,
    /// `poll_interval`, `synchronous_acks` and `retain_completed` from
    /// `config` (its URL and pool settings are ignored).
    pub fn from_pool_with(pool: PgPool, config: &PgConfig) -> Self {
        let options = pool.connect_options();
        // The application's pool has no hook of ours: treat its connections
        // now and as it opens more (the driver's own pools have the hook).
        let adopted = crate::nodelay::Adopted::new(options.get_port(), pool.size());
        let target = format!(
            "postgres://{}@{}:{}/{}",
            options.get_username(),
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default()
        );
        Self::build(pool, config, target, Some(adopted))
    }

    fn build(
        pool: PgPool,
        config: &PgConfig,
        target: String,
        adopted: Option<crate::nodelay::Adopted>,
    ) -> Self {
        let listen_options = config.listen.then(|| (*pool.connect_options()).clone());
        PgDriver {
            inner: Arc::new(Inner {
                worker_pool: Self::worker_pool(&pool, config),
                hub: Hub::new(listen_options),
                poll_interval: config.poll_interval.max(Duration::from_millis(10)),
                retain_completed: config.retain_completed,
                spins: AtomicU32::new(0),
                jobs_db: JobsDatabase::new(NAME, sea_orm::DbBackend::Postgres, target.clone()),
                target,
                adopted,
                pool,
            }),
        }
    }

    /// The driver's connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    fn pool_ref(&self) -> &PgPool {
        if let Some(adopted) = &self.inner.adopted {
            adopted.check(self.inner.pool.size());
        }
        &self.inner.pool
    }

    fn worker_pool_ref(&self) -> &PgPool {
        &self.inner.worker_pool
    }

    /// Runs a statement returning `(moved, queues woken)` on `pool` and returns `moved`.
    async fn moved<'q>(
        pool: &PgPool,
        query: impl Fn() -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<u64> {
        let row = retry_lost(pool, |pool, _| query().fetch_one(pool))
            .await
            .map_err(db_err)?;
        let moved: i64 = row.try_get(0).map_err(db_err)?;
        Ok(non_negative(moved))
    }

    /// Tells this process's waiters about new jobs when notifications are
    /// not arriving (listening off or reconnecting). Other processes find
    /// them by polling.
    fn wake_locally(&self, jobs: &[NewJob]) {
        if self.inner.hub.is_listening() {
            return;
        }
        for job in jobs {
            self.inner.hub.publish(Wake::Due {
                queue: Some(Arc::from(job.queue.as_str())),
                due_ms: to_millis(job.run_at),
            });
        }
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
}

/// Whether `error` is a duplicate job id: on a retried insert, the rows of
/// the try whose connection was lost, which had committed (ids are fresh
/// UUIDs, and the statement inserts all of its rows or none).
fn is_own_duplicate(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if db.is_unique_violation() && db.constraint() == Some("asynctasq_jobs_pkey"))
}

fn receipt_columns(receipts: &[Receipt]) -> (Vec<Uuid>, Vec<i64>) {
    receipts.iter().map(|r| (r.id.0, r.token)).unzip()
}

#[async_trait]
impl Driver for PgDriver {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn migrate(&self) -> Result<()> {
        schema::migrate(self.pool_ref()).await.map(|_| ())
    }

    async fn enqueue(&self, jobs: &[NewJob]) -> Result<()> {
        let insert = PgInsert::new(jobs);
        retry_lost(self.pool_ref(), |pool, retried| {
            let insert = &insert;
            async move {
                match insert.query().execute(pool).await {
                    // An earlier try committed before its connection was lost.
                    Err(e) if retried && is_own_duplicate(&e) => Ok(Default::default()),
                    other => other,
                }
            }
        })
        .await
        .map_err(db_err)?;
        self.wake_locally(jobs);
        Ok(())
    }

    async fn enqueue_in(&self, txn: &sea_orm::DatabaseTransaction, jobs: &[NewJob]) -> Result<()> {
        let statements = PgInsert::new(jobs).sea_orm_statements();
        let pool = self.pool_ref();
        self.inner
            .jobs_db
            .execute_in(txn, statements, || async move {
                retry_lost(pool, |pool, _| {
                    sqlx::query_scalar(INSTANCE_QUERY).fetch_one(pool)
                })
                .await
            })
            .await
    }

    async fn claim(&self, params: ClaimParams<'_>) -> Result<Vec<ClaimedJob>> {
        if params.max == 0 || params.queues.is_empty() {
            return Ok(Vec::new());
        }
        let token: i64 = rand::random();
        let rows = retry_lost(self.worker_pool_ref(), |pool, _| {
            sqlx::query(sql::CLAIM)
                .bind(params.queues)
                .bind(count(params.max))
                .bind(token)
                .bind(millis(params.lease))
                .bind(params.worker)
                .fetch_all(pool)
        })
        .await
        .map_err(db_err)?;
        let mut claimed = rows
            .iter()
            .map(|row| rows::claimed(row, token))
            .collect::<Result<Vec<_>>>()?;
        claimed.sort_by(|a, b| {
            (std::cmp::Reverse(a.priority), a.run_at, a.job.receipt.id).cmp(&(
                std::cmp::Reverse(b.priority),
                b.run_at,
                b.job.receipt.id,
            ))
        });
        if !claimed.is_empty() {
            self.inner.spins.store(0, Ordering::Relaxed);
        }
        Ok(claimed.into_iter().map(|c| c.job).collect())
    }

    async fn complete(&self, receipts: &[Receipt]) -> Result<u64> {
        if receipts.is_empty() {
            return Ok(0);
        }
        let (ids, tokens) = receipt_columns(receipts);
        let statement = if self.inner.retain_completed.is_some() {
            sql::COMPLETE_RETAINED
        } else {
            sql::COMPLETE
        };
        let done = retry_lost(self.worker_pool_ref(), |pool, _| {
            sqlx::query(statement)
                .bind(&ids)
                .bind(&tokens)
                .execute(pool)
        })
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn retry(&self, retries: &[Retry]) -> Result<u64> {
        if retries.is_empty() {
            return Ok(0);
        }
        let receipts: Vec<Receipt> = retries.iter().map(|r| r.receipt).collect();
        let (ids, tokens) = receipt_columns(&receipts);
        let run_ats: Vec<_> = retries
            .iter()
            .map(|r| from_millis(to_millis(r.run_at)))
            .collect();
        let errors: Vec<String> = retries.iter().map(|r| r.error.to_stored()).collect();
        Self::moved(self.worker_pool_ref(), || {
            sqlx::query(sql::RETRY)
                .bind(&ids)
                .bind(&tokens)
                .bind(&run_ats)
                .bind(&errors)
        })
        .await
    }

    async fn bury(&self, burials: &[Burial]) -> Result<u64> {
        if burials.is_empty() {
            return Ok(0);
        }
        let receipts: Vec<Receipt> = burials.iter().map(|b| b.receipt).collect();
        let (ids, tokens) = receipt_columns(&receipts);
        let errors: Vec<String> = burials.iter().map(|b| b.error.to_stored()).collect();
        let done = retry_lost(self.worker_pool_ref(), |pool, _| {
            sqlx::query(sql::BURY)
                .bind(&ids)
                .bind(&tokens)
                .bind(&errors)
                .execute(pool)
        })
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn release(&self, receipts: &[Receipt]) -> Result<u64> {
        if receipts.is_empty() {
            return Ok(0);
        }
        let (ids, tokens) = receipt_columns(receipts);
        Self::moved(self.worker_pool_ref(), || {
            sqlx::query(sql::RELEASE).bind(&ids).bind(&tokens)
        })
        .await
    }

    async fn extend(&self, receipts: &[Receipt], lease: Duration) -> Result<Vec<Receipt>> {
        if receipts.is_empty() {
            return Ok(Vec::new());
        }
        let (ids, tokens) = receipt_columns(receipts);
        let extended: Vec<Uuid> = retry_lost(self.worker_pool_ref(), |pool, _| {
            sqlx::query_scalar(sql::EXTEND)
                .bind(&ids)
                .bind(&tokens)
                .bind(millis(lease))
                .fetch_all(pool)
        })
        .await
        .map_err(db_err)?;
        let extended: Vec<JobId> = extended.into_iter().map(JobId).collect();
        Ok(not_extended(receipts, &extended))
    }

    async fn prune_completed(&self) -> Result<u64> {
        let Some(retention) = self.inner.retain_completed else {
            return Ok(0);
        };
        let done = retry_lost(self.worker_pool_ref(), |pool, _| {
            sqlx::query(sql::PRUNE_COMPLETED)
                .bind(millis(retention))
                .bind(PRUNE_BATCH)
                .execute(pool)
        })
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn leases_expired(&self, params: ExpiredParams) -> Result<Vec<ExpiredLease>> {
        let limit = i64::try_from(params.limit).unwrap_or(i64::MAX);
        let rows = retry_lost(self.worker_pool_ref(), |pool, _| {
            sqlx::query(sql::EXPIRED)
                .bind(params.now)
                .bind(limit)
                .fetch_all(pool)
        })
        .await
        .map_err(db_err)?;
        rows.iter().map(rows::expired).collect()
    }

    async fn wait(&self, queues: &[String], timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        // Subscribe before reading the database: a job committed after the
        // read is announced to this receiver.
        let mut wakes = self.inner.hub.subscribe();
        let listening = self.inner.hub.ensure_listening();
        let next_due: Option<i64> = retry_lost(self.worker_pool_ref(), |pool, _| {
            sqlx::query_scalar(sql::NEXT_DUE)
                .bind(queues)
                .fetch_one(pool)
        })
        .await
        .map_err(db_err)?;
        if next_due.is_some_and(|ms| ms <= 0) {
            self.spin_pause().await;
            return Ok(());
        }
        self.inner.spins.store(0, Ordering::Relaxed);
        let now = Instant::now();
        let mut until = deadline;
        if let Some(ms) = next_due {
            until = until.min(now + Duration::from_millis(ms.unsigned_abs()));
        }
        if !listening {
            until = until.min(now + self.inner.poll_interval);
        }
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return Ok(()),
                wake = wakes.recv() => match wake {
                    Ok(wake @ Wake::Due { due_ms, .. }) => {
                        if !wake.concerns(queues) {
                            continue;
                        }
                        let delay = due_ms - to_millis(Utc::now());
                        if delay <= 0 {
                            return Ok(());
                        }
                        until = until.min(Instant::now() + Duration::from_millis(delay.unsigned_abs()));
                    }
                    // Resync, a lagging receiver or a closed hub: look again.
                    Ok(Wake::Resync) | Err(_) => return Ok(()),
                },
            }
        }
    }

    async fn stats(&self, queues: Option<&[String]>) -> Result<Vec<QueueStats>> {
        let rows = retry_lost(self.pool_ref(), |pool, _| {
            match queues {
                Some(queues) => sqlx::query(sql::STATS_QUEUES).bind(queues),
                None => sqlx::query(sql::STATS_ALL),
            }
            .fetch_all(pool)
        })
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                let n = |i: usize| row.try_get::<i64, _>(i).map_err(db_err);
                Ok(queue_stats(
                    row.try_get(0).map_err(db_err)?,
                    [n(1)?, n(2)?, n(3)?, n(4)?],
                    row.try_get(5).map_err(db_err)?,
                ))
            })
            .collect()
    }

    async fn job(&self, id: JobId) -> Result<Option<JobInfo>> {
        retry_lost(self.pool_ref(), |pool, _| {
            sqlx::query(sql::JOB).bind(id.0).fetch_optional(pool)
        })
        .await
        .map_err(db_err)?
        .map(|row| rows::info(&row))
        .transpose()
    }

    async fn dead_list(&self, params: DeadListParams<'_>) -> Result<Vec<JobInfo>> {
        let rows = retry_lost(self.pool_ref(), |pool, _| {
            match params.queue {
                Some(q) => sqlx::query(sql::DEAD_LIST_QUEUE)
                    .bind(count(params.limit))
                    .bind(count(params.offset))
                    .bind(q),
                None => sqlx::query(sql::DEAD_LIST_ALL)
                    .bind(count(params.limit))
                    .bind(count(params.offset)),
            }
            .fetch_all(pool)
        })
        .await
        .map_err(db_err)?;
        rows.iter().map(rows::info).collect()
    }

    async fn dead_requeue(&self, selector: DeadSelector<'_>) -> Result<u64> {
        Self::moved(self.pool_ref(), || match selector {
            DeadSelector::Ids(ids) => sqlx::query(sql::DEAD_REQUEUE_IDS)
                .bind(ids.iter().map(|id| id.0).collect::<Vec<Uuid>>()),
            DeadSelector::All { queue: None } => sqlx::query(sql::DEAD_REQUEUE_ALL),
            DeadSelector::All { queue: Some(q) } => sqlx::query(sql::DEAD_REQUEUE_QUEUE).bind(q),
        })
        .await
    }

    async fn dead_purge(&self, selector: DeadSelector<'_>) -> Result<u64> {
        let done = retry_lost(self.pool_ref(), |pool, _| {
            match selector {
                DeadSelector::Ids(ids) => sqlx::query(sql::DEAD_PURGE_IDS)
                    .bind(ids.iter().map(|id| id.0).collect::<Vec<Uuid>>()),
                DeadSelector::All { queue: None } => sqlx::query(sql::DEAD_PURGE_ALL),
                DeadSelector::All { queue: Some(q) } => sqlx::query(sql::DEAD_PURGE_QUEUE).bind(q),
            }
            .execute(pool)
        })
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn queue_purge(&self, queue: &str) -> Result<u64> {
        let done = retry_lost(self.pool_ref(), |pool, _| {
            sqlx::query(sql::QUEUE_PURGE).bind(queue).execute(pool)
        })
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn queue_pause(&self, queue: &str) -> Result<()> {
        retry_lost(self.pool_ref(), |pool, _| {
            sqlx::query(sql::QUEUE_PAUSE).bind(queue).execute(pool)
        })
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn queue_resume(&self, queue: &str) -> Result<()> {
        retry_lost(self.pool_ref(), |pool, _| {
            sqlx::query(sql::QUEUE_RESUME).bind(queue).execute(pool)
        })
        .await
        .map_err(db_err)?;
        if !self.inner.hub.is_listening() {
            self.inner.hub.publish(Wake::Due {
                queue: Some(Arc::from(queue)),
                due_ms: 0,
            });
        }
        Ok(())
    }
}

asynctasq_core::inventory::submit! {
    DriverFactory {
        schemes: asynctasq_core::url::POSTGRES.schemes,
        connect: |url| {
            let url = url.to_string();
            Box::pin(async move { Ok(Arc::new(PgDriver::connect(&url).await?) as Arc<dyn Driver>) })
        },
    }
}
