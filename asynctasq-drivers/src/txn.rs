//! Transactional enqueue, shared by the SQL drivers: run a driver's insert
//! statements on the caller's sea-orm transaction, once the transaction is
//! known to be on the driver's own jobs database.
//!
//! # Which database a transaction is on
//!
//! A transaction on another database would store the job where no worker of
//! this client looks (and `dispatch_in` would return an id all the same).
//! Comparing URLs cannot tell: the same file has many paths, a server many
//! names, and a Postgres schema is chosen by `search_path`. So every jobs
//! database carries its own identity: the migration that creates the schema
//! writes one random id into `asynctasq_instance`. A driver reads its id
//! once, through its own pool; every transactional enqueue reads the id
//! through the caller's transaction first (one small query, on the
//! transaction's connection) and refuses when it differs or is missing.

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, RuntimeErr, Statement};
use tokio::sync::OnceCell;

use asynctasq_core::{Error, Result};

/// Reads a jobs database's identity; the same text on every SQL backend.
pub(crate) const INSTANCE_QUERY: &str = "SELECT id FROM asynctasq_instance";

/// A driver's jobs database, as transactional enqueue needs to know it.
#[derive(Debug)]
pub(crate) struct JobsDatabase {
    driver: &'static str,
    backend: DbBackend,
    /// Where the jobs are, for messages (password redacted).
    target: String,
    /// This database's identity, read on first use.
    instance: OnceCell<String>,
}

impl JobsDatabase {
    /// The jobs database of the `driver` driver, on `backend`, at `target`.
    pub(crate) fn new(driver: &'static str, backend: DbBackend, target: String) -> Self {
        JobsDatabase {
            driver,
            backend,
            target,
            instance: OnceCell::new(),
        }
    }

    /// Runs `statements` on `txn`, after checking that `txn` is on this
    /// jobs database. `read_own` reads [`INSTANCE_QUERY`] through the
    /// driver's pool; it runs once per driver.
    pub(crate) async fn execute_in<F>(
        &self,
        txn: &DatabaseTransaction,
        statements: impl IntoIterator<Item = Statement>,
        read_own: impl FnOnce() -> F,
    ) -> Result<()>
    where
        F: Future<Output = std::result::Result<String, sqlx::Error>>,
    {
        self.check(txn, read_own).await?;
        for statement in statements {
            txn.execute_raw(statement)
                .await
                .map_err(|e| Error::driver(self.driver, e))?;
        }
        Ok(())
    }

    async fn check<F>(&self, txn: &DatabaseTransaction, read_own: impl FnOnce() -> F) -> Result<()>
    where
        F: Future<Output = std::result::Result<String, sqlx::Error>>,
    {
        let backend = txn.get_database_backend();
        if backend != self.backend {
            return Err(self.elsewhere(format!("it is a {backend:?} transaction")));
        }
        let own = self
            .instance
            .get_or_try_init(|| async {
                read_own().await.map_err(|e| {
                    if is_missing_table(&e.to_string()) {
                        Error::Config(format!(
                            "the jobs database `{}` has no asynctasq schema yet; run `migrate` \
                             (or connect with auto-migrate on) before dispatch_in",
                            self.target
                        ))
                    } else {
                        Error::driver(self.driver, e)
                    }
                })
            })
            .await?;
        let found = txn
            .query_one_raw(Statement::from_string(backend, INSTANCE_QUERY))
            .await;
        match found {
            Ok(Some(row)) => {
                let id: String = row
                    .try_get_by_index(0)
                    .map_err(|e| Error::driver(self.driver, e))?;
                if id == *own {
                    Ok(())
                } else {
                    let place = describe(txn).await;
                    Err(self.elsewhere(format!(
                        "it is on {place}, whose asynctasq schema belongs to another jobs database"
                    )))
                }
            }
            Ok(None) => Err(self.elsewhere("its asynctasq_instance table is empty".into())),
            Err(e) if is_missing_table(&db_err_text(&e)) => {
                // Postgres has aborted the transaction by now, so nothing
                // more can be asked through it.
                Err(self.elsewhere("it has no asynctasq tables".into()))
            }
            Err(e) => Err(Error::driver(self.driver, e)),
        }
    }

    fn elsewhere(&self, why: String) -> Error {
        Error::Config(format!(
            "this transaction is not on the jobs database: {why}, but the {driver} driver stores \
             jobs in `{target}`; begin the transaction on a connection to the jobs database \
             (for one shared database, build the driver from the application's own pool: \
             see docs/orm.md), or dispatch without a transaction",
            driver = self.driver,
            target = self.target,
        ))
    }
}

/// Where `txn` is, in words, for an error message: the file, or the
/// database and server. Best effort.
async fn describe(txn: &DatabaseTransaction) -> String {
    let backend = txn.get_database_backend();
    let sql = match backend {
        DbBackend::Sqlite => {
            "SELECT 'the SQLite file `' || file || '`' FROM pragma_database_list WHERE name = 'main'"
        }
        DbBackend::Postgres => {
            "SELECT 'database `' || current_database() || '` (schema `' || current_schema() \
             || '`) on ' || coalesce(host(inet_server_addr()) || ':' || inet_server_port(), 'a local socket')"
        }
        _ => "SELECT CONCAT('database `', DATABASE(), '` on ', @@hostname, ':', @@port)",
    };
    match txn
        .query_one_raw(Statement::from_string(backend, sql))
        .await
    {
        Ok(Some(row)) => row
            .try_get_by_index::<String>(0)
            .unwrap_or_else(|_| "another database".into()),
        _ => "another database".into(),
    }
}

/// The text of a sea-orm error, down to the database's own message.
fn db_err_text(error: &DbErr) -> String {
    match error {
        DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => e.to_string(),
        other => other.to_string(),
    }
}

/// Whether a database error says that `asynctasq_instance` does not exist
/// (SQLite: `no such table`, Postgres: `relation … does not exist`, MySQL:
/// `Table '…' doesn't exist`).
fn is_missing_table(message: &str) -> bool {
    message.contains("asynctasq_instance")
        && (message.contains("no such table")
            || message.contains("does not exist")
            || message.contains("doesn't exist"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_a_missing_identity_table_on_every_backend() {
        assert!(is_missing_table(
            "error returned from database: (code: 1) no such table: asynctasq_instance"
        ));
        assert!(is_missing_table(
            "error returned from database: relation \"asynctasq_instance\" does not exist"
        ));
        assert!(is_missing_table(
            "error returned from database: 1146 (42S02): Table 'app.asynctasq_instance' doesn't exist"
        ));
        assert!(!is_missing_table(
            "error returned from database: relation \"users\" does not exist"
        ));
        assert!(!is_missing_table("connection refused"));
    }
}
