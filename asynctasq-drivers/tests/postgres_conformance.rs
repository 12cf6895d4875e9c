//! The driver conformance suite on Postgres.
//!
//! Needs a server: `ASYNCTASQ_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432`). The tests use the database
//! `asynctasq_test`, created if missing, and fail when the server cannot be
//! reached.
//!
//! Each case gets its own schema (through `search_path`), as each case of
//! the SQLite suite gets its own file: the rescuer reads expired leases across
//! the whole table, so cases sharing one would rescue each other's jobs and
//! miscount. Schemas are named after their creation time and dropped by
//! later runs once an hour old.

#![cfg(feature = "postgres")]

use std::sync::Arc;

use asynctasq_core::Driver;
use asynctasq_drivers::PgDriver;

mod pg_support;
use pg_support::{ensure_database, server};

/// A fresh schema in `asynctasq_test`; drops those left by runs an hour ago.
async fn fresh_schema() -> String {
    use sqlx::Connection;
    ensure_database("asynctasq_test").await;
    let mut conn = sqlx::PgConnection::connect(&format!("{}/asynctasq_test", server()))
        .await
        .expect("connect");
    let now = chrono::Utc::now().timestamp();
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'ct\\_%' \
         AND split_part(nspname, '_', 2) ~ '^[0-9]+$' AND split_part(nspname, '_', 2)::int8 < $1",
    )
    .bind(now - 3600)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for schema in stale {
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
        )))
        .execute(&mut conn)
        .await;
    }
    let schema = format!(
        "ct_{now}_{}",
        &uuid::Uuid::now_v7().simple().to_string()[24..]
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
        .execute(&mut conn)
        .await
        .unwrap();
    schema
}

async fn driver() -> Arc<dyn Driver> {
    let schema = fresh_schema().await;
    let url = format!(
        "{}/asynctasq_test?max_connections=4&options[search_path]={schema}",
        server()
    );
    let driver = PgDriver::connect(&url).await.expect("connect");
    driver.migrate().await.expect("migrate");
    Arc::new(driver)
}

asynctasq_core::conformance_tests!(driver);

/// Records the messages of events logged under `target` on this thread.
struct Notices {
    target: &'static str,
    seen: Arc<std::sync::Mutex<Vec<String>>>,
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Notices {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message<'a>(&'a mut String);
        impl tracing::field::Visit for Message<'_> {
            fn record_debug(&mut self, _: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{value:?} "));
            }
        }
        if event.metadata().target() == self.target {
            let mut text = String::new();
            event.record(&mut Message(&mut text));
            self.seen.lock().unwrap().push(text);
        }
    }
}

/// sqlx logs the server's NOTICEs (`trigger … does not exist, skipping`
/// from `DROP … IF EXISTS`) at INFO under `sqlx::postgres::notice`: a first
/// migration on a fresh schema must log none of them.
#[tokio::test]
async fn a_first_migration_logs_no_notice() {
    use tracing_subscriber::layer::SubscriberExt;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::registry().with(Notices {
        target: "sqlx::postgres::notice",
        seen: seen.clone(),
    });
    let schema = fresh_schema().await;
    let url = format!(
        "{}/asynctasq_test?max_connections=2&options[search_path]={schema}",
        server()
    );
    // A current-thread runtime: every connection task logs on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);
    let driver = PgDriver::connect(&url).await.expect("connect");
    driver.migrate().await.expect("migrate");
    // The probe: the same subscriber does see a notice outside the migration.
    let pool = sqlx::PgPool::connect(&url).await.expect("connect");
    sqlx::raw_sql("DROP TABLE IF EXISTS asynctasq_no_such_table")
        .execute(&pool)
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "expected only the probe's notice: {seen:?}");
    assert!(seen[0].contains("does not exist, skipping"), "{seen:?}");
}
