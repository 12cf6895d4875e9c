//! The MySQL / MariaDB driver: `mysql://user:password@host:3306/database`
//! (`mariadb://` is accepted as a synonym). Needs MySQL 8.0.1+ or MariaDB
//! 10.6+ for `SKIP LOCKED`.
//!
//! # Design
//!
//! The same model as the Postgres driver: one `asynctasq_jobs` table whose
//! rows are `pending` (ready or scheduled, told apart by `run_at`),
//! `running` (leased with a fencing token and a deadline), `dead` or, when
//! the worker keeps them (`Worker::retain_completed`), `completed`; other
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
//!   however many there are (see `claim.rs`).
//! - **Acks** take whole batches, matching exact `(id, lease_token)` pairs
//!   of rows still running (fencing).
//! - **Wake-ups**: MySQL has no `LISTEN/NOTIFY`, so the driver has no
//!   notifier. An idle worker polls with a short interval that doubles
//!   while nothing happens (50 ms up to 1 s by default), each poll one
//!   index probe per queue; and dispatches from the same process wake it at
//!   once through the core hub of the database
//!   ([`WakeHub::shared`](asynctasq_core::wake::WakeHub::shared), keyed by
//!   `mysql://user@host:port/database`).
//! - **Payloads** are `LONGBLOB` (up to 4 GiB; in practice bounded by the
//!   server's `max_allowed_packet`, 16 MiB on MariaDB by default).
//! - **Connection loss** fails the statements in flight; the pool replaces
//!   dead connections, the worker retries, and a claim whose answer was
//!   lost is rescued when its lease expires. Delivery is at-least-once.
//!
//! The insert of a batch is a reusable statement list, [`MySqlInsert`], for
//! transactional enqueue on the application's own transaction.

mod claim;
mod config;
mod connect;
mod driver;
mod insert;
mod rows;
mod schema;
mod sql;

use std::sync::Arc;

use asynctasq_core::{Driver, DriverFactory, Error};

pub use config::MySqlConfig;
pub use connect::MySqlDriver;
pub use insert::{MySqlInsert, MySqlParam, MySqlStatement};

/// The driver's name in logs and errors.
const NAME: &str = "mysql";

fn db_err(e: sqlx::Error) -> Error {
    Error::driver(NAME, e)
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
