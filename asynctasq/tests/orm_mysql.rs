//! sea-orm models as task arguments with models and jobs in MariaDB/MySQL,
//! and transactional enqueue with `dispatch_in`.
//!
//! Uses the database `asynctasq_orm_test` on 127.0.0.1:3306 (root, no
//! password; created if missing) and the database `app` for `app.accounts`.

#![cfg(feature = "mysql")]

mod orm;

use std::sync::Arc;

use asynctasq::Client;
use asynctasq::drivers::MySqlDriver;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};

const SERVER: &str = "mysql://root@127.0.0.1:3306";
const DATABASE: &str = "asynctasq_orm_test";

/// Databases and tables are created once per test process.
static SCHEMA: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

async fn setup() -> (DatabaseConnection, Client) {
    SCHEMA
        .get_or_init(|| async {
            let admin = Database::connect(format!("{SERVER}/test"))
                .await
                .expect("MariaDB on 127.0.0.1:3306 must be running (the test command starts it)");
            for statement in [
                format!("CREATE DATABASE IF NOT EXISTS {DATABASE}"),
                "CREATE DATABASE IF NOT EXISTS app".to_string(),
                "CREATE TABLE IF NOT EXISTS app.accounts (id BIGINT PRIMARY KEY, owner TEXT NOT NULL)"
                    .to_string(),
            ] {
                admin.execute_unprepared(&statement).await.expect("create");
            }
            let db = Database::connect(format!("{SERVER}/{DATABASE}")).await.unwrap();
            orm::create_tables(&db).await;
            let driver = MySqlDriver::from_pool(db.get_mysql_connection_pool().clone());
            asynctasq::Driver::migrate(&driver).await.expect("migrate");
        })
        .await;
    let options = ConnectOptions::new(format!("{SERVER}/{DATABASE}"))
        .max_connections(8)
        .to_owned();
    let db = Database::connect(options).await.unwrap();
    let driver = MySqlDriver::from_pool(db.get_mysql_connection_pool().clone());
    (db, Client::new(Arc::new(driver)))
}

/// Another database on the same server, with an asynctasq schema of its
/// own (an earlier `migrate`) and without (`app`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_in_on_another_database_is_refused() {
    let (_db, client) = setup().await;
    OTHER_DATABASE
        .get_or_init(|| async {
            let admin = Database::connect(format!("{SERVER}/test")).await.unwrap();
            admin
                .execute_unprepared("CREATE DATABASE IF NOT EXISTS asynctasq_orm_other")
                .await
                .unwrap();
            let other = Database::connect(format!("{SERVER}/asynctasq_orm_other"))
                .await
                .unwrap();
            let driver = MySqlDriver::from_pool(other.get_mysql_connection_pool().clone());
            asynctasq::Driver::migrate(&driver).await.expect("migrate");
        })
        .await;
    let other_jobs = Database::connect(format!("{SERVER}/asynctasq_orm_other"))
        .await
        .unwrap();
    orm::dispatch_in_elsewhere_is_refused(&client, &other_jobs, true).await;
    let no_jobs = Database::connect(format!("{SERVER}/app")).await.unwrap();
    orm::dispatch_in_elsewhere_is_refused(&client, &no_jobs, false).await;
}

static OTHER_DATABASE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_kind_round_trips_fresh() {
    let (db, client) = setup().await;
    orm::every_key_kind_round_trips_fresh(&db, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_kind_batches_across_jobs() {
    let (db, client) = setup().await;
    orm::every_key_kind_batches_across_jobs(&db, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_batch_fetches_each_entity_once() {
    let (db, client) = setup().await;
    orm::a_claim_batch_fetches_each_entity_once(&db, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_model_ends_in_dead_letter() {
    let (db, client) = setup().await;
    orm::deleted_model_ends_in_dead_letter(&db, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_skip_completes_silently() {
    let (db, client) = setup().await;
    orm::missing_skip_completes_silently(&db, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vec_with_a_missing_row_fails() {
    let (db, client) = setup().await;
    orm::vec_with_a_missing_row_fails(&db, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_class_is_refused() {
    let (db, client) = setup().await;
    orm::wrong_class_is_refused(&db, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_qualified_table() {
    let (db, client) = setup().await;
    orm::schema_qualified_table(&db, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_in_exists_once_the_transaction_commits() {
    let (db, client) = setup().await;
    orm::dispatch_in_exists_once_the_transaction_commits(&db, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_in_vanishes_with_a_rollback() {
    let (db, client) = setup().await;
    orm::dispatch_in_vanishes_with_a_rollback(&db, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_in_vanishes_when_the_transaction_is_dropped() {
    let (db, client) = setup().await;
    orm::dispatch_in_vanishes_when_the_transaction_is_dropped(&db, &client).await;
}
