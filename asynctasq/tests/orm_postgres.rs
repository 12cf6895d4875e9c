//! sea-orm models as task arguments with the models in Postgres, and proof
//! that a job's model arguments are fetched concurrently.
//!
//! Uses the database `asynctasq_orm_test` on 127.0.0.1:5432 (created if
//! missing) and its schema `asynctasq_orm` for the test tables.

#![cfg(feature = "postgres")]

mod orm;

use std::sync::Arc;
use std::time::{Duration, Instant};

use asynctasq::Client;
use asynctasq::drivers::PgDriver;
use asynctasq::task;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, EntityTrait};

const SERVER: &str = "postgres://postgres@127.0.0.1:5432";
const DATABASE: &str = "asynctasq_orm_test";

/// The tables are created once per test process (concurrent `CREATE … IF NOT
/// EXISTS` statements can collide in Postgres's catalog).
static SCHEMA: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
static JOBS_SCHEMA: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
static DATABASE_CREATED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

async fn setup() -> (DatabaseConnection, Client) {
    DATABASE_CREATED
        .get_or_init(|| async {
            let admin = Database::connect(format!("{SERVER}/postgres"))
                .await
                .expect("Postgres on 127.0.0.1:5432 must be running (the test command starts it)");
            let exists = admin
                .query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    format!("SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"),
                ))
                .await
                .unwrap()
                .is_some();
            if !exists {
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {DATABASE}"))
                    .await
                    .expect("create the test database");
            }
        })
        .await;
    let options = ConnectOptions::new(format!("{SERVER}/{DATABASE}"))
        .max_connections(8)
        .set_schema_search_path("asynctasq_orm")
        .to_owned();
    let db = Database::connect(options).await.unwrap();
    SCHEMA
        .get_or_init(|| async {
            for statement in [
                "CREATE SCHEMA IF NOT EXISTS asynctasq_orm",
                "CREATE SCHEMA IF NOT EXISTS app",
                "CREATE TABLE IF NOT EXISTS app.accounts (id BIGINT PRIMARY KEY, owner TEXT NOT NULL)",
            ] {
                db.execute_unprepared(statement).await.expect(statement);
            }
            orm::create_tables(&db).await;
        })
        .await;
    // Jobs in the same database, on the same pool: dispatch_in shares the app's transactions.
    let driver = PgDriver::from_pool(db.get_postgres_connection_pool().clone());
    JOBS_SCHEMA
        .get_or_init(|| async { asynctasq::Driver::migrate(&driver).await.expect("migrate") })
        .await;
    (db, Client::new(Arc::new(driver)))
}

/// Other places a transaction can be: another schema of the same database,
/// with its own migrated asynctasq tables (`search_path` decides) or
/// without, and another database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_in_on_another_database_is_refused() {
    let (db, client) = setup().await;
    OTHER_PLACES
        .get_or_init(|| async {
            for statement in [
                "CREATE SCHEMA IF NOT EXISTS asynctasq_orm_other_jobs",
                "CREATE SCHEMA IF NOT EXISTS asynctasq_orm_no_jobs",
            ] {
                db.execute_unprepared(statement).await.expect(statement);
            }
            let other = connect_with_search_path("asynctasq_orm_other_jobs").await;
            let driver = PgDriver::from_pool(other.get_postgres_connection_pool().clone());
            asynctasq::Driver::migrate(&driver).await.expect("migrate");
        })
        .await;
    let other_jobs = connect_with_search_path("asynctasq_orm_other_jobs").await;
    orm::dispatch_in_elsewhere_is_refused(&client, &other_jobs, true).await;
    let no_jobs = connect_with_search_path("asynctasq_orm_no_jobs").await;
    orm::dispatch_in_elsewhere_is_refused(&client, &no_jobs, false).await;
    let other_database = Database::connect(format!("{SERVER}/postgres"))
        .await
        .unwrap();
    orm::dispatch_in_elsewhere_is_refused(&client, &other_database, false).await;
}

static OTHER_PLACES: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

