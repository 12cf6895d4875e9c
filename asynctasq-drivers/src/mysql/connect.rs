//! The driver's pool: connecting, adopting an application's pool, and
//! running statements on it.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use sqlx::mysql::{MySqlConnectOptions, MySqlRow};
use sqlx::pool::PoolConnection;
use sqlx::{MySql, MySqlPool, Transaction};

use asynctasq_core::url::redact;
use asynctasq_core::wake::{PollInterval, WakeHub};
use asynctasq_core::{DeadSelector, Error, Result};

use super::sql::{Bind, MyQuery, bind_all};
use super::{MySqlConfig, NAME, db_err, sql};
use crate::nodelay::Adopted;
use crate::sql_connect::explained;
use crate::txn::JobsDatabase;

/// Most receipts or ids in one statement.
pub(super) const MAX_LIST: usize = 1000;

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
    pub(super) inner: Arc<Inner>,
}

/// What the clones of a driver share.
pub(super) struct Inner {
    pool: MySqlPool,
    /// This process's wake-ups for the database, shared with every driver
    /// of the process on it.
    pub(super) hub: Arc<WakeHub>,
    /// How often an idle worker polls (MySQL has no `LISTEN`).
    pub(super) poll: PollInterval,
    /// Where the driver connects, password redacted.
    target: String,
    /// For `dispatch_in`: which database the jobs are in.
    pub(super) jobs_db: JobsDatabase,
    /// `TCP_NODELAY` for a pool built by the application (see `nodelay`).
    adopted: Option<Adopted>,
}

impl fmt::Debug for MySqlDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MySqlDriver")
            .field("target", &self.inner.target)
            .finish_non_exhaustive()
    }
}

/// Where `options` lead, without the password: `mysql://user@host:port/db`
/// (or `mysql://user@/path/to/socket/db`); also the database's identity
/// for the wake-up hub.
fn identity(options: &MySqlConnectOptions) -> String {
    let user = options.get_username();
    let database = options.get_database().unwrap_or_default();
    match options.get_socket() {
        Some(socket) => format!("mysql://{user}@{}/{database}", socket.display()),
        None => {
            let (host, port) = (options.get_host(), options.get_port());
            format!("mysql://{user}@{host}:{port}/{database}")
        }
    }
}

impl MySqlDriver {
    /// Connects to `url` (options in its query string: see [`MySqlConfig`]).
    /// Fails within [`connect_timeout`](crate::PoolConfig::connect_timeout), with
    /// the cause, when the server cannot be reached or refuses the login.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(&MySqlConfig::from_url(url)?).await
    }

    /// Connects with an explicit configuration.
    pub async fn connect_with(config: &MySqlConfig) -> Result<Self> {
        config.validate()?;
        let target = redact(&config.url);
        let url = match config.url.strip_prefix("mariadb:") {
            Some(rest) => format!("mysql:{rest}"),
            None => config.url.clone(),
        };
        let options = MySqlConnectOptions::from_str(&url)
            .map_err(|e| Error::Config(format!("invalid mysql url `{target}`: {e}")))?;
        let port = options.get_port();
        let pool = config
            .pool
            .connect(NAME, &target, options, port, |pool| pool)
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
        let adopted = Adopted::new(options.get_port(), pool.size());
        Self::build(pool, config, identity(&options), Some(adopted))
    }

    fn build(
        pool: MySqlPool,
        config: &MySqlConfig,
        target: String,
        adopted: Option<Adopted>,
    ) -> Self {
        let min = config
            .poll_interval_min
            .max(std::time::Duration::from_millis(1));
        MySqlDriver {
            inner: Arc::new(Inner {
                hub: WakeHub::shared(&identity(&pool.connect_options())),
                poll: PollInterval {
                    min,
                    max: config.poll_interval.max(min),
                },
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
    pub(super) fn pool_ref(&self) -> &MySqlPool {
        crate::nodelay::checked(&self.inner.adopted, &self.inner.pool)
    }

    /// A connection of the pool; when none comes, the error says why (see
    /// [`explained`](crate::sql_connect::explained)).
    pub(super) async fn acquire(&self) -> Result<PoolConnection<MySql>> {
        let pool = self.pool_ref();
        explained(pool, pool.acquire()).await.map_err(db_err)
    }

    /// A transaction on a connection of the pool, opened with `statement`
    /// (`BEGIN` when `None`); errors as for [`acquire`](Self::acquire).
    pub(super) async fn begin(
        &self,
        statement: Option<&'static str>,
    ) -> Result<Transaction<'static, MySql>> {
        let pool = self.pool_ref();
        let begun = match statement {
            Some(sql) => explained(pool, pool.begin_with(sql)).await,
            None => explained(pool, pool.begin()).await,
        };
        begun.map_err(db_err)
    }

    /// Runs `query` on a connection of the pool. Returns rows affected.
    pub(super) async fn execute(&self, query: MyQuery<'_>) -> Result<u64> {
        let done = query
            .execute(&mut *self.acquire().await?)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    /// Runs `build(n)` for chunks of `items`, binding the chunk's items.
    /// Returns rows affected.
    pub(super) async fn execute_chunked<T: Bind>(
        &self,
        build: impl Fn(usize) -> String,
        items: &[T],
    ) -> Result<u64> {
        let mut affected = 0;
        for chunk in items.chunks(MAX_LIST) {
            let query = sqlx::query(sqlx::AssertSqlSafe(build(chunk.len())));
            affected += self.execute(bind_all(query, chunk)).await?;
        }
        Ok(affected)
    }

    /// Runs `sql` once per item (each binding its placeholders) in one
    /// transaction: one durable commit for the batch. Returns the rows each
    /// changed.
    pub(super) async fn each_in_transaction<T: Bind>(
        &self,
        sql: &'static str,
        items: &[T],
    ) -> Result<Vec<u64>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin(None).await?;
        let mut applied = Vec::with_capacity(items.len());
        for item in items {
            let done = item.bind(sqlx::query(sql)).execute(&mut *tx).await;
            applied.push(done.map_err(db_err)?.rows_affected());
        }
        tx.commit().await.map_err(db_err)?;
        Ok(applied)
    }

    /// Runs a dead-job statement (`base`, see [`sql::among_ids`]) on the
    /// jobs `selector` picks. Returns how many.
    pub(super) async fn dead(&self, base: &'static str, selector: DeadSelector<'_>) -> Result<u64> {
        match selector {
            DeadSelector::Ids(ids) => {
                let among = |n| sql::among_ids(base, n);
                self.execute_chunked(among, ids).await
            }
            DeadSelector::All { queue: None } => self.execute(sqlx::query(base)).await,
            DeadSelector::All { queue: Some(q) } => {
                let sql = sql::in_queue(base);
                self.execute(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(q))
                    .await
            }
        }
    }

    /// Runs `query` and maps the rows it returns with `map`.
    pub(super) async fn fetch<T>(
        &self,
        query: MyQuery<'_>,
        map: fn(&MySqlRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        let rows = query
            .fetch_all(&mut *self.acquire().await?)
            .await
            .map_err(db_err)?;
        rows.iter().map(map).collect()
    }
}

/// `queues` without duplicates, in order.
pub(super) fn distinct(queues: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(queues.len());
    for q in queues {
        if !out.contains(q) {
            out.push(q.clone());
        }
    }
    out
}
