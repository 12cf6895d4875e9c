//! The [`Driver`] implementation: each operation one statement of [`sql`]
//! (or a short transaction of them), its rows read by [`rows`].

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use sea_orm::DatabaseTransaction;
use sqlx::AssertSqlSafe;

use super::connect::db_err;
use super::{NAME, SqliteDriver, rows, schema, sql};
use crate::support::{count, millis, non_negative, queue_stats};
use crate::txn::INSTANCE_QUERY;
use asynctasq_core::driver::not_extended;
use asynctasq_core::job::to_millis;
use asynctasq_core::wake::{Notifier, PollInterval, Wake, Wakeups};
use asynctasq_core::{
    Burial, Capabilities, ClaimParams, ClaimedJob, Completion, DeadListParams, DeadSelector,
    Driver, ExpiredLease, ExpiredParams, JobId, JobInfo, NewJob, QueueStats, Receipt, Result,
    Retry,
};

/// How often waiters look when the `data_version` watch cannot run.
const FALLBACK_POLL: PollInterval = PollInterval {
    min: Duration::from_millis(20),
    max: Duration::from_secs(1),
};

fn now_ms() -> i64 {
    to_millis(Utc::now())
}

/// `queues` without repetitions, in their first order.
fn unique(queues: &[String]) -> Vec<&str> {
    let mut seen = HashSet::new();
    queues
        .iter()
        .map(String::as_str)
        .filter(|q| seen.insert(*q))
        .collect()
}