async fn connect_with_search_path(schema: &str) -> DatabaseConnection {
    let options = ConnectOptions::new(format!("{SERVER}/{DATABASE}"))
        .max_connections(2)
        .set_schema_search_path(schema)
        .to_owned();
    Database::connect(options).await.unwrap()
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_qualified_table() {
    let (db, client) = setup().await;
    orm::schema_qualified_table(&db, &client).await;
}

/// An entity `(id, name)` over the view `$table` of the users.
macro_rules! view_entity {
    ($module:ident, $table:literal) => {
        mod $module {
            use sea_orm::entity::prelude::*;
            #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
            #[sea_orm(table_name = $table)]
            pub struct Model {
                #[sea_orm(primary_key, auto_increment = false)]
                pub id: i32,
                pub name: String,
            }
            #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
            pub enum Relation {}
            impl ActiveModelBehavior for ActiveModel {}
        }
    };
}

// A view whose every row costs 300 ms to read.
view_entity!(slow_user, "slow_users");

static FOUR_SLOW_RAN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[task(queue = "orm-slow")]
async fn four_slow(
    a: slow_user::Model,
    b: slow_user::Model,
    c: slow_user::Model,
    d: slow_user::Model,
) -> Result<(), String> {
    assert_eq!([a.id, b.id, c.id, d.id].len(), 4);
    FOUR_SLOW_RAN.store(true, std::sync::atomic::Ordering::SeqCst);
    Ok(())
}

/// Four model arguments read through a view that sleeps 300 ms per row: one
/// after the other they take at least 1.2 s (checked below), so a job that
/// fetches them in well under that fetched them concurrently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_arguments_are_fetched_concurrently() {
    let (db, client) = setup().await;
    db.execute_unprepared(
        "CREATE OR REPLACE VIEW asynctasq_orm.slow_users AS \
         SELECT u.id, u.name FROM asynctasq_orm.users u, LATERAL (SELECT pg_sleep(0.3)) s",
    )
    .await
    .unwrap();
    let mut rows = Vec::new();
    for name in ["a", "b", "c", "d"] {
        let user = orm::insert_user(&db, name).await;
        rows.push(
            slow_user::Entity::find_by_id(user.id)
                .one(&db)
                .await
                .unwrap()
                .expect("row visible through the view"),
        );
    }
    let sequential = Instant::now();
    for row in &rows {
        slow_user::Entity::find_by_id(row.id)
            .one(&db)
            .await
            .unwrap();
    }
    let sequential = sequential.elapsed();
    assert!(
        sequential >= Duration::from_millis(1200),
        "the view does not sleep: {sequential:?}"
    );

    let queue = orm::run_id("slow");
    let [a, b, c, d] = <[slow_user::Model; 4]>::try_from(rows).unwrap();
    four_slow(a, b, c, d)
        .on_queue(&queue)
        .dispatch_with(&client)
        .await
        .unwrap();
    let started = Instant::now();
    let report = orm::drain(&client, &db, &queue).await;
    let elapsed = started.elapsed();
    assert_eq!(report.completed, 1, "{report:?}");
    assert!(FOUR_SLOW_RAN.load(std::sync::atomic::Ordering::SeqCst));
    eprintln!("4 slow model arguments: sequential {sequential:?}, in a job {elapsed:?}");
    assert!(
        elapsed < Duration::from_millis(900),
        "fetching 4 slow models took {elapsed:?}; sequential takes {sequential:?}"
    );
}

/// Creates the view `view` over the users, costing `seconds` per statement
/// however many rows it returns.
async fn slow_view(db: &DatabaseConnection, view: &str, seconds: f64) {
    db.execute_unprepared(&format!(
        "CREATE OR REPLACE VIEW asynctasq_orm.{view} AS SELECT u.id, u.name \
         FROM asynctasq_orm.users u CROSS JOIN (SELECT pg_sleep({seconds})) s"
    ))
    .await
    .unwrap();
}

// A view that costs 200 ms per statement, however many rows it returns.
view_entity!(slow_statement_user, "slow_statement_users");

static SLOW_STATEMENT_RAN: std::sync::Mutex<Vec<(i32, String)>> = std::sync::Mutex::new(Vec::new());

#[task(queue = "orm-slow-statement")]
async fn greet_slowly(user: slow_statement_user::Model) -> Result<(), String> {
    SLOW_STATEMENT_RAN
        .lock()
        .unwrap()
        .push((user.id, user.name));
    Ok(())
}

