//! Claims: walking the priority levels of the queues from the highest.
//!
//! MariaDB has no `UPDATE … RETURNING`, so a claim is a short `READ
//! COMMITTED` transaction. Each queue's levels are found by index probes
//! ([`sql::probes`]), lazily: most claims stop at the first level. For each
//! due level, [`sql::CLAIM_LEVEL`] locks the oldest jobs no other claim
//! holds; one [`sql::claim_update`] marks them running. Scheduled jobs are
//! never scanned, however many there are.

use asynctasq_core::{ClaimParams, ClaimedJob, Receipt, Result};
use sqlx::Transaction;

use super::connect::{MySqlDriver, distinct};
use super::{db_err, rows, sql};
use crate::support::{count, millis};

/// Most jobs in one claim.
const MAX_CLAIM: usize = 10_000;

/// The exclusive upper bound that makes a probe find a queue's highest level.
const ABOVE_ALL: i32 = i16::MAX as i32 + 1;

/// The head of one priority level of a queue, as a probe finds it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Head {
    /// The level's priority.
    pub(super) priority: i16,
    /// Its earliest `run_at` (epoch ms).
    pub(super) first: i64,
    /// The queue's lowest pending level: none below this one if equal.
    pub(super) lowest: i16,
}

/// One probe's answer: the queue's index, its head below the bound, its
/// paused flag, and the database's clock.
pub(super) type Probed = (usize, Option<Head>, bool, i64);

/// Runs one round of probes: for each `(queue index, bound)`, the highest
/// level of that queue below `bound`, in order.
async fn probe<'c, E: sqlx::MySqlExecutor<'c>>(
    exec: E,
    queues: &[String],
    probes: &[(usize, i32)],
) -> Result<Vec<Probed>> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql::probes(probes.len())));
    for &(q, below) in probes {
        let queue = &queues[q];
        query = query.bind(count(q)).bind(queue).bind(queue).bind(queue);
        query = query.bind(queue).bind(below);
    }
    let rows = query.fetch_all(exec).await.map_err(db_err)?;
    rows.iter()
        .map(|row| rows::probe(row, queues.len()))
        .collect()
}

impl MySqlDriver {
    /// [`Driver::claim`](asynctasq_core::Driver::claim).
    pub(super) async fn claim_levels(&self, params: ClaimParams<'_>) -> Result<Vec<ClaimedJob>> {
        let max = params.max.min(MAX_CLAIM);
        if max == 0 || params.queues.is_empty() {
            return Ok(Vec::new());
        }
        let queues = distinct(params.queues);
        let mut frontier: Vec<Option<Head>> = vec![None; queues.len()];
        // First the highest level of every queue, then below a level only
        // for the queues that have lower levels.
        let mut next: Vec<(usize, i32)> = (0..queues.len()).map(|q| (q, ABOVE_ALL)).collect();
        let mut now = i64::MIN;
        let mut tx: Option<Transaction<'static, sqlx::MySql>> = None;
        let mut picked: Vec<(i64, ClaimedJob)> = Vec::with_capacity(max);
        loop {
            if !next.is_empty() {
                let heads = match tx.as_mut() {
                    Some(conn) => probe(&mut **conn, &queues, &next).await?,
                    None => probe(&mut *self.acquire().await?, &queues, &next).await?,
                };
                for (q, head, paused, clock) in heads {
                    frontier[q] = head.filter(|_| !paused);
                    now = clock;
                }
            }
            let Some(priority) = frontier.iter().flatten().map(|h| h.priority).max() else {
                break;
            };
            let level: Vec<usize> = (0..queues.len())
                .filter(|&q| frontier[q].is_some_and(|h| h.priority == priority))
                .collect();
            // Levels of one priority (from several queues) are merged by run_at.
            let mut group = Vec::new();
            for &q in &level {
                if frontier[q].is_some_and(|h| h.first > now) {
                    continue; // every job of this level is scheduled
                }
                if tx.is_none() {
                    tx = Some(self.begin(Some(sql::CLAIM_BEGIN)).await?);
                }
                let conn = tx.as_mut().expect("transaction started");
                let rows = sqlx::query(sql::CLAIM_LEVEL)
                    .bind(&queues[q])
                    .bind(priority)
                    .bind(count(max - picked.len()))
                    .fetch_all(&mut **conn)
                    .await
                    .map_err(db_err)?;
                for row in &rows {
                    group.push((rows::get(row, 7)?, rows::claimed(row)?));
                }
            }
            group.sort_by_key(|(run_at, c)| (*run_at, c.receipt.id));
            group.truncate(max - picked.len());
            picked.extend(group);
            if picked.len() >= max {
                break;
            }
            next.clear();
            for &q in &level {
                match frontier[q] {
                    Some(h) if h.lowest < h.priority => next.push((q, i32::from(priority))),
                    _ => frontier[q] = None,
                }
            }
        }
        let Some(mut tx) = tx else {
            return Ok(Vec::new());
        };
        if picked.is_empty() {
            tx.rollback().await.map_err(db_err)?;
            return Ok(Vec::new());
        }
        let token: i64 = rand::random();
        let ids: Vec<_> = picked.iter().map(|(_, c)| c.receipt.id).collect();
        let update = sqlx::query(sqlx::AssertSqlSafe(sql::claim_update(ids.len())))
            .bind(token)
            .bind(millis(params.lease))
            .bind(params.worker);
        let update = sql::bind_all(update, &ids);
        update.execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        let claimed = picked.into_iter().map(|(_, c)| ClaimedJob {
            receipt: Receipt { token, ..c.receipt },
            ..c
        });
        Ok(claimed.collect())
    }
}
