//! Transactional enqueue, shared by the SQL drivers: run a driver's insert
//! statements on the caller's sea-orm transaction.

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement};

use asynctasq_core::{Error, Result};

/// Runs `statements` on `txn`, after checking that the transaction is on the
/// kind of database the driver stores jobs in.
pub(crate) async fn execute_in(
    txn: &DatabaseTransaction,
    driver: &'static str,
    expected: DbBackend,
    statements: impl IntoIterator<Item = Statement>,
) -> Result<()> {
    let backend = txn.get_database_backend();
    if backend != expected {
        return Err(Error::Config(format!(
            "dispatch_in was given a {backend:?} transaction, but the jobs are stored in \
             {expected:?} ({driver} driver); the transaction must be on the jobs database"
        )));
    }
    for statement in statements {
        txn.execute_raw(statement)
            .await
            .map_err(|e| Error::driver(driver, e))?;
    }
    Ok(())
}
