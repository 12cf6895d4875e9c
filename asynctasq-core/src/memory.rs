//! An in-process driver: jobs live in a map behind a mutex and vanish with
//! the process. For tests and experiments; it follows the same contract (and
//! passes the same conformance suite) as the durable drivers. It lives in
//! core so that core's own tests (the worker's, the services') have a
//! driver; `asynctasq_drivers::MemoryDriver` re-exports it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;

use crate::driver::{Driver, DriverFactory};
use crate::error::Result;
use crate::job::{
    AttemptError, Burial, ClaimParams, ClaimedJob, Completion, DeadListParams, DeadSelector,
    ExpiredLease, ExpiredParams, JobId, JobInfo, JobState, NewJob, QueueStats, Receipt, Retry,
    from_millis, to_millis,
};
use crate::wake::{WakeHub, Wakeups};

/// A driver that keeps jobs in memory.
///
/// `memory://` URLs each create a fresh, empty store.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> asynctasq_core::Result<()> {
/// use asynctasq_core::memory::MemoryDriver;
/// use asynctasq_core::Driver;
///
/// let driver = MemoryDriver::new();
/// assert!(driver.stats(None).await?.is_empty());
/// # Ok(()) }
/// ```
#[derive(Debug, Default, Clone)]
pub struct MemoryDriver {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<Store>,
    /// Every change passes through here: nothing outside this process sees
    /// the store, so waiters never poll.
    hub: Arc<WakeHub>,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            state: Mutex::default(),
            hub: WakeHub::new(),
        }
    }
}

#[derive(Debug, Default)]
struct Store {
    jobs: HashMap<JobId, Row>,
    paused: HashSet<String>,
}

#[derive(Debug, Clone)]
struct Row {
    job: NewJob,
    state: Stored,
    run_at: i64,
    attempt: u32,
    token: i64,
    lease_until: i64,
    errors: Vec<AttemptError>,
    failed_at: i64,
    created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    Pending,
    Running,
    Dead,
}

impl MemoryDriver {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn now_ms() -> i64 {
    to_millis(Utc::now())
}

impl Row {
    fn info(&self, now: i64) -> JobInfo {
        let state = match self.state {
            Stored::Pending if self.run_at > now => JobState::Scheduled,
            Stored::Pending => JobState::Ready,
            Stored::Running => JobState::Running,
            Stored::Dead => JobState::Dead,
        };
        JobInfo {
            id: self.job.id,
            task: self.job.task.clone(),
            queue: self.job.queue.clone(),
            state,
            attempt: self.attempt,
            max_attempts: self.job.max_attempts,
            priority: self.job.priority,
            run_at: from_millis(self.run_at),
            created_at: from_millis(self.created_at),
            errors: self.errors.clone(),
        }
    }

    /// The running job as its claim (also what an expired lease reports).
    fn claim(&self) -> ClaimedJob {
        ClaimedJob {
            receipt: Receipt {
                id: self.job.id,
                token: self.token,
            },
            task: self.job.task.clone(),
            queue: self.job.queue.clone(),
            attempt: self.attempt,
            max_attempts: self.job.max_attempts,
            payload: self.job.payload.clone(),
        }
    }

    fn holds(&self, receipt: &Receipt) -> bool {
        self.state == Stored::Running && self.token == receipt.token
    }
}

impl Store {
    fn running(&mut self, receipt: &Receipt) -> Option<&mut Row> {
        self.jobs.get_mut(&receipt.id).filter(|r| r.holds(receipt))
    }

    /// Applies `apply` to the row of each ack whose receipt still holds its
    /// job (fencing); returns how many.
    fn ack<T>(
        &mut self,
        acks: &[T],
        receipt: fn(&T) -> &Receipt,
        mut apply: impl FnMut(&mut Row, &T),
    ) -> u64 {
        let mut done = 0;
        for ack in acks {
            if let Some(row) = self.running(receipt(ack)) {
                apply(row, ack);
                done += 1;
            }
        }
        done
    }

    fn dead_ids(&self, selector: DeadSelector<'_>) -> Vec<JobId> {
        match selector {
            DeadSelector::Ids(ids) => ids
                .iter()
                .filter(|id| self.jobs.get(id).is_some_and(|r| r.state == Stored::Dead))
                .copied()
                .collect(),
            DeadSelector::All { queue } => self
                .jobs
                .values()
                .filter(|r| r.state == Stored::Dead && queue.is_none_or(|q| r.job.queue == q))
                .map(|r| r.job.id)
                .collect(),
        }
    }
}

#[async_trait]
impl Driver for MemoryDriver {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn migrate(&self) -> Result<()> {
        Ok(())
    }

