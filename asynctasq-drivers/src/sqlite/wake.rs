//! What drivers on one database file share within a process, and how idle
//! workers notice work committed by other processes.
//!
//! * [`Shared`] is keyed by the database's canonical path: every driver on
//!   that file in this process gets the same one, whether built from a URL
//!   or from an application's pool. Its [`WakeHub`] carries in-process
//!   wake-ups (enqueue, release, retry, requeue, resume); its write lock
//!   makes in-process writers queue in tokio instead of in SQLite's busy
//!   handler, which sleeps in steps of milliseconds.
//! * The notifier is a watch task per database file, on a connection of its
//!   own outside the pool: while workers wait, it reads `PRAGMA
//!   data_version` every 2 ms and publishes [`Wake::Changed`] when it moves,
//!   which happens when any *other* connection, in any process, commits.
//!   Reading it touches only the WAL index in shared memory, not the file.
//!   The task stops a second after the last waiter left, or when every
//!   driver on the file is dropped.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use tokio::task::JoinHandle;

use asynctasq_core::wake::{Notifier, Wake, WakeHub};

use super::SqliteDriver;
use super::connect::db_err;

/// How often the watch reads `PRAGMA data_version` while workers wait.
const POLL_INTERVAL: Duration = Duration::from_millis(2);

/// Reads without a waiter (about a second) after which the watch stops.
const IDLE_POLLS: u32 = 500;

/// State shared by every driver on one database file in this process.
#[derive(Debug)]
pub(super) struct Shared {
    /// This process's wake-ups for the database.
    pub(super) hub: Arc<WakeHub>,
    /// Held by in-process writers for the length of one write.
    pub(super) write: tokio::sync::Mutex<()>,
    /// The `data_version` watch, while it runs.
    watch: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

static REGISTRY: LazyLock<Mutex<HashMap<String, Weak<Shared>>>> = LazyLock::new(Default::default);

/// The [`Shared`] of the database identified by `key`.
pub(super) fn shared(key: &str) -> Arc<Shared> {
    let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(shared) = registry.get(key).and_then(Weak::upgrade) {
        return shared;
    }
    registry.retain(|_, weak| weak.strong_count() > 0);
    let shared = Arc::new(Shared {
        hub: WakeHub::new(),
        write: tokio::sync::Mutex::new(()),
        watch: tokio::sync::Mutex::new(None),
    });
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

#[async_trait]
impl Notifier for SqliteDriver {
    /// Starts the file's watch unless it runs. Its first `data_version` is
    /// read before this returns, so every later commit is seen.
    async fn listen(&self, _queues: &[String]) -> bool {
        let shared = &self.inner.shared;
        let mut watch = shared.watch.lock().await;
        if watch.as_ref().is_some_and(|task| !task.is_finished()) {
            return true;
        }
        let options = self.inner.pool.connect_options();
        let opened = async {
            let mut conn = SqliteConnection::connect_with(&options).await?;
            let version = data_version(&mut conn).await?;
            Ok::<_, sqlx::Error>((conn, version))
        };
        match opened.await {
            Ok((conn, version)) => {
                *watch = Some(tokio::spawn(run(Arc::downgrade(shared), conn, version)));
                true
            }
            Err(e) => {
                tracing::warn!(error = %db_err(e), "sqlite: cannot watch data_version; polling");
                false
            }
        }
    }
}

/// The watch: publishes [`Wake::Changed`] when `data_version` moves, while
/// anyone waits; ends when the drivers are gone or nobody waited for a while.
async fn run(shared: Weak<Shared>, mut conn: SqliteConnection, mut version: i64) {
    let mut idle = 0;
    loop {
        tokio::time::sleep(POLL_INTERVAL).await;
        let Some(shared) = shared.upgrade() else {
            break;
        };
        if shared.hub.waiters() == 0 {
            idle += 1;
            if idle >= IDLE_POLLS {
                // Under the lock, so that a waiter either is counted here or
                // finds the watch gone and starts another.
                let mut watch = shared.watch.lock().await;
                if shared.hub.waiters() == 0 {
                    watch.take();
                    break;
                }
            }
            continue;
        }
        idle = 0;
        match data_version(&mut conn).await {
            Ok(now) if now != version => {
                version = now;
                shared.hub.publish(Wake::Changed);
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %db_err(e), "sqlite: data_version watch failed");
                shared.watch.lock().await.take();
                // Waiters look again, and start a new watch.
                shared.hub.publish(Wake::Resync);
                break;
            }
        }
    }
    let _ = conn.close().await;
}

/// The connection's `PRAGMA data_version`.
async fn data_version(conn: &mut SqliteConnection) -> sqlx::Result<i64> {
    sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(conn)
        .await
}

/// Whether the database of `key` ([`database_key`]) is one that only this
/// process can reach: sqlx's in-memory database, or a temporary one of each
/// connection's own. (A URL with `mode=memory` says so itself.)
pub(super) fn is_private(key: &str) -> bool {
    key.is_empty() || key.starts_with(':') || key.starts_with("file:sqlx-in-memory-")
}