/// Claims of one job each: the first two start a fetch each (at most
/// [`IN_FLIGHT`](asynctasq::core::args::IN_FLIGHT) per entity), and the jobs
/// of the claims that arrive while those run wait for the next fetch, which
/// serves them all. One statement per claim would be eight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_that_arrive_during_a_fetch_share_the_next() {
    let (db, client) = setup().await;
    slow_view(&db, "slow_statement_users", 0.2).await;
    let queue = orm::run_id("slow-statement");
    let mut expected = Vec::new();
    for i in 0..8 {
        let user = orm::insert_user(&db, &format!("{queue}-{i}")).await;
        let row = slow_statement_user::Model {
            id: user.id,
            name: user.name.clone(),
        };
        greet_slowly(row)
            .on_queue(&queue)
            .dispatch_with(&client)
            .await
            .unwrap();
        expected.push((user.id, user.name));
    }
    let (counted, counts) = orm::counting_selects(&db, &["slow_statement_users"]);
    let worker = asynctasq::Worker::new(client.clone())
        .config(asynctasq::WorkerConfig {
            queues: vec![queue.clone()],
            concurrency: 8,
            claim_batch: 1,
            burst: true,
            ..asynctasq::WorkerConfig::default()
        })
        .database(counted);
    let report = orm::run_to_drain(worker).await;
    assert_eq!(report.completed, 8, "{report:?}");
    let mut ran: Vec<_> = SLOW_STATEMENT_RAN
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, name)| name.starts_with(&queue))
        .cloned()
        .collect();
    ran.sort();
    expected.sort();
    assert_eq!(ran, expected, "each job got its own row");
    let statements = counts.lock().unwrap()["slow_statement_users"];
    assert!(
        (2..=4).contains(&statements),
        "8 claims of one job fetched with {statements} statements (expected 2 to 4)"
    );
}

// A view that costs a second per statement.
view_entity!(lagging_user, "lagging_users");

/// `(queue, which job)` in the order the jobs ran.
static LENDING_RAN: std::sync::Mutex<Vec<(String, &'static str)>> =
    std::sync::Mutex::new(Vec::new());

/// The user's name is the queue the job ran on.
#[task(queue = "orm-lending")]
async fn greet_lagging(user: lagging_user::Model) -> Result<(), String> {
    LENDING_RAN.lock().unwrap().push((user.name, "model"));
    Ok(())
}

#[task(queue = "orm-lending")]
async fn note_plain(queue: String) -> Result<(), String> {
    LENDING_RAN.lock().unwrap().push((queue, "plain"));
    Ok(())
}

/// Runs a job whose model fetch takes a second, then a plain job, on a
/// worker with one slot and `fetch_ahead`; returns which ran first.
async fn order_with_one_slot(
    db: &DatabaseConnection,
    client: &Client,
    fetch_ahead: usize,
) -> Vec<&'static str> {
    let queue = orm::run_id(&format!("lending-{fetch_ahead}"));
    let user = orm::insert_user(db, &queue).await;
    greet_lagging(lagging_user::Model {
        id: user.id,
        name: queue.clone(),
    })
    .on_queue(&queue)
    .dispatch_with(client)
    .await
    .unwrap();
    note_plain(queue.clone())
        .on_queue(&queue)
        .dispatch_with(client)
        .await
        .unwrap();
    let worker = asynctasq::Worker::new(client.clone())
        .config(asynctasq::WorkerConfig {
            queues: vec![queue.clone()],
            concurrency: 1,
            claim_batch: 1,
            fetch_ahead: Some(fetch_ahead),
            burst: true,
            ..asynctasq::WorkerConfig::default()
        })
        .database(db.clone());
    let report = orm::run_to_drain(worker).await;
    assert_eq!(report.completed, 2, "{report:?}");
    LENDING_RAN
        .lock()
        .unwrap()
        .iter()
        .filter(|(q, _)| *q == queue)
        .map(|(_, which)| *which)
        .collect()
}

/// While a job waits for its rows it lends its slot: with one slot, the
/// plain job claimed after it runs during the fetch. Without a seat in the
/// waiting room (`fetch_ahead = 0`) the slot stays with the model job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_waiting_for_its_models_lends_its_slot() {
    let (db, client) = setup().await;
    slow_view(&db, "lagging_users", 1.0).await;
    assert_eq!(
        order_with_one_slot(&db, &client, 1).await,
        ["plain", "model"],
        "the plain job waited for the model job's fetch"
    );
    assert_eq!(
        order_with_one_slot(&db, &client, 0).await,
        ["model", "plain"],
        "the model job lent its slot with no seat in the waiting room"
    );
}
