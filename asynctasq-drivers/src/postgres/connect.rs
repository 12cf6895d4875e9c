//! [`PgDriver`]: its pools, built from a URL or adopted from the
//! application, and the statements that survive lost connections.
//!
//! The driver's pools do not ping a connection before lending it (that is a
//! round trip before every statement, a quarter of a millisecond on an idle
//! machine). A connection that died while idle (`pg_terminate_backend`, a
//! server restart, a proxy timeout) is therefore only found out when a
//! statement fails on it; sqlx then discards it. [`retry_lost`] runs the
//! statement again on another connection, up to once per pooled connection
//! plus one, so that every dead connection left in the pool is used up and
//! replaced before the caller sees an error.

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::query::Query;
use sqlx::{PgPool, Postgres, Row};
use uuid::Uuid;

use asynctasq_core::wake::{Wake, WakeHub};
use asynctasq_core::{Error, JobId, Receipt, Result, Timestamp};

use super::wake::Listener;
use super::{NAME, PgConfig, db_err};
use crate::support::non_negative;
use crate::txn::JobsDatabase;

/// A statement with its arguments bound.
pub(super) type PgQuery<'q> = Query<'q, Postgres, PgArguments>;

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
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    /// Dispatches and admin commands: durable commits.
    pool: PgPool,
    /// The worker's claims and acks (see [`PgConfig::synchronous_acks`]).
    worker_pool: PgPool,
    /// This process's wake-ups for the database.
    pub(super) hub: Arc<WakeHub>,
    /// Brings other processes' notifications into `hub`; `None` when
    /// [`PgConfig::listen`] is off.
    pub(super) listener: Option<Listener>,
    pub(super) poll_interval: Duration,
    /// Where the driver connects, password redacted.
    target: String,
    /// For `dispatch_in`: which database the jobs are in.
    pub(super) jobs_db: JobsDatabase,
    /// `TCP_NODELAY` for a pool built by the application (see `nodelay`).
    adopted: Option<crate::nodelay::Adopted>,
}

impl fmt::Debug for PgDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgDriver")
            .field("target", &self.inner.target)
            .field("listening", &self.listening())
            .finish_non_exhaustive()
    }
}

impl PgDriver {
    /// Connects to `url` (options in its query string: see [`PgConfig`]).
    /// Fails within [`connect_timeout`](crate::PoolConfig::connect_timeout), with the
    /// cause, when the server cannot be reached or refuses the session.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(&PgConfig::from_url(url)?).await
    }

    /// Connects with an explicit configuration.
    pub async fn connect_with(config: &PgConfig) -> Result<Self> {
        config.validate()?;
        let target = asynctasq_core::url::redact(&config.url);
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
        let pool = config
            .pool
            .connect(NAME, &target, options, port, |pool| {
                pool.test_before_acquire(false)
            })
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
    /// Connected lazily; see the module docs for why connections are not
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
    /// `poll_interval` and `synchronous_acks` from `config` (its URL and
    /// pool settings are ignored).
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
        let options = pool.connect_options();
        let hub = WakeHub::shared(&identity(&options));
        let listener = config
            .listen
            .then(|| Listener::new((*options).clone(), hub.clone()));
        PgDriver {
            inner: Arc::new(Inner {
                worker_pool: Self::worker_pool(&pool, config),
                hub,
                listener,
                poll_interval: config.poll_interval.max(Duration::from_millis(10)),
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

    /// The main pool, for dispatches and admin commands.
    pub(super) fn main(&self) -> &PgPool {
        crate::nodelay::checked(&self.inner.adopted, &self.inner.pool)
    }

    /// The worker's pool, for claims and acks.
    pub(super) fn worker(&self) -> &PgPool {
        &self.inner.worker_pool
    }

    /// Whether the listener is receiving notifications right now: when it
    /// is, this driver's own writes reach the hub through it.
    pub(super) fn listening(&self) -> bool {
        self.inner
            .listener
            .as_ref()
            .is_some_and(Listener::is_listening)
    }

    /// The hub, for this driver's own writes while the listener is not
    /// bringing their notifications (listening off or reconnecting).
    pub(super) fn local_hub(&self) -> Option<&WakeHub> {
        (!self.listening()).then_some(&*self.inner.hub)
    }

    /// Tells this process's waiters (see [`local_hub`](Self::local_hub))
    /// that `moved` jobs of `queue` (of any queue when `None`) are due at `at`.
    pub(super) fn wake_locally(&self, moved: u64, queue: Option<&str>, at: Timestamp) {
        if let Some(hub) = self.local_hub().filter(|_| moved > 0) {
            let queue = queue.map(Arc::from);
            hub.publish(Wake::Due { queue, at });
        }
    }
}

/// The hub's key for the database behind `options`: where it is and the
/// `search_path` its sessions start with, never who logs in.
fn identity(options: &PgConnectOptions) -> String {
    let search_path = options
        .get_options()
        .and_then(|o| o.split(' ').find(|s| s.starts_with("search_path=")))
        .unwrap_or_default();
    format!(
        "postgres://{}:{}/{}?{search_path}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default()
    )
}

/// Runs `query` on `pool` (again while its connection is lost) and returns
/// the rows it changed.
pub(super) async fn execute<'q>(pool: &PgPool, query: impl Fn() -> PgQuery<'q>) -> Result<u64> {
    let done = retry_lost(pool, |pool, _| query().execute(pool))
        .await
        .map_err(db_err)?;
    Ok(done.rows_affected())
}

/// Runs `query` on `pool` (again while its connection is lost) and returns its rows.
pub(super) async fn fetch_all<'q>(
    pool: &PgPool,
    query: impl Fn() -> PgQuery<'q>,
) -> Result<Vec<PgRow>> {
    retry_lost(pool, |pool, _| query().fetch_all(pool))
        .await
        .map_err(db_err)
}

/// Runs a statement returning `(moved, queues woken)` on `pool` and returns `moved`.
pub(super) async fn moved<'q>(pool: &PgPool, query: impl Fn() -> PgQuery<'q>) -> Result<u64> {
    let row = retry_lost(pool, |pool, _| query().fetch_one(pool))
        .await
        .map_err(db_err)?;
    Ok(non_negative(row.try_get(0).map_err(db_err)?))
}