#[async_trait]
impl Driver for SqliteDriver {
    fn name(&self) -> &'static str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        let capabilities = Capabilities::NONE.with_transactional_enqueue();
        if self.inner.private {
            capabilities
        } else {
            capabilities.with_listener()
        }
    }

    async fn migrate(&self) -> Result<()> {
        let _write = self.write_lock().await;
        schema::migrate(&self.inner.pool).await
    }

    async fn enqueue(&self, jobs: &[NewJob]) -> Result<()> {
        let now = now_ms();
        if jobs.is_empty() {
            return Ok(());
        } else if jobs.len() <= sql::INSERT_CHUNK && jobs.len().is_power_of_two() {
            // One statement is atomic on its own.
            self.write(sql::insert_query(jobs, now)).await?;
        } else {
            let chunks = sql::chunks(jobs).map(|chunk| sql::insert_query(chunk, now));
            self.write_all(chunks).await?;
        }
        self.hub().publish_enqueued(jobs);
        Ok(())
    }

    async fn enqueue_in(&self, txn: &DatabaseTransaction, jobs: &[NewJob]) -> Result<()> {
        let statements = sql::insert_statements(jobs, now_ms());
        let read_own = || sqlx::query_scalar(INSTANCE_QUERY).fetch_one(self.pool());
        // Workers see the commit through the `data_version` watch.
        let jobs_db = &self.inner.jobs_db;
        jobs_db.execute_in(txn, statements, read_own).await
    }

    async fn claim(&self, params: ClaimParams<'_>) -> Result<Vec<ClaimedJob>> {
        let queues = unique(params.queues);
        if params.max == 0 || queues.is_empty() {
            return Ok(Vec::new());
        }
        let token: i64 = rand::random();
        let now = now_ms();
        let query = sqlx::query(AssertSqlSafe(sql::claim(queues.len())))
            .bind(token)
            .bind(now.saturating_add(millis(params.lease)))
            .bind(params.worker)
            .bind(now)
            .bind(count(params.max));
        let query = queues.iter().fold(query, |query, q| query.bind(*q));
        let rows = {
            let mut turn = self.write_turn().await?;
            let rows = query.fetch_all(turn.conn()).await;
            turn.checked(rows)?
        };
        rows::claimed(&rows, token)
    }

    async fn complete(&self, receipts: &[Receipt], _: Completion) -> Result<u64> {
        // Without retention, a kept job is deleted too.
        self.ack(sql::COMPLETE, sql::receipts(receipts)).await
    }

    async fn retry(&self, retries: &[Retry]) -> Result<u64> {
        let rows = retries
            .iter()
            .map(|r| (r.receipt, to_millis(r.run_at), &r.error));
        let done = self.ack(sql::RETRY, sql::failures(rows)).await?;
        if let Some(at) = retries.iter().map(|r| r.run_at).min().filter(|_| done > 0) {
            self.hub().publish(Wake::Due { queue: None, at });
        }
        Ok(done)
    }

    async fn bury(&self, burials: &[Burial]) -> Result<u64> {
        let now = now_ms();
        let rows = burials.iter().map(|b| (b.receipt, now, &b.error));
        self.ack(sql::BURY, sql::failures(rows)).await
    }

    async fn release(&self, receipts: &[Receipt]) -> Result<u64> {
        let released = self.ack(sql::RELEASE, sql::receipts(receipts)).await?;
        if released > 0 {
            self.hub().publish_all_due();
        }
        Ok(released)
    }

    async fn extend(&self, receipts: &[Receipt], lease: Duration) -> Result<Vec<Receipt>> {
        if receipts.is_empty() {
            return Ok(Vec::new());
        }
        let query = sqlx::query_scalar(sql::EXTEND)
            .bind(sql::receipts(receipts))
            .bind(now_ms().saturating_add(millis(lease)));
        let extended: Vec<String> = {
            let mut turn = self.write_turn().await?;
            let extended = query.fetch_all(turn.conn()).await;
            turn.checked(extended)?
        };
        Ok(not_extended(receipts, &rows::job_ids(&extended)?))
    }

    async fn leases_expired(&self, params: ExpiredParams) -> Result<Vec<ExpiredLease>> {
        let rows = sqlx::query(sql::EXPIRED)
            .bind(params.now.map_or_else(now_ms, to_millis))
            .bind(count(params.limit))
            .fetch_all(&self.inner.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(rows::expired).collect()
    }

    async fn next_due(&self, queues: &[String]) -> Result<Option<Duration>> {
        let ms: Option<i64> = sqlx::query_scalar(sql::NEXT_DUE)
            .bind(serde_json::json!(queues).to_string())
            .bind(now_ms())
            .fetch_one(&self.inner.pool)
            .await
            .map_err(db_err)?;
        Ok(ms.map(|ms| Duration::from_millis(non_negative(ms))))
    }

    fn wakeups(&self) -> Wakeups<'_> {
        let watched = !self.inner.private;
        Wakeups {
            hub: self.hub(),
            notifier: watched.then_some(self as &dyn Notifier),
            poll: watched.then_some(FALLBACK_POLL),
        }
    }

    async fn stats(&self, queues: Option<&[String]>) -> Result<Vec<QueueStats>> {
        let query = match queues {
            None => sqlx::query_as::<_, (String, i64, i64, i64, i64, i64)>(sql::STATS_ALL)
                .bind(now_ms()),
            Some(queues) => sqlx::query_as(sql::STATS_QUEUES)
                .bind(now_ms())
                .bind(serde_json::json!(unique(queues)).to_string()),
        };
        let rows = query.fetch_all(&self.inner.pool).await.map_err(db_err)?;
        let stats = rows
            .into_iter()
            .map(|(queue, ready, scheduled, running, dead, paused)| {
                queue_stats(queue, [ready, scheduled, running, dead], paused != 0)
            });
        Ok(stats.collect())
    }

    async fn job(&self, id: JobId) -> Result<Option<JobInfo>> {
        let row = sqlx::query(sql::JOB)
            .bind(id.to_string())
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(db_err)?;
        row.map(|row| rows::info(&row, now_ms())).transpose()
    }

    async fn dead_list(&self, params: DeadListParams<'_>) -> Result<Vec<JobInfo>> {
        let sql = match params.queue {
            Some(_) => sql::DEAD_LIST_QUEUE,
            None => sql::DEAD_LIST_ALL,
        };
        let query = sqlx::query(sql)
            .bind(params.queue)
            .bind(count(params.limit))
            .bind(count(params.offset));
        let rows = query.fetch_all(&self.inner.pool).await.map_err(db_err)?;
        let now = now_ms();
        rows.iter().map(|row| rows::info(row, now)).collect()
    }

    async fn dead_requeue(&self, selector: DeadSelector<'_>) -> Result<u64> {
        let query = sqlx::query(match selector {
            DeadSelector::Ids([]) => return Ok(0),
            DeadSelector::Ids(_) => sql::DEAD_REQUEUE_IDS,
            DeadSelector::All { .. } => sql::DEAD_REQUEUE_ALL,
        });
        let requeued = self
            .write(sql::bind_selector(query.bind(now_ms()), selector))
            .await?;
        if requeued > 0 {
            self.hub().publish_all_due();
        }
        Ok(requeued)
    }

    async fn dead_purge(&self, selector: DeadSelector<'_>) -> Result<u64> {
        let query = sqlx::query(match selector {
            DeadSelector::Ids([]) => return Ok(0),
            DeadSelector::Ids(_) => sql::DEAD_PURGE_IDS,
            DeadSelector::All { .. } => sql::DEAD_PURGE_ALL,
        });
        self.write(sql::bind_selector(query, selector)).await
    }

    async fn queue_purge(&self, queue: &str) -> Result<u64> {
        self.write(sqlx::query(sql::QUEUE_PURGE).bind(queue)).await
    }

    async fn queue_pause(&self, queue: &str) -> Result<()> {
        let query = sqlx::query(sql::QUEUE_SET_PAUSED).bind(queue).bind(1_i64);
        self.write(query).await.map(drop)
    }

    async fn queue_resume(&self, queue: &str) -> Result<()> {
        let query = sqlx::query(sql::QUEUE_SET_PAUSED).bind(queue).bind(0_i64);
        self.write(query).await?;
        self.hub().publish_all_due();
        Ok(())
    }
}
