//! Opening the database (the pool, WAL), the driver built on a pool, and
//! running writes: one at a time per process, under the shared write lock,
//! on the driver's one writer connection.

use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    Sqlite, SqliteArguments, SqliteConnectOptions, SqliteConnection, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use tokio::time::Instant;

use asynctasq_core::wake::WakeHub;
use asynctasq_core::{Error, Result};
use sea_orm::DbBackend;

use super::wake::{self, Shared};
use super::{NAME, config};
use crate::txn::JobsDatabase;

/// Connections in the pool that [`SqliteDriver::connect`] opens.
const MAX_CONNECTIONS: u32 = 8;

/// How long a statement waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A statement with its binds.
pub(super) type Query<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments>;

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
#[derive(Clone, Debug)]
pub struct SqliteDriver {
    pub(super) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(super) struct Inner {
    pub(super) pool: SqlitePool,
    /// What drivers on the same file in this process share.
    pub(super) shared: Arc<Shared>,
    /// Only this process can reach the database (in memory): every change
    /// passes through the hub, there is nothing to watch.
    pub(super) private: bool,
    /// For `dispatch_in`: which database the jobs are in.
    pub(super) jobs_db: JobsDatabase,
    /// The pool connection every write of this driver runs on, taken at the
    /// first write. One connection keeps its page cache warm from write to
    /// write; writes on a different connection each time find the pages the
    /// last one changed stale and read them again.
    writer: tokio::sync::Mutex<Option<PoolConnection<Sqlite>>>,
}

/// This process's turn to write (the file's write lock), on the driver's
/// writer connection.
pub(super) struct WriteTurn<'a> {
    _turn: tokio::sync::MutexGuard<'a, ()>,
    writer: tokio::sync::MutexGuard<'a, Option<PoolConnection<Sqlite>>>,
}

impl WriteTurn<'_> {
    /// The writer connection.
    pub(super) fn conn(&mut self) -> &mut SqliteConnection {
        self.writer
            .as_mut()
            .expect("a write turn holds its connection")
    }

    /// `result` as this driver's error; a failed write gives its connection
    /// back, so the next write starts on a fresh one.
    pub(super) fn checked<T>(&mut self, result: sqlx::Result<T>) -> Result<T> {
        if result.is_err() {
            self.writer.take();
        }
        result.map_err(db_err)
    }
}

pub(super) fn db_err(e: sqlx::Error) -> Error {
    Error::driver(NAME, e)
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
    /// The schema is not created here: call [`migrate`](asynctasq_core::Driver::migrate)
    /// (the `Client` does unless auto-migrate is off).
    pub async fn connect(url: &str) -> Result<Self> {
        let config::SqliteUrl {
            options,
            mode,
            memory,
        } = config::parse(url)?;
        let mut options = options
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT);
        if mode.is_none() && !memory {
            options = options.create_if_missing(true);
        }
        if !memory && mode.as_deref() != Some("ro") {
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
        Ok(Self::on_pool(pool, memory))
    }

    /// Uses an existing pool, for example the application's own
    /// (`sea_orm::DatabaseConnection::get_sqlite_connection_pool()`), so jobs
    /// and business rows share one database and one configuration.
    ///
    /// The pool is used as configured: it should be in WAL mode with a busy
    /// timeout, and have more than one connection: the driver keeps one of
    /// them for its writes from its first write on, and reads (stats, job
    /// lookups, the idle worker's next-due probe) use the others. Wake-ups
    /// across processes open one extra connection with the pool's options.
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self::on_pool(pool, false)
    }

    fn on_pool(pool: SqlitePool, memory: bool) -> Self {
        let key = wake::database_key(&pool.connect_options());
        SqliteDriver {
            inner: Arc::new(Inner {
                shared: wake::shared(&key),
                private: memory || wake::is_private(&key),
                jobs_db: JobsDatabase::new(NAME, DbBackend::Sqlite, format!("sqlite://{key}")),
                pool,
                writer: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// A driver on the pool of the application's own sea-orm connection, so
    /// that queries, jobs and model re-fetching share one pool and
    /// `dispatch_in(&txn)` writes to the same file. Fails if `db` is not SQLite.
    pub fn from_sea_orm(db: &sea_orm::DatabaseConnection) -> Result<Self> {
        match db.get_database_backend() {
            DbBackend::Sqlite => Ok(Self::from_pool(db.get_sqlite_connection_pool().clone())),
            other => Err(Error::Config(format!(
                "SqliteDriver::from_sea_orm needs a SQLite connection, got {other:?}"
            ))),
        }
    }

    /// The pool this driver runs on.
    pub fn pool(&self) -> &SqlitePool {
        &self.inner.pool
    }

    /// This process's wake-ups for the database.
    pub(super) fn hub(&self) -> &WakeHub {
        &self.inner.shared.hub
    }

    /// Waits for this process's turn to write.
    pub(super) async fn write_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.shared.write.lock().await
    }

    /// Waits for this process's turn to write, on the writer connection.
    pub(super) async fn write_turn(&self) -> Result<WriteTurn<'_>> {
        let turn = self.write_lock().await;
        let mut writer = self.inner.writer.lock().await;
        if writer.is_none() {
            *writer = Some(self.inner.pool.acquire().await.map_err(db_err)?);
        }
        Ok(WriteTurn {
            _turn: turn,
            writer,
        })
    }

    /// Runs `query` in its turn; returns the rows it changed.
    pub(super) async fn write(&self, query: Query<'_>) -> Result<u64> {
        let mut turn = self.write_turn().await?;
        let done = query.execute(turn.conn()).await;
        Ok(turn.checked(done)?.rows_affected())
    }

    /// Runs the ack `sql` with the JSON array `acks` as `?1`, unless it is
    /// empty; returns the rows it changed.
    pub(super) async fn ack(&self, sql: &'static str, acks: String) -> Result<u64> {
        if acks == "[]" {
            return Ok(0);
        }
        self.write(sqlx::query(sql).bind(acks)).await
    }

    /// Runs `queries` in one transaction, in its turn; returns the rows they changed.
    pub(super) async fn write_all<'q>(
        &self,
        queries: impl Iterator<Item = Query<'q>>,
    ) -> Result<u64> {
        let mut turn = self.write_turn().await?;
        let written = async {
            let mut tx = turn.conn().begin().await?;
            let mut done = 0;
            for query in queries {
                done += query.execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
            Ok(done)
        }
        .await;
        turn.checked(written)
    }
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

/// `SQLITE_BUSY` or `SQLITE_LOCKED`, extended codes included.
fn is_busy(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|code| matches!(code & 0xff, 5 | 6))
}
