//! A driver seen through [`Hooks`]: every call goes to the wrapped driver,
//! and the hooks hear of it before and after. One pass-through for every
//! use: timing a driver's round trips (the benchmarks), holding a call back
//! as a stalled backend would (the conformance suite), changing how waiters
//! hear of work (tests of the waiter).
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::time::Duration;
//! use asynctasq_core::memory::MemoryDriver;
//! use asynctasq_core::observed::{Hooks, Observed, Op};
//!
//! #[derive(Debug, Default)]
//! struct CountClaims(AtomicU64);
//!
//! impl Hooks for CountClaims {
//!     fn after(&self, op: Op, _items: usize, _took: Duration) {
//!         if op == Op::Claim {
//!             self.0.fetch_add(1, Ordering::Relaxed);
//!         }
//!     }
//! }
//!
//! let hooks = Arc::new(CountClaims::default());
//! let driver = Observed::new(Arc::new(MemoryDriver::new()), hooks.clone());
//! # let _ = driver;
//! ```

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sea_orm::DatabaseTransaction;

use crate::driver::Driver;
use crate::error::Result;
use crate::job::{
    Burial, Capabilities, ClaimParams, ClaimedJob, Completion, DeadListParams, DeadSelector,
    ExpiredLease, ExpiredParams, JobId, JobInfo, NewJob, PruneParams, QueueStats, Receipt, Retry,
};
use crate::wake::Wakeups;

/// A [`Driver`] operation, as the [`Hooks`] hear of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// [`Driver::migrate`].
    Migrate,
    /// [`Driver::enqueue`] and [`Driver::enqueue_in`].
    Enqueue,
    /// [`Driver::claim`].
    Claim,
    /// [`Driver::complete`].
    Complete,
    /// [`Driver::retry`].
    Retry,
    /// [`Driver::bury`].
    Bury,
    /// [`Driver::release`].
    Release,
    /// [`Driver::prune_completed`].
    Prune,
    /// [`Driver::extend`].
    Extend,
    /// [`Driver::leases_expired`].
    LeasesExpired,
    /// [`Driver::next_due`]: one look of a waiting worker.
    NextDue,
    /// [`Driver::stats`], [`Driver::job`] and the dead-letter and queue
    /// admin operations.
    Admin,
}

/// What an [`Observed`] driver tells, and asks, around each call. Every
/// method has a default that does nothing.
#[async_trait]
pub trait Hooks: fmt::Debug + Send + Sync + 'static {
    /// Before the call reaches the wrapped driver; the call waits for it
    /// (a test can hold an operation back here).
    async fn before(&self, op: Op) {
        let _ = op;
    }

    /// After the call returned: how many jobs or receipts it carried (for
    /// a claim, how many it returned) and how long it took.
    fn after(&self, op: Op, items: usize, took: Duration) {
        let _ = (op, items, took);
    }

    /// The wake-ups waiters get; the wrapped driver's by default.
    fn wakeups<'a>(&'a self, inner: Wakeups<'a>) -> Wakeups<'a> {
        inner
    }
}

#[async_trait]
impl<H: Hooks> Hooks for Arc<H> {
    async fn before(&self, op: Op) {
        self.as_ref().before(op).await
    }
    fn after(&self, op: Op, items: usize, took: Duration) {
        self.as_ref().after(op, items, took)
    }
    fn wakeups<'a>(&'a self, inner: Wakeups<'a>) -> Wakeups<'a> {
        self.as_ref().wakeups(inner)
    }
}

/// `inner`, with `hooks` told of every call. See the [module docs](self).
#[derive(Debug)]
pub struct Observed<H> {
    inner: Arc<dyn Driver>,
    hooks: H,
}

impl<H: Hooks> Observed<H> {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Driver>, hooks: H) -> Self {
        Observed { inner, hooks }
    }

    /// The wrapped driver.
    pub fn inner(&self) -> &Arc<dyn Driver> {
        &self.inner
    }

    /// Runs `call` between the hooks; `items` counts what it carried.
    async fn observe<T, F>(&self, op: Op, call: F, items: impl FnOnce(&T) -> usize) -> Result<T>
    where
        F: Future<Output = Result<T>> + Send,
    {
        self.hooks.before(op).await;
        let started = Instant::now();
        let result = call.await;
        let n = result.as_ref().map_or(0, items);
        self.hooks.after(op, n, started.elapsed());
        result
    }
}

