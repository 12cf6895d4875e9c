//! The insert of a batch of jobs, as a statement that any Postgres
//! connection or transaction can run.
//!
//! [`PgDriver::enqueue`](asynctasq_core::Driver::enqueue) runs it on the
//! driver's pool. Transactional enqueue runs the same statement on the
//! application's own transaction, so the jobs commit or roll back with the
//! business rows. The statement also sends the wake-up (`NOTIFY`), which
//! Postgres delivers only on commit.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgExecutor, Postgres, Row};
use uuid::Uuid;

use asynctasq_core::job::{from_millis, to_millis};
use asynctasq_core::{NewJob, Result};

use super::{db_err, sql};
use crate::support::non_negative;

/// A batch of jobs as the seven parallel arrays that [`PgInsert::SQL`] binds.
///
/// Build it with [`PgInsert::new`], then either run it with
/// [`execute`](PgInsert::execute) on any sqlx executor (a pool, a
/// connection, `&mut *transaction`), or bind [`SQL`](PgInsert::SQL)'s `$1`
/// … `$7` yourself from the column accessors (on another client, e.g. a
/// sea-orm `DatabaseTransaction` with `Statement::from_sql_and_values` and
/// array values).
///
/// ```no_run
/// # async fn run(pool: sqlx::PgPool, jobs: Vec<asynctasq_core::NewJob>) -> asynctasq_core::Result<()> {
/// use asynctasq_drivers::postgres::PgInsert;
///
/// let mut tx = pool.begin().await.map_err(|e| asynctasq_core::Error::driver("postgres", e))?;
/// // ... the application's own writes on `tx` ...
/// PgInsert::new(&jobs).execute(&mut *tx).await?;
/// tx.commit().await.map_err(|e| asynctasq_core::Error::driver("postgres", e))?; // workers wake now
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct PgInsert<'a> {
    ids: Vec<Uuid>,
    tasks: Vec<&'a str>,
    queues: Vec<&'a str>,
    priorities: Vec<i16>,
    run_ats: Vec<DateTime<Utc>>,
    max_attempts: Vec<i32>,
    payloads: Vec<&'a [u8]>,
}

impl<'a> PgInsert<'a> {
    /// The statement: `$1` `uuid[]` ids, `$2` `text[]` tasks, `$3` `text[]`
    /// queues, `$4` `int2[]` priorities, `$5` `timestamptz[]` run_at,
    /// `$6` `int4[]` max attempts, `$7` `bytea[]` payloads. It wakes the
    /// workers of the queues it fills (on commit) and returns one row:
    /// the jobs inserted and the queues woken, both `int8`.
    pub const SQL: &'static str = sql::INSERT_JOBS;

    /// The columns of `jobs`, in order. `run_at` is kept to the millisecond.
    pub fn new(jobs: &'a [NewJob]) -> Self {
        PgInsert {
            ids: jobs.iter().map(|j| j.id.0).collect(),
            tasks: jobs.iter().map(|j| j.task.as_str()).collect(),
            queues: jobs.iter().map(|j| j.queue.as_str()).collect(),
            priorities: jobs.iter().map(|j| j.priority).collect(),
            run_ats: jobs
                .iter()
                .map(|j| from_millis(to_millis(j.run_at)))
                .collect(),
            max_attempts: jobs
                .iter()
                .map(|j| i32::try_from(j.max_attempts.max(1)).unwrap_or(i32::MAX))
                .collect(),
            payloads: jobs.iter().map(|j| j.payload.as_slice()).collect(),
        }
    }

    /// How many jobs the batch holds.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// `true` when the batch holds no job.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// `$1`: the job ids.
    pub fn ids(&self) -> &[Uuid] {
        &self.ids
    }

    /// `$2`: the task names.
    pub fn tasks(&self) -> &[&'a str] {
        &self.tasks
    }

    /// `$3`: the queues.
    pub fn queues(&self) -> &[&'a str] {
        &self.queues
    }

    /// `$4`: the priorities.
    pub fn priorities(&self) -> &[i16] {
        &self.priorities
    }

    /// `$5`: when each job becomes due.
    pub fn run_ats(&self) -> &[DateTime<Utc>] {
        &self.run_ats
    }

    /// `$6`: the attempts allowed.
    pub fn max_attempts(&self) -> &[i32] {
        &self.max_attempts
    }

    /// `$7`: the encoded envelopes.
    pub fn payloads(&self) -> &[&'a [u8]] {
        &self.payloads
    }

    /// The statement with every array bound, ready for an sqlx executor.
    pub fn query(&self) -> Query<'_, Postgres, PgArguments> {
        sqlx::query(Self::SQL)
            .bind(&self.ids)
            .bind(&self.tasks)
            .bind(&self.queues)
            .bind(&self.priorities)
            .bind(&self.run_ats)
            .bind(&self.max_attempts)
            .bind(&self.payloads)
    }

    /// Inserts the batch on `executor` (a pool, a connection or
    /// `&mut *transaction`). Returns how many rows were inserted.
    pub async fn execute<'c, E: PgExecutor<'c>>(&self, executor: E) -> Result<u64> {
        if self.is_empty() {
            return Ok(0);
        }
        let row = self.query().fetch_one(executor).await.map_err(db_err)?;
        Ok(non_negative(row.try_get(0).map_err(db_err)?))
    }

    /// The batch as sea-orm statements (multi-row `VALUES`, at most 1,000
    /// rows each), for a caller's sea-orm transaction. Like [`SQL`](Self::SQL),
    /// each also sends the wake-ups, which Postgres delivers on commit.
    pub fn sea_orm_statements(&self) -> Vec<sea_orm::Statement> {
        use sea_orm::Value;
        const ROWS: usize = 1000;
        (0..self.len())
            .step_by(ROWS)
            .map(|start| {
                let end = (start + ROWS).min(self.len());
                let mut sql = String::from(sql::INSERT_VALUES_HEAD);
                let mut values = Vec::with_capacity((end - start) * 7);
                for (row, i) in (start..end).enumerate() {
                    let params: Vec<String> =
                        (1..=7).map(|k| format!("${}", row * 7 + k)).collect();
                    let comma = if row > 0 { ", " } else { "" };
                    sql.push_str(&format!("{comma}({})", params.join(", ")));
                    values.extend([
                        Value::from(self.ids[i]),
                        Value::from(self.tasks[i]),
                        Value::from(self.queues[i]),
                        Value::from(self.priorities[i]),
                        Value::from(self.run_ats[i]),
                        Value::from(self.max_attempts[i]),
                        Value::from(self.payloads[i].to_vec()),
                    ]);
                }
                sql.push_str(sql::INSERT_VALUES_TAIL);
                sea_orm::Statement::from_sql_and_values(sea_orm::DbBackend::Postgres, sql, values)
            })
            .collect()
    }
}
