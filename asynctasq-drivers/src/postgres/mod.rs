//! The Postgres driver: `postgres://user:password@host:5432/database`.
//!
//! # Design
//!
//! Jobs live in one table, `asynctasq_jobs`, with paused queues in
//! `asynctasq_queues` (see [`migrate`](asynctasq_core::Driver::migrate) and
//! `docs/drivers.md` for the schema and the claim statement). A job is `pending` (ready or scheduled,
//! told apart by `run_at`), `running` (leased, with a random fencing token
//! and a deadline), `dead`, or `completed` (kept only when the worker
//! retains completed jobs; otherwise they are deleted).
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
//!   workers only once it is visible (transactional enqueue is correct by
//!   construction). One listening connection per driver (see `wake`) brings
//!   the notifications into the process's wake hub; when it drops, every
//!   waiter is told to look again and it reconnects. A lost notification
//!   costs latency, never a job.
//! - **Time** is the database's clock, so leases mean the same on every host.
//! - **Two pools.** Dispatches and admin commands use the main pool and
//!   commit durably. The worker's claims and acks use a second pool with
//!   generic plans, `jit = off` and, unless
//!   [`synchronous_acks`](PgConfig::synchronous_acks), asynchronous commit.
//! - **Connection loss** (a killed backend, a server restart): a statement
//!   that finds its idle connection dead is retried on another (see
//!   `connect`); statements in flight fail, the worker retries its claims
//!   and acks, and a claim whose answer was lost is rescued when its lease
//!   expires. Nothing is lost; delivery is at-least-once.
//!
//! The insert of a batch is a reusable statement, [`PgInsert`], for
//! transactional enqueue on the application's own transaction.

mod config;
mod connect;
mod driver;
mod insert;
mod rows;
mod schema;
mod sql;
mod wake;

use std::sync::Arc;

use asynctasq_core::{Driver, DriverFactory, Error};

pub use config::PgConfig;
pub use connect::PgDriver;
pub use insert::PgInsert;

/// The driver's name in logs and errors.
const NAME: &str = "postgres";

fn db_err(e: sqlx::Error) -> Error {
    Error::driver(NAME, e)
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
