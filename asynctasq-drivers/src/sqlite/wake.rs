//! What drivers on one database file share within a process, and how idle
//! workers notice work committed by other processes.
//!
//! * [`Shared`] is keyed by the database's canonical path: every driver on
//!   that file in this process gets the same one, whether built from a URL
//!   or from an application's pool. Its [`Notify`] carries in-process
//!   wake-ups (enqueue, release, retry, rescue, requeue, resume); its write
//!   lock makes in-process writers queue in tokio instead of in SQLite's busy
//!   handler, which sleeps in steps of milliseconds.
//! * [`Watchers`] are dedicated connections, outside the pool, on which
//!   `PRAGMA data_version` is polled: its value changes when any *other*
//!   connection, in any process, commits to the database. Reading it touches
//!   only the WAL index in shared memory, not the file.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};

use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqlitePool};
use tokio::sync::Notify;

use asynctasq_core::Result;

use super::db_err;

/// State shared by every driver on one database file in this process.
#[derive(Debug, Default)]
pub(super) struct Shared {
    /// Woken after in-process changes that may make work claimable sooner.
    pub(super) notify: Notify,
    /// Held by in-process writers for the length of one write.
    pub(super) write: tokio::sync::Mutex<()>,
}

static REGISTRY: LazyLock<Mutex<HashMap<String, Weak<Shared>>>> = LazyLock::new(Default::default);

/// The [`Shared`] of the database identified by `key`.
pub(super) fn shared(key: &str) -> Arc<Shared> {
    let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(shared) = registry.get(key).and_then(Weak::upgrade) {
        return shared;
    }
    registry.retain(|_, weak| weak.strong_count() > 0);
    let shared = Arc::new(Shared::default());
    registry.insert(key.to_owned(), Arc::downgrade(&shared));
    shared
}

/// Identifies the database that `options` open: the canonical path of a
/// file (so `jobs.db`, `./jobs.db` and a symlink agree), or the name of a
/// shared in-memory database as sqlx generated it.
pub(super) fn database_key(options: &SqliteConnectOptions) -> String {
    let name = options.get_filename();
    let text = name.to_string_lossy();
    if text.is_empty() || text.starts_with(':') || text.starts_with("file:") {
        return text.into_owned();
    }
    std::fs::canonicalize(name)
        .or_else(|_| std::path::absolute(name))
        .unwrap_or_else(|_| Path::new(name).to_path_buf())
        .to_string_lossy()
        .into_owned()
}

const UNKNOWN: u8 = 0;
const FILE: u8 = 1;
const MEMORY: u8 = 2;

/// Most idle watcher connections kept for later waits.
const MAX_IDLE: usize = 4;

/// Connections for `PRAGMA data_version`, one per concurrent wait.
#[derive(Default)]
pub(super) struct Watchers {
    idle: Mutex<Vec<SqliteConnection>>,
    /// Whether the database is a file (watch it) or in memory (nothing to watch).
    kind: AtomicU8,
}

impl fmt::Debug for Watchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let idle = self.idle.lock().map(|v| v.len()).unwrap_or(0);
        f.debug_struct("Watchers")
            .field("idle", &idle)
            .field("kind", &self.kind.load(Ordering::Relaxed))
            .finish()
    }
}

impl Watchers {
    /// A watcher connection, or `None` when the database is in memory
    /// (no other process can reach it, so in-process wake-ups suffice).
    pub(super) async fn take(&self, pool: &SqlitePool) -> Result<Option<SqliteConnection>> {
        if self.kind.load(Ordering::Relaxed) == MEMORY {
            return Ok(None);
        }
        if let Some(conn) = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(Some(conn));
        }
        let mut conn = SqliteConnection::connect_with(&pool.connect_options())
            .await
            .map_err(db_err)?;
        if self.kind.load(Ordering::Relaxed) == UNKNOWN {
            let file: String = sqlx::query_scalar(
                "SELECT COALESCE(file, '') FROM pragma_database_list WHERE name = 'main'",
            )
            .fetch_one(&mut conn)
            .await
            .map_err(db_err)?;
            let kind = if file.is_empty() { MEMORY } else { FILE };
            self.kind.store(kind, Ordering::Relaxed);
            if kind == MEMORY {
                let _ = conn.close().await;
                return Ok(None);
            }
        }
        Ok(Some(conn))
    }

    /// Keeps `conn` for the next wait.
    pub(super) fn give_back(&self, conn: SqliteConnection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }
}

/// The connection's `PRAGMA data_version`.
pub(super) async fn data_version(conn: &mut SqliteConnection) -> Result<i64> {
    sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(conn)
        .await
        .map_err(db_err)
}
