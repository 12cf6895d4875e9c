//! The [`Driver`] implementation: each operation one statement of [`sql`],
//! run through the helpers of [`connect`](super::connect), its rows read by
//! [`rows`].

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use uuid::Uuid;

use asynctasq_core::driver::not_extended;
use asynctasq_core::job::{from_millis, to_millis};
use asynctasq_core::wake::{PollInterval, Wakeups};
use asynctasq_core::{
    Burial, Capabilities, ClaimParams, ClaimedJob, Completion, DeadListParams, DeadSelector,
    Driver, ExpiredLease, ExpiredParams, JobId, JobInfo, NewJob, PruneParams, QueueStats, Receipt,
    Result, Retry,
};

use super::connect::{
    execute, fetch_all, is_own_duplicate, moved, receipt_columns, retry_lost, uuids,
};
use super::{NAME, PgDriver, PgInsert, db_err, rows, schema, sql};
use crate::support::{count, millis};
use crate::txn::INSTANCE_QUERY;

#[async_trait]
impl Driver for PgDriver {
    fn name(&self) -> &'static str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        let capabilities = Capabilities::NONE
            .with_transactional_enqueue()
            .with_retention();
        match self.inner.listener {
            Some(_) => capabilities.with_listener(),
            None => capabilities,
        }
    }

    async fn migrate(&self) -> Result<()> {
        schema::migrate(self.main()).await.map(|_| ())
    }

    async fn enqueue(&self, jobs: &[NewJob]) -> Result<()> {
        let insert = PgInsert::new(jobs);
        retry_lost(self.main(), |pool, retried| {
            let insert = &insert;
            async move {
                match insert.query().execute(pool).await {
                    // An earlier try committed before its connection was lost.
                    Err(e) if retried && is_own_duplicate(&e) => Ok(Default::default()),
                    other => other,
                }
            }
        })
        .await
        .map_err(db_err)?;
        if let Some(hub) = self.local_hub() {
            hub.publish_enqueued(jobs);
        }
        Ok(())
    }

    async fn enqueue_in(&self, txn: &sea_orm::DatabaseTransaction, jobs: &[NewJob]) -> Result<()> {
        let statements = PgInsert::new(jobs).sea_orm_statements();
        let pool = self.main();
        let read_own = || async move {
            retry_lost(pool, |pool, _| {
                sqlx::query_scalar(INSTANCE_QUERY).fetch_one(pool)
            })
            .await
        };
        self.inner
            .jobs_db
            .execute_in(txn, statements, read_own)
            .await
    }

    async fn claim(&self, params: ClaimParams<'_>) -> Result<Vec<ClaimedJob>> {
        if params.max == 0 || params.queues.is_empty() {
            return Ok(Vec::new());
        }
        let token: i64 = rand::random();
        let rows = fetch_all(self.worker(), || {
            sqlx::query(sql::CLAIM)
                .bind(params.queues)
                .bind(count(params.max))
                .bind(token)
                .bind(millis(params.lease))
                .bind(params.worker)
        })
        .await?;
        rows::claimed_in_order(&rows)
    }

    async fn complete(&self, receipts: &[Receipt], completion: Completion) -> Result<u64> {
        let statement = match completion {
            Completion::Delete => sql::COMPLETE,
            Completion::Keep => sql::COMPLETE_KEPT,
        };
        let (ids, tokens) = receipt_columns(receipts);
        execute(self.worker(), || {
            sqlx::query(statement).bind(&ids).bind(&tokens)
        })
        .await
    }

    async fn retry(&self, retries: &[Retry]) -> Result<u64> {
        let (ids, tokens) = receipt_columns(retries.iter().map(|r| &r.receipt));
        let run_ats: Vec<_> = retries
            .iter()
            .map(|r| from_millis(to_millis(r.run_at)))
            .collect();
        let errors: Vec<String> = retries.iter().map(|r| r.error.to_stored()).collect();
        let retried = moved(self.worker(), || {
            sqlx::query(sql::RETRY)
                .bind(&ids)
                .bind(&tokens)
                .bind(&run_ats)
                .bind(&errors)
        })
        .await?;
        let earliest = retries.iter().map(|r| r.run_at).min();
        self.wake_locally(retried, None, earliest.unwrap_or_else(Utc::now));
        Ok(retried)
    }

    async fn bury(&self, burials: &[Burial]) -> Result<u64> {
        let (ids, tokens) = receipt_columns(burials.iter().map(|b| &b.receipt));
        let errors: Vec<String> = burials.iter().map(|b| b.error.to_stored()).collect();
        execute(self.worker(), || {
            sqlx::query(sql::BURY)
                .bind(&ids)
                .bind(&tokens)
                .bind(&errors)
        })
        .await
    }

    async fn release(&self, receipts: &[Receipt]) -> Result<u64> {
        if receipts.is_empty() {
            return Ok(0);
        }
        let (ids, tokens) = receipt_columns(receipts);
        let released = moved(self.worker(), || {
            sqlx::query(sql::RELEASE).bind(&ids).bind(&tokens)
        })
        .await?;
        self.wake_locally(released, None, Utc::now());
        Ok(released)
    }

    async fn prune_completed(&self, params: PruneParams) -> Result<u64> {
        execute(self.worker(), || {
            sqlx::query(sql::PRUNE_COMPLETED)
                .bind(params.before)
                .bind(count(params.limit))
        })
        .await
    }

    async fn extend(&self, receipts: &[Receipt], lease: Duration) -> Result<Vec<Receipt>> {
        if receipts.is_empty() {
            return Ok(Vec::new());
        }
        let (ids, tokens) = receipt_columns(receipts);
        let extended: Vec<Uuid> = retry_lost(self.worker(), |pool, _| {
            sqlx::query_scalar(sql::EXTEND)
                .bind(&ids)
                .bind(&tokens)
                .bind(millis(lease))
                .fetch_all(pool)
        })
        .await
        .map_err(db_err)?;
        let extended: Vec<JobId> = extended.into_iter().map(JobId).collect();
        Ok(not_extended(receipts, &extended))
    }

    async fn leases_expired(&self, params: ExpiredParams) -> Result<Vec<ExpiredLease>> {
        let rows = fetch_all(self.worker(), || {
            sqlx::query(sql::EXPIRED)
                .bind(params.now)
                .bind(count(params.limit))
        })
        .await?;
        rows.iter().map(rows::job).collect()
    }

    async fn next_due(&self, queues: &[String]) -> Result<Option<Duration>> {
        let ms: Option<i64> = retry_lost(self.worker(), |pool, _| {
            sqlx::query_scalar(sql::NEXT_DUE)
                .bind(queues)
                .fetch_one(pool)
        })
        .await
        .map_err(db_err)?;
        Ok(ms.map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))))
    }

    fn wakeups(&self) -> Wakeups<'_> {
        Wakeups {
            hub: &self.inner.hub,
            notifier: self.inner.listener.as_ref().map(|l| l as _),
            poll: Some(PollInterval::fixed(self.inner.poll_interval)),
        }
    }

    async fn stats(&self, queues: Option<&[String]>) -> Result<Vec<QueueStats>> {
        let rows = fetch_all(self.main(), || match queues {
            Some(queues) => sqlx::query(sql::STATS_QUEUES).bind(queues),
            None => sqlx::query(sql::STATS_ALL),
        })
        .await?;
        rows.iter().map(rows::stats).collect()
    }

    async fn job(&self, id: JobId) -> Result<Option<JobInfo>> {
        let rows = fetch_all(self.main(), || sqlx::query(sql::JOB).bind(id.0)).await?;
        rows.first().map(rows::info).transpose()
    }

    async fn dead_list(&self, params: DeadListParams<'_>) -> Result<Vec<JobInfo>> {
        let (limit, offset) = (count(params.limit), count(params.offset));
        let rows = fetch_all(self.main(), || match params.queue {
            Some(q) => sqlx::query(sql::DEAD_LIST_QUEUE)
                .bind(limit)
                .bind(offset)
                .bind(q),
            None => sqlx::query(sql::DEAD_LIST_ALL).bind(limit).bind(offset),
        })
        .await?;
        rows.iter().map(rows::info).collect()
    }

    async fn dead_requeue(&self, selector: DeadSelector<'_>) -> Result<u64> {
        let requeued = moved(self.main(), || match selector {
            DeadSelector::Ids(ids) => sqlx::query(sql::DEAD_REQUEUE_IDS).bind(uuids(ids)),
            DeadSelector::All { queue: None } => sqlx::query(sql::DEAD_REQUEUE_ALL),
            DeadSelector::All { queue: Some(q) } => sqlx::query(sql::DEAD_REQUEUE_QUEUE).bind(q),
        })
        .await?;
        self.wake_locally(requeued, None, Utc::now());
        Ok(requeued)
    }

    async fn dead_purge(&self, selector: DeadSelector<'_>) -> Result<u64> {
        execute(self.main(), || match selector {
            DeadSelector::Ids(ids) => sqlx::query(sql::DEAD_PURGE_IDS).bind(uuids(ids)),
            DeadSelector::All { queue: None } => sqlx::query(sql::DEAD_PURGE_ALL),
            DeadSelector::All { queue: Some(q) } => sqlx::query(sql::DEAD_PURGE_QUEUE).bind(q),
        })
        .await
    }

    async fn queue_purge(&self, queue: &str) -> Result<u64> {
        execute(self.main(), || sqlx::query(sql::QUEUE_PURGE).bind(queue)).await
    }

    async fn queue_pause(&self, queue: &str) -> Result<()> {
        execute(self.main(), || sqlx::query(sql::QUEUE_PAUSE).bind(queue)).await?;
        Ok(())
    }

    async fn queue_resume(&self, queue: &str) -> Result<()> {
        execute(self.main(), || sqlx::query(sql::QUEUE_RESUME).bind(queue)).await?;
        self.wake_locally(1, Some(queue), Utc::now());
        Ok(())
    }
}
