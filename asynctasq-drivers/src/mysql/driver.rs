//! The [`Driver`] implementation.

use std::time::Duration;

use async_trait::async_trait;

use asynctasq_core::driver::not_extended;
use asynctasq_core::job::to_millis;
use asynctasq_core::wake::{Wake, Wakeups};
use asynctasq_core::{
    Burial, Capabilities, ClaimParams, ClaimedJob, Completion, DeadListParams, DeadSelector,
    Driver, ExpiredLease, ExpiredParams, JobId, JobInfo, NewJob, PruneParams, QueueStats, Receipt,
    Result, Retry,
};

use super::connect::{MAX_LIST, distinct};
use super::sql::{Bind, bind_all};
use super::{MySqlDriver, MySqlInsert, MySqlStatement, NAME, db_err, rows, schema, sql};
use crate::support::{count, millis};
use crate::txn::INSTANCE_QUERY;

#[async_trait]
impl Driver for MySqlDriver {
    fn name(&self) -> &'static str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
            .with_transactional_enqueue()
            .with_retention()
    }

    async fn migrate(&self) -> Result<()> {
        schema::migrate(self.pool_ref()).await
    }

    async fn enqueue(&self, jobs: &[NewJob]) -> Result<()> {
        let insert = MySqlInsert::new(jobs);
        match insert.statements() {
            [] => {}
            [one] => {
                self.execute(one.query()).await?;
            }
            _ => {
                let mut tx = self.begin(None).await?;
                insert.execute(&mut tx).await?;
                tx.commit().await.map_err(db_err)?;
            }
        }
        self.inner.hub.publish_enqueued(jobs);
        Ok(())
    }

    /// Inserts in the caller's transaction. Workers of other processes find
    /// the jobs at their next poll after the commit (MySQL has no commit
    /// notifications); call `driver.wakeups().hub.publish_enqueued(&jobs)`
    /// after the commit to wake this process's workers at once.
    async fn enqueue_in(&self, txn: &sea_orm::DatabaseTransaction, jobs: &[NewJob]) -> Result<()> {
        let insert = MySqlInsert::new(jobs);
        let statements: Vec<_> = insert
            .statements()
            .iter()
            .map(MySqlStatement::to_sea_orm)
            .collect();
        let pool = self.pool_ref();
        let read_own = || sqlx::query_scalar(INSTANCE_QUERY).fetch_one(pool);
        self.inner
            .jobs_db
            .execute_in(txn, statements, read_own)
            .await
    }

    async fn claim(&self, params: ClaimParams<'_>) -> Result<Vec<ClaimedJob>> {
        self.claim_levels(params).await
    }

    async fn complete(&self, receipts: &[Receipt], completion: Completion) -> Result<u64> {
        let head = match completion {
            Completion::Delete => sql::COMPLETE,
            Completion::Keep => sql::COMPLETE_KEEP,
        };
        self.execute_chunked(|n| sql::fenced(head, n), receipts)
            .await
    }

    async fn prune_completed(&self, params: PruneParams) -> Result<u64> {
        let query = sqlx::query(sql::PRUNE_COMPLETED)
            .bind(to_millis(params.before))
            .bind(count(params.limit));
        self.execute(query).await
    }

    async fn retry(&self, retries: &[Retry]) -> Result<u64> {
        let applied = self.each_in_transaction(sql::RETRY, retries).await?;
        let retried = retries.iter().zip(&applied).filter(|&(_, &n)| n > 0);
        if let Some(at) = retried.map(|(r, _)| r.run_at).min() {
            self.inner.hub.publish(Wake::Due { queue: None, at });
        }
        Ok(applied.iter().sum())
    }

    async fn bury(&self, burials: &[Burial]) -> Result<u64> {
        let applied = self.each_in_transaction(sql::BURY, burials).await?;
        Ok(applied.iter().sum())
    }

    async fn release(&self, receipts: &[Receipt]) -> Result<u64> {
        let release = |n| sql::fenced(sql::RELEASE, n);
        let released = self.execute_chunked(release, receipts).await?;
        if released > 0 {
            self.inner.hub.publish_all_due();
        }
        Ok(released)
    }

    /// MySQL's `UPDATE` returns no rows: when it matched fewer rows than
    /// receipts, a second statement asks which are still held (one more
    /// round trip, only for a batch with a lost lease).
    async fn extend(&self, receipts: &[Receipt], lease: Duration) -> Result<Vec<Receipt>> {
        let mut lost = Vec::new();
        for chunk in receipts.chunks(MAX_LIST) {
            let fenced = |head| sqlx::query(sqlx::AssertSqlSafe(sql::fenced(head, chunk.len())));
            let extend = bind_all(fenced(sql::EXTEND).bind(millis(lease)), chunk);
            if self.execute(extend).await? as usize == chunk.len() {
                continue;
            }
            let held = self
                .fetch(bind_all(fenced(sql::HELD), chunk), rows::held)
                .await?;
            lost.extend(not_extended(chunk, &held));
        }
        Ok(lost)
    }

    async fn leases_expired(&self, params: ExpiredParams) -> Result<Vec<ExpiredLease>> {
        let query = sqlx::query(sql::EXPIRED)
            .bind(params.now.map(to_millis))
            .bind(count(params.limit));
        self.fetch(query, rows::claimed).await
    }

    async fn next_due(&self, queues: &[String]) -> Result<Option<Duration>> {
        if queues.is_empty() {
            return Ok(None);
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql::next_due(queues.len())));
        for (i, q) in queues.iter().enumerate() {
            query = query.bind(count(i)).bind(q).bind(q);
        }
        let due = self.fetch(query, rows::due_in).await?;
        Ok(due.into_iter().flatten().min())
    }

    fn wakeups(&self) -> Wakeups<'_> {
        Wakeups {
            hub: &self.inner.hub,
            notifier: None,
            poll: Some(self.inner.poll),
        }
    }

    async fn stats(&self, queues: Option<&[String]>) -> Result<Vec<QueueStats>> {
        let wanted = queues.map(distinct);
        if wanted.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Vec::new());
        }
        let query = sqlx::query(sqlx::AssertSqlSafe(sql::stats(
            wanted.as_ref().map(Vec::len),
        )));
        let query = match &wanted {
            Some(queues) => bind_all(bind_all(query, queues), queues),
            None => query,
        };
        let mut stats = self.fetch(query, rows::stats).await?;
        for queue in wanted.into_iter().flatten() {
            if !stats.iter().any(|s| s.queue == queue) {
                stats.push(QueueStats {
                    queue,
                    ..Default::default()
                });
            }
        }
        stats.sort_by(|a, b| a.queue.cmp(&b.queue));
        Ok(stats)
    }

    async fn job(&self, id: JobId) -> Result<Option<JobInfo>> {
        let query = id.bind(sqlx::query(sql::JOB));
        Ok(self.fetch(query, rows::info).await?.pop())
    }

    async fn dead_list(&self, params: DeadListParams<'_>) -> Result<Vec<JobInfo>> {
        let query = sqlx::query(sqlx::AssertSqlSafe(sql::dead_list(params.queue.is_some())));
        let query = match params.queue {
            Some(q) => query.bind(q),
            None => query,
        };
        let query = query.bind(count(params.limit)).bind(count(params.offset));
        self.fetch(query, rows::info).await
    }

    async fn dead_requeue(&self, selector: DeadSelector<'_>) -> Result<u64> {
        let requeued = self.dead(sql::DEAD_REQUEUE, selector).await?;
        if requeued > 0 {
            self.inner.hub.publish_all_due();
        }
        Ok(requeued)
    }

    async fn dead_purge(&self, selector: DeadSelector<'_>) -> Result<u64> {
        self.dead(sql::DEAD_PURGE, selector).await
    }

    async fn queue_purge(&self, queue: &str) -> Result<u64> {
        self.execute(sqlx::query(sql::QUEUE_PURGE).bind(queue))
            .await
    }

    async fn queue_pause(&self, queue: &str) -> Result<()> {
        self.execute(sqlx::query(sql::QUEUE_PAUSE).bind(queue))
            .await?;
        Ok(())
    }

    async fn queue_resume(&self, queue: &str) -> Result<()> {
        self.execute(sqlx::query(sql::QUEUE_RESUME).bind(queue))
            .await?;
        self.inner.hub.publish_all_due();
        Ok(())
    }
}
