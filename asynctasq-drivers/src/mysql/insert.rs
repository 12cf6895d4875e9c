//! The insert of a batch of jobs, as statements that any MySQL/MariaDB
//! connection or transaction can run.
//!
//! [`MySqlDriver::enqueue`](asynctasq_core::Driver::enqueue) runs them on
//! the driver's pool (in one transaction when the batch needs several
//! statements). Transactional enqueue runs the same statements on the
//! application's own transaction, then publishes the jobs to the driver's
//! wake-up hub (`driver.wakeups().hub.publish_enqueued(&jobs)`) after the
//! commit, so that workers of this process start at once.

use sqlx::mysql::MySqlArguments;
use sqlx::query::Query;
use sqlx::{MySql, MySqlConnection};

use asynctasq_core::job::to_millis;
use asynctasq_core::{NewJob, Result};

use super::{db_err, sql};

/// Most rows in one statement.
const MAX_ROWS: usize = 1000;

/// Most payload bytes in one statement: well under the smallest default
/// `max_allowed_packet` (16 MiB on MariaDB, 64 MiB on MySQL 8).
const MAX_BYTES: usize = 4 << 20;

/// One bound value of an insert statement, in placeholder order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MySqlParam<'a> {
    /// `BINARY(16)` id, or `LONGBLOB` payload.
    Bytes(&'a [u8]),
    /// `VARCHAR` task or queue.
    Text(&'a str),
    /// `SMALLINT` priority.
    SmallInt(i16),
    /// `INT` max attempts.
    Int(i32),
    /// `BIGINT` run_at, in epoch milliseconds.
    BigInt(i64),
}

/// One insert statement and its values.
#[derive(Clone, Debug)]
pub struct MySqlStatement<'a> {
    /// `INSERT INTO asynctasq_jobs … VALUES (…), (…)` with `?` placeholders.
    pub sql: String,
    /// The values, in placeholder order (seven per job: id, task, queue,
    /// priority, run_at, max_attempts, payload).
    pub params: Vec<MySqlParam<'a>>,
}

impl MySqlStatement<'_> {
    /// The statement for a caller's sea-orm transaction.
    pub fn to_sea_orm(&self) -> sea_orm::Statement {
        use sea_orm::Value;
        let values = self.params.iter().map(|param| match *param {
            MySqlParam::Bytes(b) => Value::from(b.to_vec()),
            MySqlParam::Text(t) => Value::from(t),
            MySqlParam::SmallInt(n) => Value::from(n),
            MySqlParam::Int(n) => Value::from(n),
            MySqlParam::BigInt(n) => Value::from(n),
        });
        sea_orm::Statement::from_sql_and_values(sea_orm::DbBackend::MySql, self.sql.clone(), values)
    }

    /// The statement with its values bound, ready for an sqlx executor.
    pub fn query(&self) -> Query<'_, MySql, MySqlArguments> {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(self.sql.as_str()));
        for param in &self.params {
            query = match *param {
                MySqlParam::Bytes(b) => query.bind(b),
                MySqlParam::Text(t) => query.bind(t),
                MySqlParam::SmallInt(n) => query.bind(n),
                MySqlParam::Int(n) => query.bind(n),
                MySqlParam::BigInt(n) => query.bind(n),
            };
        }
        query
    }
}

/// A batch of jobs as one or more multi-row `INSERT` statements (split so
/// that none exceeds 1000 rows or 4 MiB of payload).
///
/// ```no_run
/// # async fn run(pool: sqlx::MySqlPool, jobs: Vec<asynctasq_core::NewJob>,
/// #              driver: asynctasq_drivers::MySqlDriver) -> asynctasq_core::Result<()> {
/// use asynctasq_core::Driver;
/// use asynctasq_drivers::mysql::MySqlInsert;
///
/// let err = |e| asynctasq_core::Error::driver("mysql", e);
/// let mut tx = pool.begin().await.map_err(err)?;
/// // ... the application's own writes on `tx` ...
/// MySqlInsert::new(&jobs).execute(&mut tx).await?;
/// tx.commit().await.map_err(err)?;
/// driver.wakeups().hub.publish_enqueued(&jobs); // wake this process's workers now
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct MySqlInsert<'a> {
    statements: Vec<MySqlStatement<'a>>,
}

impl<'a> MySqlInsert<'a> {
    /// The statements that insert `jobs`, in order.
    pub fn new(jobs: &'a [NewJob]) -> Self {
        let mut statements = Vec::new();
        let mut start = 0;
        while start < jobs.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < jobs.len()
                && end - start < MAX_ROWS
                && (end == start || bytes + jobs[end].payload.len() <= MAX_BYTES)
            {
                bytes += jobs[end].payload.len();
                end += 1;
            }
            statements.push(statement(&jobs[start..end]));
            start = end;
        }
        MySqlInsert { statements }
    }

    /// The statements, for binding on another client (e.g. a sea-orm
    /// `DatabaseTransaction` with `Statement::from_sql_and_values`).
    pub fn statements(&self) -> &[MySqlStatement<'a>] {
        &self.statements
    }

    /// Runs every statement on `conn` (a connection, or `&mut tx` for a
    /// transaction, which keeps a multi-statement batch atomic). Returns
    /// how many rows were inserted.
    pub async fn execute(&self, conn: &mut MySqlConnection) -> Result<u64> {
        let mut inserted = 0;
        for statement in &self.statements {
            let done = statement
                .query()
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
            inserted += done.rows_affected();
        }
        Ok(inserted)
    }
}

fn statement(jobs: &[NewJob]) -> MySqlStatement<'_> {
    let mut sql = String::from(sql::INSERT_HEAD);
    let mut params = Vec::with_capacity(jobs.len() * 7);
    for (i, job) in jobs.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(sql::INSERT_ROW);
        params.extend([
            MySqlParam::Bytes(job.id.0.as_bytes()),
            MySqlParam::Text(&job.task),
            MySqlParam::Text(&job.queue),
            MySqlParam::SmallInt(job.priority),
            MySqlParam::BigInt(to_millis(job.run_at)),
            MySqlParam::Int(i32::try_from(job.max_attempts.max(1)).unwrap_or(i32::MAX)),
            MySqlParam::Bytes(&job.payload),
        ]);
    }
    MySqlStatement { sql, params }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asynctasq_core::JobId;

    fn job(payload: usize) -> NewJob {
        NewJob {
            id: JobId::new(),
            task: "t".into(),
            queue: "q".into(),
            priority: 0,
            run_at: chrono::Utc::now(),
            max_attempts: 3,
            payload: vec![0; payload],
        }
    }

    #[test]
    fn splits_by_rows_and_bytes() {
        let jobs: Vec<_> = (0..2500).map(|_| job(10)).collect();
        let insert = MySqlInsert::new(&jobs);
        let rows: Vec<usize> = insert
            .statements()
            .iter()
            .map(|s| s.params.len() / 7)
            .collect();
        assert_eq!(rows, vec![1000, 1000, 500]);

        let big: Vec<_> = (0..5).map(|_| job(3 << 20)).collect();
        let insert = MySqlInsert::new(&big);
        assert_eq!(
            insert.statements().len(),
            5,
            "one 3 MiB payload per statement"
        );

        let huge = vec![job(9 << 20)];
        assert_eq!(MySqlInsert::new(&huge).statements().len(), 1);
        assert!(MySqlInsert::new(&[]).statements().is_empty());
    }
}
