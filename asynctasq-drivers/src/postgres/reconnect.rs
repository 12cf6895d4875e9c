//! Statements that survive lost connections.
//!
//! The driver's pools do not ping a connection before lending it (that is a
//! round trip before every statement, a quarter of a millisecond on an idle
//! machine). A connection that died while idle (`pg_terminate_backend`, a
//! server restart, a proxy timeout) is therefore only found out when a
//! statement fails on it; sqlx then discards it. [`retry_lost`] runs the
//! statement again on another connection, up to once per pooled connection
//! plus one, so that every dead connection left in the pool is used up and
//! replaced before the caller sees an error.

use std::future::Future;

use sqlx::PgPool;

/// SQLSTATE classes that mean the session is gone: `admin_shutdown`
/// (`pg_terminate_backend`), `crash_shutdown`, `cannot_connect_now`.
const SESSION_GONE: &[&str] = &["57P01", "57P02", "57P03"];

/// Whether `error` says the connection was lost (the statement may or may
/// not have run) rather than that the statement itself failed.
pub(super) fn connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| SESSION_GONE.contains(&&*c)),
        _ => false,
    }
}

/// Runs `op` on `pool`, again while it fails with a lost connection. `op`
/// receives `retried`: `true` when an earlier try lost its connection and
/// so may have committed (the insert uses this to recognise its own rows).
/// When no connection can be had, the error says why (see
/// [`explained`](crate::sql_connect::explained)).
pub(super) async fn retry_lost<'p, T, F, Fut>(
    pool: &'p PgPool,
    mut op: F,
) -> std::result::Result<T, sqlx::Error>
where
    F: FnMut(&'p PgPool, bool) -> Fut,
    Fut: Future<Output = std::result::Result<T, sqlx::Error>> + 'p,
{
    let mut tries_left = pool.options().get_max_connections() + 1;
    let mut retried = false;
    crate::sql_connect::explained(pool, async {
        loop {
            match op(pool, retried).await {
                Err(e) if tries_left > 1 && connection_lost(&e) => {
                    tracing::debug!(error = %e, "postgres connection lost; retrying on another");
                    tries_left -= 1;
                    retried = true;
                }
                other => return other,
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_lost_connections_but_statement_errors_are_not() {
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(connection_lost(&io));
        assert!(!connection_lost(&sqlx::Error::RowNotFound));
        assert!(!connection_lost(&sqlx::Error::PoolTimedOut));
    }
}
