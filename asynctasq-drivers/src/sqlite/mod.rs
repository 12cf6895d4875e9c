//! The embedded SQLite driver: a job queue in one file, no server.
//!
//! # Design
//!
//! * **One table, compare-and-set transitions.** Jobs live in
//!   `asynctasq_jobs`; ready and scheduled are both `state = 'pending'`, told
//!   apart by `run_at` against the clock. Every ack (`complete`, `retry`,
//!   `bury`, `release`, `extend`) matches `state = 'running'` *and* the lease
//!   token of the claim, so a stale receipt changes nothing (fencing). Pauses
//!   live in `asynctasq_queues`. Completed jobs are deleted (no retention).
//! * **WAL and one writer.** [`SqliteDriver::connect`] opens the file in WAL
//!   mode with `synchronous = NORMAL` and a 5 s busy timeout: readers never
//!   block the writer, and a commit costs no fsync of the database file.
//!   SQLite has one writer at a time, so every write is a single short
//!   statement (or a short transaction that starts by writing), and writers
//!   of this process queue on an async lock instead of SQLite's busy handler.
//!   A driver runs all its writes on one pool connection, kept from the first
//!   write on: its page cache stays warm, where a different connection per
//!   write would find the pages the last write changed stale and read them
//!   again (about 20 % of a drain's throughput).
//! * **Batch claim in one statement.** A claim is one `UPDATE … WHERE rowid IN
//!   (SELECT … ORDER BY priority DESC, run_at, id LIMIT n) RETURNING …`, each
//!   queue being a range scan of a partial index, so claiming is O(log n)
//!   whatever the backlog. Acks of many jobs are one statement too: the
//!   receipts travel as one JSON array joined with `json_each`.
//! * **Wake-ups without polling the table.** Drivers on one file in this
//!   process share a [`WakeHub`](asynctasq_core::wake::WakeHub) for their own
//!   writes; other processes' commits reach it through a watch of `PRAGMA
//!   data_version` (see `wake.rs`). The core waiter then re-reads the earliest
//!   due time, so commits that bring no claimable work (another queue's
//!   completions, a job scheduled for later) do not send a worker to claim.
//!   An in-memory database has nothing to watch.
//!
//! # Sharing the application's database
//!
//! [`SqliteDriver::from_pool`] takes an existing [`SqlitePool`](sqlx::SqlitePool), for example
//! the one behind a sea-orm `DatabaseConnection`
//! (`db.get_sqlite_connection_pool()`), so jobs and business rows live in one
//! file. The pool's own settings then apply: give it WAL, a busy timeout and
//! more than one connection.

mod config;
mod connect;
mod driver;
mod rows;
mod schema;
mod sql;
mod wake;

use std::sync::Arc;

use asynctasq_core::driver::ConnectFuture;
use asynctasq_core::{Driver, DriverFactory};

pub use connect::SqliteDriver;

/// The driver's name in logs and errors.
const NAME: &str = "sqlite";

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