/// The ids and tokens of `receipts`, the `$1` and `$2` of fenced statements.
pub(super) fn receipt_columns<'a>(
    receipts: impl IntoIterator<Item = &'a Receipt>,
) -> (Vec<Uuid>, Vec<i64>) {
    receipts.into_iter().map(|r| (r.id.0, r.token)).unzip()
}

/// The ids of `ids`, for `$1::uuid[]`.
pub(super) fn uuids(ids: &[JobId]) -> Vec<Uuid> {
    ids.iter().map(|id| id.0).collect()
}

/// Whether `error` is a duplicate job id: on a retried insert, the rows of
/// the try whose connection was lost, which had committed (ids are fresh
/// UUIDs, and the statement inserts all of its rows or none).
pub(super) fn is_own_duplicate(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if db.is_unique_violation() && db.constraint() == Some("asynctasq_jobs_pkey"))
}

/// SQLSTATE classes that mean the session is gone: `admin_shutdown`
/// (`pg_terminate_backend`), `crash_shutdown`, `cannot_connect_now`.
const SESSION_GONE: &[&str] = &["57P01", "57P02", "57P03"];

/// Whether `error` says the connection was lost (the statement may or may
/// not have run) rather than that the statement itself failed.
fn connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| SESSION_GONE.contains(&&*c)),
        _ => false,
    }
}

/// Runs `op` on `pool`, again while it fails with a lost connection. `op`
/// receives `retried`: `true` when an earlier try lost its connection and
/// so may have committed (the insert uses this to recognise its own rows).
/// When no connection can be had, the error says why (see
/// [`explained`](crate::sql_connect::explained)).
pub(super) async fn retry_lost<'p, T, F, Fut>(
    pool: &'p PgPool,
    mut op: F,
) -> std::result::Result<T, sqlx::Error>
where
    F: FnMut(&'p PgPool, bool) -> Fut,
    Fut: Future<Output = std::result::Result<T, sqlx::Error>> + 'p,
{
    let mut tries_left = pool.options().get_max_connections() + 1;
    let mut retried = false;
    crate::sql_connect::explained(pool, async {
        loop {
            match op(pool, retried).await {
                Err(e) if tries_left > 1 && connection_lost(&e) => {
                    tracing::debug!(error = %e, "postgres connection lost; retrying on another");
                    tries_left -= 1;
                    retried = true;
                }
                other => return other,
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_lost_connections_but_statement_errors_are_not() {
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(connection_lost(&io));
        assert!(!connection_lost(&sqlx::Error::RowNotFound));
        assert!(!connection_lost(&sqlx::Error::PoolTimedOut));
    }

    #[test]
    fn the_hub_identity_names_the_database_and_schema_but_not_the_login() {
        let options: PgConnectOptions = "postgres://u:secret@h:5433/app?options[search_path]=s1"
            .parse()
            .unwrap();
        let id = identity(&options.options([("jit", "off")]));
        assert_eq!(id, "postgres://h:5433/app?search_path=s1");
    }
}