    async fn enqueue(&self, jobs: &[NewJob]) -> Result<()> {
        let now = now_ms();
        let mut store = self.store();
        for job in jobs {
            store.jobs.insert(
                job.id,
                Row {
                    job: job.clone(),
                    state: Stored::Pending,
                    run_at: to_millis(job.run_at),
                    attempt: 0,
                    token: 0,
                    lease_until: 0,
                    errors: Vec::new(),
                    failed_at: 0,
                    created_at: now,
                },
            );
        }
        drop(store);
        self.inner.hub.publish_enqueued(jobs);
        Ok(())
    }

    async fn claim(&self, params: ClaimParams<'_>) -> Result<Vec<ClaimedJob>> {
        let now = now_ms();
        let token: i64 = rand::random();
        let lease_until = now + params.lease.as_millis() as i64;
        let mut store = self.store();
        let Store { jobs, paused } = &mut *store;
        let mut ready: Vec<&mut Row> = jobs
            .values_mut()
            .filter(|r| {
                r.state == Stored::Pending
                    && r.run_at <= now
                    && params.queues.contains(&r.job.queue)
                    && !paused.contains(&r.job.queue)
            })
            .collect();
        ready.sort_by_key(|r| (std::cmp::Reverse(r.job.priority), r.run_at, r.job.id));
        Ok(ready
            .into_iter()
            .take(params.max)
            .map(|row| {
                row.state = Stored::Running;
                row.attempt += 1;
                row.token = token;
                row.lease_until = lease_until;
                row.claim()
            })
            .collect())
    }

    /// Deletes the jobs: the memory driver keeps no completed jobs
    /// (`Completion::Keep` deletes too).
    async fn complete(&self, receipts: &[Receipt], _completion: Completion) -> Result<u64> {
        let mut store = self.store();
        let held: Vec<JobId> = receipts
            .iter()
            .filter(|r| store.running(r).is_some())
            .map(|r| r.id)
            .collect();
        for id in &held {
            store.jobs.remove(id);
        }
        Ok(held.len() as u64)
    }

    async fn retry(&self, retries: &[Retry]) -> Result<u64> {
        let done = self.store().ack(
            retries,
            |r| &r.receipt,
            |row, retry| {
                row.state = Stored::Pending;
                row.run_at = to_millis(retry.run_at);
                row.errors.push(retry.error.as_stored());
            },
        );
        if done > 0 {
            self.inner.hub.publish_all_due();
        }
        Ok(done)
    }

    async fn bury(&self, burials: &[Burial]) -> Result<u64> {
        Ok(self.store().ack(
            burials,
            |b| &b.receipt,
            |row, burial| {
                row.state = Stored::Dead;
                row.failed_at = to_millis(burial.error.at);
                row.errors.push(burial.error.as_stored());
            },
        ))
    }

    async fn release(&self, receipts: &[Receipt]) -> Result<u64> {
        let released = self.store().ack(
            receipts,
            |r| r,
            |row, _| {
                row.state = Stored::Pending;
                row.attempt = row.attempt.saturating_sub(1);
            },
        );
        self.inner.hub.publish_all_due();
        Ok(released)
    }

    async fn extend(&self, receipts: &[Receipt], lease: Duration) -> Result<Vec<Receipt>> {
        let until = now_ms() + lease.as_millis() as i64;
        let mut store = self.store();
        let mut lost = Vec::new();
        for r in receipts {
            match store.running(r) {
                Some(row) => row.lease_until = until,
                None => lost.push(*r),
            }
        }
        Ok(lost)
    }

    async fn leases_expired(&self, params: ExpiredParams) -> Result<Vec<ExpiredLease>> {
        let now = params.now.map_or_else(now_ms, to_millis);
        let store = self.store();
        let mut expired: Vec<&Row> = store
            .jobs
            .values()
            .filter(|r| r.state == Stored::Running && r.lease_until < now)
            .collect();
        expired.sort_by_key(|r| (r.lease_until, r.job.id));
        Ok(expired
            .into_iter()
            .take(params.limit)
            .map(Row::claim)
            .collect())
    }

