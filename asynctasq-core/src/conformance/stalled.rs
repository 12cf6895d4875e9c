//! A driver whose lease extensions stall until a test lets them through:
//! a worker paused (or cut off) for longer than its lease, over a real
//! driver. Every other call goes straight to the driver under test.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sea_orm::DatabaseTransaction;
use tokio::sync::watch;

use crate::driver::Driver;
use crate::error::Result;
use crate::job::{
    Burial, Capabilities, ClaimParams, ClaimedJob, Completion, DeadListParams, DeadSelector,
    ExpiredLease, ExpiredParams, JobId, JobInfo, NewJob, PruneParams, QueueStats, Receipt, Retry,
};
use crate::wake::Wakeups;

/// `inner`, with [`Driver::extend`] held until [`resume`](Self::resume).
#[derive(Debug)]
pub(crate) struct StalledExtend {
    inner: Arc<dyn Driver>,
    open: watch::Sender<bool>,
}

impl StalledExtend {
    /// Extensions stall from the start.
    pub(crate) fn new(inner: Arc<dyn Driver>) -> Self {
        StalledExtend {
            inner,
            open: watch::channel(false).0,
        }
    }

    /// Lets the stalled extensions (and later ones) through.
    pub(crate) fn resume(&self) {
        self.open.send_replace(true);
    }
}

#[async_trait]
impl Driver for StalledExtend {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    async fn migrate(&self) -> Result<()> {
        self.inner.migrate().await
    }
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<()> {
        self.inner.enqueue(jobs).await
    }
    async fn enqueue_in(&self, txn: &DatabaseTransaction, jobs: &[NewJob]) -> Result<()> {
        self.inner.enqueue_in(txn, jobs).await
    }
    async fn claim(&self, params: ClaimParams<'_>) -> Result<Vec<ClaimedJob>> {
        self.inner.claim(params).await
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn complete(&self, receipts: &[Receipt], completion: Completion) -> Result<u64> {
        self.inner.complete(receipts, completion).await
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
    async fn prune_completed(&self, params: PruneParams) -> Result<u64> {
        self.inner.prune_completed(params).await
    }
    async fn extend(&self, receipts: &[Receipt], lease: Duration) -> Result<Vec<Receipt>> {
        // The sender lives in `self`, so the wait ends only when opened.
        let _ = self.open.subscribe().wait_for(|open| *open).await;
        self.inner.extend(receipts, lease).await
    }
    async fn leases_expired(&self, params: ExpiredParams) -> Result<Vec<ExpiredLease>> {
        self.inner.leases_expired(params).await
    }
    async fn next_due(&self, queues: &[String]) -> Result<Option<Duration>> {
        self.inner.next_due(queues).await
    }
    fn wakeups(&self) -> Wakeups<'_> {
        self.inner.wakeups()
    }
    async fn stats(&self, queues: Option<&[String]>) -> Result<Vec<QueueStats>> {
        self.inner.stats(queues).await
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
