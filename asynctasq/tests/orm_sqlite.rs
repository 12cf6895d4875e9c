//! sea-orm models as task arguments, with models and jobs in one SQLite file;
//! transactional enqueue with `dispatch_in`.

mod orm;

use std::sync::Arc;

use asynctasq::Client;
use asynctasq::drivers::{MemoryDriver, SqliteDriver};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, TransactionTrait};

use orm::entities::account;

/// A temp SQLite file holding the app's tables and the jobs, sharing one pool.
async fn setup() -> (tempfile::TempDir, DatabaseConnection, Client) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("app.db").display());
    let db = Database::connect(ConnectOptions::new(url).max_connections(8).to_owned())
        .await
        .unwrap();
    db.execute_unprepared("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;")
        .await
        .unwrap();
    orm::create_tables(&db).await;
    let driver = SqliteDriver::from_sea_orm(&db).unwrap();
    asynctasq::Driver::migrate(&driver).await.unwrap();
    (dir, db, Client::new(Arc::new(driver)))
}

#[test]
fn registry_knows_which_tasks_take_models() {
    orm::registry_knows_which_tasks_take_models();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_kind_round_trips_fresh() {
    let (_dir, db, client) = setup().await;
    orm::every_key_kind_round_trips_fresh(&db, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_kind_batches_across_jobs() {
    let (_dir, db, client) = setup().await;
    orm::every_key_kind_batches_across_jobs(&db, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_batch_fetches_each_entity_once() {
    let (_dir, db, client) = setup().await;
    orm::a_claim_batch_fetches_each_entity_once(&db, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_model_ends_in_dead_letter() {
    let (_dir, db, client) = setup().await;
    orm::deleted_model_ends_in_dead_letter(&db, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_skip_completes_silently() {
    let (_dir, db, client) = setup().await;
    orm::missing_skip_completes_silently(&db, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vec_with_a_missing_row_fails() {
    let (_dir, db, client) = setup().await;
    orm::vec_with_a_missing_row_fails(&db, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_class_is_refused() {
    let (_dir, db, client) = setup().await;
    orm::wrong_class_is_refused(&db, &client).await;
}

/// `app.accounts` lives in a database attached as `app` (SQLite's schemas);
/// one connection, so the attachment holds for every query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_qualified_table() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("main.db").display());
    let options = ConnectOptions::new(url)
        .max_connections(1)
        .min_connections(1)
        .to_owned();
    let db = Database::connect(options).await.unwrap();
    let app = dir.path().join("app.db");
    db.execute_unprepared(&format!("ATTACH DATABASE '{}' AS app", app.display()))
        .await
        .unwrap();
    db.execute_unprepared(
        "CREATE TABLE app.accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL)",
    )
    .await
    .unwrap();
    assert_eq!(
        asynctasq::core::args::entity_class::<account::Entity>(),
        "app.accounts"
    );
    let client = Client::new(Arc::new(MemoryDriver::new()));
    orm::schema_qualified_table(&db, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_in_exists_once_the_transaction_commits() {
    let (_dir, db, client) = setup().await;
    orm::dispatch_in_exists_once_the_transaction_commits(&db, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_in_vanishes_with_a_rollback() {
    let (_dir, db, client) = setup().await;
    orm::dispatch_in_vanishes_with_a_rollback(&db, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_in_vanishes_when_the_transaction_is_dropped() {
    let (_dir, db, client) = setup().await;
    orm::dispatch_in_vanishes_when_the_transaction_is_dropped(&db, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_in_on_a_driver_without_transactions_is_a_clear_error() {
    let (_dir, db, _client) = setup().await;
    let memory = Client::new(Arc::new(MemoryDriver::new()));
    let txn = db.begin().await.unwrap();
    let user = orm::insert_user(&txn, "X").await;
    let error = orm::greet("r".into(), user)
        .dispatch_in_with(&memory, &txn)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the memory driver does not support enqueueing inside a caller's transaction (dispatch_in)"
    );
}

/// Another SQLite file: one that an earlier `migrate` gave a schema of its
/// own, and one without.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_in_on_another_file_is_refused() {
    let (dir, _db, client) = setup().await;
    for has_schema in [true, false] {
        let path = dir.path().join(format!("other-{has_schema}.db"));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let other = Database::connect(url).await.unwrap();
        if has_schema {
            let driver = SqliteDriver::from_sea_orm(&other).unwrap();
            asynctasq::Driver::migrate(&driver).await.unwrap();
        }
        orm::dispatch_in_elsewhere_is_refused(&client, &other, has_schema).await;
    }
}
