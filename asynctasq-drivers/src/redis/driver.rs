//! The driver contract on Redis: each method a few script calls.

use std::time::Duration;

use async_trait::async_trait;
use asynctasq_core::driver::not_extended;
use asynctasq_core::job::to_millis;
use asynctasq_core::wake::{PollInterval, Wakeups};
use asynctasq_core::{
    Burial, Capabilities, ClaimParams, ClaimedJob, Completion, DeadListParams, DeadSelector,
    Driver, ExpiredLease, ExpiredParams, JobId, JobInfo, NewJob, QueueStats, Receipt, Result,
    Retry,
};

use super::RedisDriver;
use super::queues::validate_queue;
use super::rows::driver_err;
use super::scripts::{self, NO_ARGS, PURGE_BATCH};
use crate::support::{non_negative, queue_stats};

/// How often waiters look while the connection that carries wake-ups is down.
const POLL_WHILE_DISCONNECTED: Duration = Duration::from_millis(500);

/// A lease or a due time as milliseconds for a script, saturating.
fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

/// How many of the script calls' receipts were applied.
fn applied(counts: Vec<i64>) -> u64 {
    counts.into_iter().map(non_negative).sum()
}

#[async_trait]
impl Driver for RedisDriver {
    fn name(&self) -> &'static str {
        "redis"
    }

    /// Pub/sub wake-ups; no transactions with SQL, no retention.
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE.with_listener()
    }

    /// Redis needs no schema: this checks the connection and loads the scripts
    /// (on every node of a cluster).
    async fn migrate(&self) -> Result<()> {
        let mut conn = self.conn();
        for lua in scripts::all() {
            let load = lua.script.prepare_invoke();
            load.load_async(&mut conn).await.map_err(driver_err)?;
        }
        Ok(())
    }

    async fn enqueue(&self, jobs: &[NewJob]) -> Result<()> {
        self.insert(jobs).await?;
        self.inner.pushes.hub.publish_enqueued(jobs);
        Ok(())
    }

    async fn claim(&self, params: ClaimParams<'_>) -> Result<Vec<ClaimedJob>> {
        let lease_ms = ms(params.lease);
        self.claim_jobs(params.queues, params.max, lease_ms).await
    }

    /// Redis keeps no completed jobs: [`Completion::Keep`] deletes too.
    async fn complete(&self, receipts: &[Receipt], _: Completion) -> Result<u64> {
        let acks = receipts.iter().map(|r| (r, 0, String::new()));
        Ok(applied(self.acks("complete", acks).await?))
    }

    async fn retry(&self, retries: &[Retry]) -> Result<u64> {
        let acks = retries
            .iter()
            .map(|r| (&r.receipt, to_millis(r.run_at), r.error.to_stored()));
        let n = applied(self.acks("retry", acks).await?);
        Ok(self.woke(n))
    }

    async fn bury(&self, burials: &[Burial]) -> Result<u64> {
        let acks = burials
            .iter()
            .map(|b| (&b.receipt, to_millis(b.error.at), b.error.to_stored()));
        Ok(applied(self.acks("bury", acks).await?))
    }

    async fn release(&self, receipts: &[Receipt]) -> Result<u64> {
        let acks = receipts.iter().map(|r| (r, 0, String::new()));
        let n = applied(self.acks("release", acks).await?);
        Ok(self.woke(n))
    }

    async fn extend(&self, receipts: &[Receipt], lease: Duration) -> Result<Vec<Receipt>> {
        let acks = receipts.iter().map(|r| (r, ms(lease), String::new()));
        // The script answers with the ids it extended.
        let extended: Vec<Vec<String>> = self.acks("extend", acks).await?;
        let ids = extended.iter().flatten().filter_map(|id| id.parse().ok());
        Ok(not_extended(receipts, &ids.collect::<Vec<JobId>>()))
    }

    async fn leases_expired(&self, params: ExpiredParams) -> Result<Vec<ExpiredLease>> {
        let now = params.now.map(|t| to_millis(t).to_string());
        let args = (params.limit, now.unwrap_or_default());
        let queues = self.known_queues().await?;
        let reads = queues
            .iter()
            .map(|q| self.leases(&scripts::EXPIRED, q, &args));
        let mut expired = futures::future::try_join_all(reads).await?.concat();
        expired.sort_unstable_by_key(|(deadline, lease)| (*deadline, lease.receipt.id));
        expired.truncate(params.limit);
        Ok(expired.into_iter().map(|(_, lease)| lease).collect())
    }

    async fn next_due(&self, queues: &[String]) -> Result<Option<Duration>> {
        let probes = self.probes(queues).await?;
        let unpaused = probes.into_iter().filter(|p| !p.paused);
        Ok(unpaused.filter_map(|p| p.next_due).min())
    }

    fn wakeups(&self) -> Wakeups<'_> {
        Wakeups {
            hub: &self.inner.pushes.hub,
            notifier: Some(self),
            poll: Some(PollInterval::fixed(POLL_WHILE_DISCONNECTED)),
        }
    }

    async fn stats(&self, queues: Option<&[String]>) -> Result<Vec<QueueStats>> {
        let names: Vec<String> = match queues {
            Some(qs) => {
                let mut v = qs.to_vec();
                v.sort_unstable();
                v.dedup();
                v
            }
            None => self.known_queues().await?,
        };
        let counts = names.iter().map(|q| self.run(&scripts::STATS, q, NO_ARGS));
        let counts: Vec<(i64, i64, i64, i64, i64)> = futures::future::try_join_all(counts).await?;
        let stats = names.into_iter().zip(counts).map(|(queue, counts)| {
            let (ready, scheduled, running, dead, paused) = counts;
            queue_stats(queue, [ready, scheduled, running, dead], paused != 0)
        });
        Ok(stats.collect())
    }

    /// Looks in every known queue (one script call per queue, sent together).
    async fn job(&self, id: JobId) -> Result<Option<JobInfo>> {
        let queues = self.known_queues().await?;
        let ids = [id];
        let found = queues.iter().map(|q| self.lookup(q, &ids));
        let found = futures::future::try_join_all(found).await?;
        Ok(found.into_iter().flatten().next())
    }

    async fn dead_list(&self, params: DeadListParams<'_>) -> Result<Vec<JobInfo>> {
        self.dead_page(params).await
    }

    async fn dead_requeue(&self, selector: DeadSelector<'_>) -> Result<u64> {
        let n = self.dead_apply("requeue", selector).await?;
        Ok(self.woke(n))
    }

    async fn dead_purge(&self, selector: DeadSelector<'_>) -> Result<u64> {
        self.dead_apply("purge", selector).await
    }

    async fn queue_purge(&self, queue: &str) -> Result<u64> {
        self.drain(&scripts::PURGE, queue, PURGE_BATCH, PURGE_BATCH)
            .await
    }

    async fn queue_pause(&self, queue: &str) -> Result<()> {
        validate_queue(queue)?;
        self.queue_number(queue).await?;
        self.run(&scripts::PAUSE, queue, "1").await
    }

    async fn queue_resume(&self, queue: &str) -> Result<()> {
        self.run::<()>(&scripts::PAUSE, queue, "0").await?;
        self.woke(1);
        Ok(())
    }
}