    async fn next_due(&self, queues: &[String]) -> Result<Option<Duration>> {
        let now = now_ms();
        let store = self.store();
        let next_due = store
            .jobs
            .values()
            .filter(|r| {
                r.state == Stored::Pending
                    && queues.contains(&r.job.queue)
                    && !store.paused.contains(&r.job.queue)
            })
            .map(|r| r.run_at)
            .min();
        Ok(next_due.map(|at| Duration::from_millis(at.saturating_sub(now).max(0) as u64)))
    }

    fn wakeups(&self) -> Wakeups<'_> {
        Wakeups {
            hub: &self.inner.hub,
            notifier: None,
            poll: None,
        }
    }

    async fn stats(&self, queues: Option<&[String]>) -> Result<Vec<QueueStats>> {
        let now = now_ms();
        let store = self.store();
        let mut by_queue: HashMap<String, QueueStats> = HashMap::new();
        let wanted = |q: &str| queues.is_none_or(|qs| qs.iter().any(|w| w == q));
        for name in queues.unwrap_or_default().iter().chain(store.paused.iter()) {
            if wanted(name) {
                by_queue.entry(name.clone()).or_insert_with(|| QueueStats {
                    queue: name.clone(),
                    ..Default::default()
                });
            }
        }
        for row in store.jobs.values().filter(|r| wanted(&r.job.queue)) {
            let s = by_queue
                .entry(row.job.queue.clone())
                .or_insert_with(|| QueueStats {
                    queue: row.job.queue.clone(),
                    ..Default::default()
                });
            match row.info(now).state {
                JobState::Scheduled => s.scheduled += 1,
                JobState::Ready => s.ready += 1,
                JobState::Running => s.running += 1,
                JobState::Dead => s.dead += 1,
                // The memory driver deletes completed jobs.
                JobState::Completed => {}
            }
        }
        let mut stats: Vec<QueueStats> = by_queue
            .into_values()
            .map(|mut s| {
                s.paused = store.paused.contains(&s.queue);
                s
            })
            .collect();
        stats.sort_by(|a, b| a.queue.cmp(&b.queue));
        Ok(stats)
    }

    async fn job(&self, id: JobId) -> Result<Option<JobInfo>> {
        Ok(self.store().jobs.get(&id).map(|r| r.info(now_ms())))
    }

    async fn dead_list(&self, params: DeadListParams<'_>) -> Result<Vec<JobInfo>> {
        let now = now_ms();
        let store = self.store();
        let mut dead: Vec<&Row> = store
            .jobs
            .values()
            .filter(|r| r.state == Stored::Dead && params.queue.is_none_or(|q| r.job.queue == q))
            .collect();
        dead.sort_by_key(|r| (std::cmp::Reverse(r.failed_at), std::cmp::Reverse(r.job.id)));
        Ok(dead
            .into_iter()
            .skip(params.offset)
            .take(params.limit)
            .map(|r| r.info(now))
            .collect())
    }

    async fn dead_requeue(&self, selector: DeadSelector<'_>) -> Result<u64> {
        let now = now_ms();
        let mut store = self.store();
        let ids = store.dead_ids(selector);
        for id in &ids {
            if let Some(row) = store.jobs.get_mut(id) {
                row.state = Stored::Pending;
                row.attempt = 0;
                row.run_at = now;
            }
        }
        drop(store);
        self.inner.hub.publish_all_due();
        Ok(ids.len() as u64)
    }

    async fn dead_purge(&self, selector: DeadSelector<'_>) -> Result<u64> {
        let mut store = self.store();
        let ids = store.dead_ids(selector);
        for id in &ids {
            store.jobs.remove(id);
        }
        Ok(ids.len() as u64)
    }

    async fn queue_purge(&self, queue: &str) -> Result<u64> {
        let mut store = self.store();
        let before = store.jobs.len();
        store
            .jobs
            .retain(|_, r| !(r.state == Stored::Pending && r.job.queue == queue));
        Ok((before - store.jobs.len()) as u64)
    }

    async fn queue_pause(&self, queue: &str) -> Result<()> {
        self.store().paused.insert(queue.to_string());
        Ok(())
    }

    async fn queue_resume(&self, queue: &str) -> Result<()> {
        self.store().paused.remove(queue);
        self.inner.hub.publish_all_due();
        Ok(())
    }
}

inventory::submit! {
    DriverFactory {
        schemes: crate::url::MEMORY.schemes,
        connect: |_url| Box::pin(async { Ok(Arc::new(MemoryDriver::new()) as Arc<dyn Driver>) }),
    }
}
