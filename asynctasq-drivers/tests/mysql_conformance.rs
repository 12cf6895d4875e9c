//! The driver conformance suite on MySQL / MariaDB.
//!
//! Needs a server: `ASYNCTASQ_TEST_MYSQL` (default
//! `mysql://root@127.0.0.1:3306`). Fails when the server cannot be reached.
//!
//! Each case gets its own database, as each case of the SQLite suite gets
//! its own file: the rescuer reads expired leases across the whole table,
//! so cases sharing one would rescue each other's jobs and miscount. Databases are
//! named after their creation time and dropped by later runs once an hour
//! old.

#![cfg(feature = "mysql")]

use std::sync::Arc;

use asynctasq_core::Driver;
use asynctasq_drivers::MySqlDriver;

fn server() -> String {
    std::env::var("ASYNCTASQ_TEST_MYSQL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_string())
}

/// A fresh database; drops those left by runs an hour ago.
async fn fresh_database() -> String {
    use sqlx::Connection;
    let mut conn = sqlx::MySqlConnection::connect(&server())
        .await
        .expect("mysql is not reachable (set ASYNCTASQ_TEST_MYSQL)");
    let now = chrono::Utc::now().timestamp();
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata WHERE schema_name LIKE 'asynctasq\\_ct\\_%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for name in names {
        let stale = name
            .split('_')
            .nth(2)
            .and_then(|t| t.parse::<i64>().ok())
            .is_some_and(|t| t < now - 3600);
        if stale {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS `{name}`"
            )))
            .execute(&mut conn)
            .await;
        }
    }
    let name = format!(
        "asynctasq_ct_{now}_{}",
        &uuid::Uuid::now_v7().simple().to_string()[24..]
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
        .execute(&mut conn)
        .await
        .unwrap();
    name
}

async fn driver() -> Arc<dyn Driver> {
    let database = fresh_database().await;
    let url = format!("{}/{database}?max_connections=4", server());
    let driver = MySqlDriver::connect(&url).await.expect("connect");
    driver.migrate().await.expect("migrate");
    Arc::new(driver)
}

asynctasq_core::conformance_tests!(driver);
