//! The driver contract: what a storage backend must do, and nothing more.
//!
//! A driver is a thin adapter over a database. It knows jobs as rows with a
//! few indexed columns and an opaque payload; it knows nothing of tasks,
//! arguments or sea-orm models. Every operation that a worker runs on many
//! jobs at once takes a batch, so one round trip serves many jobs. Acks take
//! a [`Receipt`]; a driver applies an ack only while the job is still running
//! under that receipt's token (fencing), and reports how many it applied.
//!
//! Every driver passes the same conformance suite
//! (`asynctasq_core::conformance`, feature `conformance`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sea_orm::DatabaseTransaction;

use crate::error::{Error, Result};
use crate::job::{
    Burial, ClaimParams, ClaimedJob, DeadSelector, JobId, JobInfo, NewJob, QueueStats, Receipt,
    RescueReport, Retry,
};

/// A storage backend for jobs.
#[async_trait]
pub trait Driver: fmt::Debug + Send + Sync + 'static {
    /// A short name for logs and errors (`"sqlite"`, `"postgres"`, ...).
    fn name(&self) -> &'static str;

    /// Creates or upgrades the driver's schema. Idempotent.
    async fn migrate(&self) -> Result<()>;

    /// Inserts jobs, atomically as one batch where the backend allows.
    /// Jobs whose `run_at` is in the future are scheduled, the rest ready.
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<()>;

    /// Inserts jobs inside the caller's sea-orm transaction, so that they
    /// exist if and only if it commits. The transaction must be on the
    /// database that holds the jobs. Drivers that are not SQL databases
    /// return [`Error::Unsupported`].
    async fn enqueue_in(&self, txn: &DatabaseTransaction, jobs: &[NewJob]) -> Result<()> {
        let _ = (txn, jobs);
        Err(Error::Unsupported {
            driver: self.name(),
            operation: "enqueueing inside a caller's transaction (dispatch_in)",
        })
    }

    /// Leases up to `params.max` ready jobs from the given, unpaused queues,
    /// highest priority first, then earliest `run_at`, then oldest id.
    /// Each claim counts one attempt. Returns them in that order.
    async fn claim(&self, params: ClaimParams<'_>) -> Result<Vec<ClaimedJob>>;

    /// Deletes completed jobs. Returns how many receipts were still valid.
    async fn complete(&self, receipts: &[Receipt]) -> Result<u64>;

    /// Schedules another attempt of each job at its `run_at`, recording its
    /// error. Returns how many receipts were still valid.
    async fn retry(&self, retries: &[Retry]) -> Result<u64>;

    /// Moves jobs to dead-letter, recording their errors. Returns how many
    /// receipts were still valid.
    async fn bury(&self, burials: &[Burial]) -> Result<u64>;

    /// Returns running jobs to ready without counting the attempt (graceful
    /// shutdown). Returns how many receipts were still valid.
    async fn release(&self, receipts: &[Receipt]) -> Result<u64>;

    /// Deletes a bounded batch of the completed jobs kept longer than the
    /// driver's retention period, oldest first, and returns how many. Only
    /// drivers that can keep completed jobs (`retain_completed`) have any;
    /// the default deletes nothing. Workers call it with the rescue, again
    /// while it finds jobs, a few times per pass.
    async fn prune_completed(&self) -> Result<u64> {
        Ok(0)
    }

    /// Extends the leases of running jobs to `now + lease`. Returns how many
    /// receipts were still valid.
    async fn extend(&self, receipts: &[Receipt], lease: Duration) -> Result<u64>;

    /// Returns jobs whose lease has expired to ready, or to dead-letter when
    /// they have no attempts left.
    async fn rescue_expired(&self) -> Result<RescueReport>;

    /// Waits until one of `queues` may have claimable work (a dispatch, a
    /// scheduled job coming due, a release), or `timeout` passes. May return
    /// early; must not busy-loop.
    async fn wait(&self, queues: &[String], timeout: Duration) -> Result<()>;

    /// Counts jobs by state, for the given queues or for every known queue.
    async fn stats(&self, queues: Option<&[String]>) -> Result<Vec<QueueStats>>;

    /// Looks a job up by the id `dispatch()` returned. Completed jobs are gone.
    async fn job(&self, id: JobId) -> Result<Option<JobInfo>>;

    /// Lists dead jobs, newest failure first.
    async fn dead_list(
        &self,
        queue: Option<&str>,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<JobInfo>>;

    /// Moves dead jobs back to ready with a fresh attempt count. Returns how many.
    async fn dead_requeue(&self, selector: DeadSelector<'_>) -> Result<u64>;

    /// Deletes dead jobs. Returns how many.
    async fn dead_purge(&self, selector: DeadSelector<'_>) -> Result<u64>;

    /// Deletes a queue's ready and scheduled jobs (running ones finish). Returns how many.
    async fn queue_purge(&self, queue: &str) -> Result<u64>;

    /// Stops claims from a queue until [`queue_resume`](Driver::queue_resume).
    async fn queue_pause(&self, queue: &str) -> Result<()>;

    /// Lets claims from a paused queue continue.
    async fn queue_resume(&self, queue: &str) -> Result<()>;
}

/// A future returned by a [`DriverFactory`].
pub type ConnectFuture = Pin<Box<dyn Future<Output = Result<Arc<dyn Driver>>> + Send>>;

/// Registers a driver for URL schemes, so that [`connect`] can build it.
///
/// Driver crates submit one per driver with `inventory::submit!`.
#[derive(Debug)]
pub struct DriverFactory {
    /// URL schemes handled, e.g. `&["sqlite"]`.
    pub schemes: &'static [&'static str],
    /// Builds the driver from a URL.
    pub connect: fn(&str) -> ConnectFuture,
}

inventory::collect!(DriverFactory);

/// Builds the driver for `url`, chosen by its scheme (`sqlite://jobs.db`,
/// `memory://`, `postgres://…`).
pub async fn connect(url: &str) -> Result<Arc<dyn Driver>> {
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or(url);
    let factory = inventory::iter::<DriverFactory>
        .into_iter()
        .find(|f| f.schemes.contains(&scheme));
    match factory {
        Some(f) => (f.connect)(url).await,
        None => {
            let mut known: Vec<&str> = inventory::iter::<DriverFactory>
                .into_iter()
                .flat_map(|f| f.schemes.iter().copied())
                .collect();
            known.sort_unstable();
            Err(Error::UnknownScheme {
                scheme: scheme.to_string(),
                known: if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                },
            })
        }
    }
}
