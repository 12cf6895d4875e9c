//! A pass-through [`Driver`] that times the calls the worker and the
//! dispatcher make: when the first claim started, how many round trips each
//! operation took and how long they lasted. It changes nothing about what
//! the wrapped driver does; its cost is two clock reads and a few atomic adds
//! per call (not per job).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use asynctasq::core::{
    Burial, ClaimParams, ClaimedJob, DeadListParams, DeadSelector, Driver, ExpiredLease,
    ExpiredParams, JobId, JobInfo, NewJob, QueueStats, Receipt, Result, Retry,
};
use sea_orm::DatabaseTransaction;

/// Calls, items and time of one kind of driver operation.
#[derive(Debug, Default)]
pub struct OpStats {
    calls: AtomicU64,
    items: AtomicU64,
    nanos: AtomicU64,
}

impl OpStats {
    fn record(&self, items: usize, took: Duration) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.items.fetch_add(items as u64, Ordering::Relaxed);
        self.nanos.fetch_add(
            u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Round trips made.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Jobs or receipts they carried.
    pub fn items(&self) -> u64 {
        self.items.load(Ordering::Relaxed)
    }

    /// Total time spent in them.
    pub fn total(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Relaxed))
    }

    fn reset(&self) {
        self.calls.store(0, Ordering::Relaxed);
        self.items.store(0, Ordering::Relaxed);
        self.nanos.store(0, Ordering::Relaxed);
    }
}

/// What the [`TimingDriver`] saw since the last [`reset`](Timings::reset).
#[derive(Debug)]
pub struct Timings {
    base: Instant,
    /// Nanoseconds after `base` at which the first claim since the reset
    /// started, plus one (0 = none yet).
    first_claim: AtomicU64,
    /// `enqueue` calls.
    pub enqueue: OpStats,
    /// `claim` calls.
    pub claim: OpStats,
    /// `claim` calls that returned at least one job.
    pub claim_hits: OpStats,
    /// `complete` calls.
    pub complete: OpStats,
    /// `wait` calls.
    pub wait: OpStats,
    /// `stats` calls.
    pub stats: OpStats,
}

impl Timings {
    fn new() -> Self {
        Timings {
            base: Instant::now(),
            first_claim: AtomicU64::new(0),
            enqueue: OpStats::default(),
            claim: OpStats::default(),
            claim_hits: OpStats::default(),
            complete: OpStats::default(),
            wait: OpStats::default(),
            stats: OpStats::default(),
        }
    }

    /// Forgets everything seen so far.
    pub fn reset(&self) {
        self.first_claim.store(0, Ordering::Relaxed);
        for op in [
            &self.enqueue,
            &self.claim,
            &self.claim_hits,
            &self.complete,
            &self.wait,
            &self.stats,
        ] {
            op.reset();
        }
    }

    /// When the first claim since the last reset started.
    pub fn first_claim(&self) -> Option<Instant> {
        match self.first_claim.load(Ordering::Relaxed) {
            0 => None,
            n => Some(self.base + Duration::from_nanos(n - 1)),
        }
    }
}

/// Wraps a driver and records [`Timings`].
#[derive(Debug)]
pub struct TimingDriver {
    inner: Arc<dyn Driver>,
    timings: Arc<Timings>,
}

impl TimingDriver {
    /// Wraps `inner`; returns the wrapper and a handle on its timings.
    pub fn wrap(inner: Arc<dyn Driver>) -> (Arc<dyn Driver>, Arc<Timings>) {
        let timings = Arc::new(Timings::new());
        let driver = TimingDriver {
            inner,
            timings: timings.clone(),
        };
        (Arc::new(driver), timings)
    }
}

#[async_trait]
impl Driver for TimingDriver {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn migrate(&self) -> Result<()> {
        self.inner.migrate().await
    }

    async fn enqueue(&self, jobs: &[NewJob]) -> Result<()> {
        let start = Instant::now();
        let result = self.inner.enqueue(jobs).await;
        self.timings.enqueue.record(jobs.len(), start.elapsed());
        result
    }

    async fn enqueue_in(&self, txn: &DatabaseTransaction, jobs: &[NewJob]) -> Result<()> {
        self.inner.enqueue_in(txn, jobs).await
    }

    async fn claim(&self, params: ClaimParams<'_>) -> Result<Vec<ClaimedJob>> {
        let start = Instant::now();
        let since = u64::try_from(start.duration_since(self.timings.base).as_nanos())
            .unwrap_or(u64::MAX - 1);
        let _ = self.timings.first_claim.compare_exchange(
            0,
            since + 1,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        let result = self.inner.claim(params).await;
        let took = start.elapsed();
        let got = result.as_ref().map_or(0, Vec::len);
        self.timings.claim.record(got, took);
        if got > 0 {
            self.timings.claim_hits.record(got, took);
        }
        result
    }

    async fn complete(&self, receipts: &[Receipt]) -> Result<u64> {
        let start = Instant::now();
        let result = self.inner.complete(receipts).await;
        self.timings
            .complete
            .record(receipts.len(), start.elapsed());
        result
    }

    async fn retry(&self, retries: &[Retry]) -> Result<u64> {
        self.inner.retry(retries).await
    }

    async fn bury(&self, burials: &[Burial]) -> Result<u64> {
        self.inner.bury(burials).await
    }

    async fn release(&self, receipts: &[Receipt]) -> Result<u64> {
        self.inner.release(receipts).await
    }

    async fn extend(&self, receipts: &[Receipt], lease: Duration) -> Result<Vec<Receipt>> {
        self.inner.extend(receipts, lease).await
    }

    async fn leases_expired(&self, params: ExpiredParams) -> Result<Vec<ExpiredLease>> {
        self.inner.leases_expired(params).await
    }

    async fn wait(&self, queues: &[String], timeout: Duration) -> Result<()> {
        let start = Instant::now();
        let result = self.inner.wait(queues, timeout).await;
        self.timings.wait.record(0, start.elapsed());
        result
    }

    async fn stats(&self, queues: Option<&[String]>) -> Result<Vec<QueueStats>> {
        let start = Instant::now();
        let result = self.inner.stats(queues).await;
        self.timings.stats.record(0, start.elapsed());
        result
    }

    async fn job(&self, id: JobId) -> Result<Option<JobInfo>> {
        self.inner.job(id).await
    }

    async fn dead_list(&self, params: DeadListParams<'_>) -> Result<Vec<JobInfo>> {
        self.inner.dead_list(params).await
    }

    async fn dead_requeue(&self, selector: DeadSelector<'_>) -> Result<u64> {
        self.inner.dead_requeue(selector).await
    }

    async fn dead_purge(&self, selector: DeadSelector<'_>) -> Result<u64> {
        self.inner.dead_purge(selector).await
    }

    async fn queue_purge(&self, queue: &str) -> Result<u64> {
        self.inner.queue_purge(queue).await
    }

    async fn queue_pause(&self, queue: &str) -> Result<()> {
        self.inner.queue_pause(queue).await
    }

    async fn queue_resume(&self, queue: &str) -> Result<()> {
        self.inner.queue_resume(queue).await
    }
}