/// `items` for calls whose size is what they were given.
fn given<T>(n: usize) -> impl FnOnce(&T) -> usize {
    move |_| n
}

#[async_trait]
impl<H: Hooks> Driver for Observed<H> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn migrate(&self) -> Result<()> {
        self.observe(Op::Migrate, self.inner.migrate(), given(0))
            .await
    }
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<()> {
        self.observe(Op::Enqueue, self.inner.enqueue(jobs), given(jobs.len()))
            .await
    }
    async fn enqueue_in(&self, txn: &DatabaseTransaction, jobs: &[NewJob]) -> Result<()> {
        let call = self.inner.enqueue_in(txn, jobs);
        self.observe(Op::Enqueue, call, given(jobs.len())).await
    }
    async fn claim(&self, params: ClaimParams<'_>) -> Result<Vec<ClaimedJob>> {
        self.observe(Op::Claim, self.inner.claim(params), Vec::len)
            .await
    }
    async fn complete(&self, receipts: &[Receipt], completion: Completion) -> Result<u64> {
        let call = self.inner.complete(receipts, completion);
        self.observe(Op::Complete, call, given(receipts.len()))
            .await
    }
    async fn retry(&self, retries: &[Retry]) -> Result<u64> {
        let call = self.inner.retry(retries);
        self.observe(Op::Retry, call, given(retries.len())).await
    }
    async fn bury(&self, burials: &[Burial]) -> Result<u64> {
        let call = self.inner.bury(burials);
        self.observe(Op::Bury, call, given(burials.len())).await
    }
    async fn release(&self, receipts: &[Receipt]) -> Result<u64> {
        let call = self.inner.release(receipts);
        self.observe(Op::Release, call, given(receipts.len())).await
    }
    async fn prune_completed(&self, params: PruneParams) -> Result<u64> {
        let call = self.inner.prune_completed(params);
        self.observe(Op::Prune, call, given(0)).await
    }
    async fn extend(&self, receipts: &[Receipt], lease: Duration) -> Result<Vec<Receipt>> {
        let call = self.inner.extend(receipts, lease);
        self.observe(Op::Extend, call, given(receipts.len())).await
    }
    async fn leases_expired(&self, params: ExpiredParams) -> Result<Vec<ExpiredLease>> {
        let call = self.inner.leases_expired(params);
        self.observe(Op::LeasesExpired, call, Vec::len).await
    }
    async fn next_due(&self, queues: &[String]) -> Result<Option<Duration>> {
        let call = self.inner.next_due(queues);
        self.observe(Op::NextDue, call, given(0)).await
    }
    fn wakeups(&self) -> Wakeups<'_> {
        self.hooks.wakeups(self.inner.wakeups())
    }
    async fn stats(&self, queues: Option<&[String]>) -> Result<Vec<QueueStats>> {
        self.observe(Op::Admin, self.inner.stats(queues), given(0))
            .await
    }
    async fn job(&self, id: JobId) -> Result<Option<JobInfo>> {
        self.observe(Op::Admin, self.inner.job(id), given(0)).await
    }
    async fn dead_list(&self, params: DeadListParams<'_>) -> Result<Vec<JobInfo>> {
        let call = self.inner.dead_list(params);
        self.observe(Op::Admin, call, given(0)).await
    }
    async fn dead_requeue(&self, selector: DeadSelector<'_>) -> Result<u64> {
        let call = self.inner.dead_requeue(selector);
        self.observe(Op::Admin, call, given(0)).await
    }
    async fn dead_purge(&self, selector: DeadSelector<'_>) -> Result<u64> {
        let call = self.inner.dead_purge(selector);
        self.observe(Op::Admin, call, given(0)).await
    }
    async fn queue_purge(&self, queue: &str) -> Result<u64> {
        let call = self.inner.queue_purge(queue);
        self.observe(Op::Admin, call, given(0)).await
    }
    async fn queue_pause(&self, queue: &str) -> Result<()> {
        let call = self.inner.queue_pause(queue);
        self.observe(Op::Admin, call, given(0)).await
    }
    async fn queue_resume(&self, queue: &str) -> Result<()> {
        let call = self.inner.queue_resume(queue);
        self.observe(Op::Admin, call, given(0)).await
    }
}
