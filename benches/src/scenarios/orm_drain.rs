//! **orm-drain**: what model references cost in a real drain. The queue is
//! the `--driver` backend; the models live in Postgres (`--models postgres`,
//! the default) or SQLite: 20,000 customers (17 columns), 1,000 products,
//! 20,000 orders. N jobs of each kind are enqueued, then one worker
//! (`--concurrency`, 50 in `docs/performance.md`) drains them: one customer
//! as a reference vs by value, customer + product + order as references vs
//! by value. Reported: jobs/s of each, the reference/value ratios, and the
//! SQL statements the worker ran on the models database per job.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::ensure;
use asynctasq::core::args::Snapshot;
use asynctasq::{Envelope, Worker, WorkerConfig};
use chrono::{TimeZone, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, Schema, Set};

use super::orm::{AppDb, Rng, sample};
use super::{Opts, worker_config};
use crate::report::{Better, Report};
use crate::target::{DriverKind, Target};
use crate::tasks::{
    customer, drain_one_model, drain_one_value, drain_three_models, drain_three_values, order,
    product,
};

/// The kinds of job drained, in order.
const KINDS: [&str; 4] = ["one_value", "one_model", "three_values", "three_models"];

const CUSTOMERS: i32 = 20_000;
const PRODUCTS: i32 = 1_000;
const ORDERS: i32 = 20_000;

/// The rows the jobs refer to, loaded once.
struct Rows {
    customers: Vec<customer::Model>,
    products: Vec<product::Model>,
    orders: Vec<order::Model>,
}

/// Runs the scenario.
pub async fn run(
    target: &Target,
    models: DriverKind,
    run_id: &str,
    opts: &Opts,
) -> anyhow::Result<Report> {
    let app = AppDb::open(models, None, run_id, opts.models_pool).await?;
    let result = measure(target, models, &app.db, opts).await;
    app.close().await?;
    result
}

async fn measure(
    target: &Target,
    models: DriverKind,
    db: &DatabaseConnection,
    opts: &Opts,
) -> anyhow::Result<Report> {
    let mut report = Report::new("orm-drain", target.kind.name());
    report.param("models", models.name());
    report.param("jobs", opts.jobs);
    report.param("concurrency", opts.concurrency);
    report.param("claim_batch", opts.claim_batch);
    report.param("models_pool", opts.models_pool);
    if let Some(ahead) = opts.fetch_ahead {
        report.param("fetch_ahead", ahead);
    }
    report.param("customers", CUSTOMERS);
    report.param("products", PRODUCTS);
    report.param("orders", ORDERS);
    let rows = seed(db).await?;

    let mut rates = HashMap::new();
    let chosen = |kind: &str| opts.kinds.is_empty() || opts.kinds.iter().any(|k| k == kind);
    for kind in KINDS.into_iter().filter(|k| chosen(k)) {
        let (rate, statements, statement_ms) = drain(target, db, opts, &rows, kind).await?;
        report.metric(
            &format!("{kind}.jobs_per_sec"),
            rate,
            "jobs/s",
            Better::Higher,
        );
        report.metric(
            &format!("{kind}.statements_per_job"),
            statements,
            "statements",
            Better::Lower,
        );
        if statements > 0.0 {
            report.metric(
                &format!("{kind}.statement_ms"),
                statement_ms,
                "ms",
                Better::Info,
            );
        }
        rates.insert(kind, rate);
    }
    for (ratio, model, value) in [
        ("one_model_vs_value", "one_model", "one_value"),
        ("three_models_vs_values", "three_models", "three_values"),
    ] {
        if let (Some(model), Some(value)) = (rates.get(model), rates.get(value)) {
            report.metric(ratio, model / value, "x", Better::Higher);
        }
    }
    Ok(report)
}

/// Creates and fills the three tables; returns their rows.
async fn seed(db: &DatabaseConnection) -> anyhow::Result<Rows> {
    let schema = Schema::new(db.get_database_backend());
    db.execute(&schema.create_table_from_entity(customer::Entity))
        .await?;
    db.execute(&schema.create_table_from_entity(product::Entity))
        .await?;
    db.execute(&schema.create_table_from_entity(order::Entity))
        .await?;
    for chunk in (1..=CUSTOMERS).collect::<Vec<_>>().chunks(500) {
        customer::Entity::insert_many(chunk.iter().map(|i| sample(*i)))
            .exec(db)
            .await?;
    }
    for chunk in (1..=PRODUCTS).collect::<Vec<_>>().chunks(500) {
        product::Entity::insert_many(chunk.iter().map(|&i| product::ActiveModel {
            sku: Set(format!("SKU-{i:05}")),
            name: Set(format!("Product {i}")),
            price_cents: Set(i64::from(i) * 137 % 10_000 + 99),
            stock: Set(i % 50),
            ..Default::default()
        }))
        .exec(db)
        .await?;
    }
    let placed = Utc.timestamp_opt(1_760_000_000, 0).unwrap();
    for chunk in (1..=ORDERS).collect::<Vec<_>>().chunks(500) {
        order::Entity::insert_many(chunk.iter().map(|&i| order::ActiveModel {
            customer_id: Set(i % CUSTOMERS + 1),
            product_id: Set(i % PRODUCTS + 1),
            quantity: Set(i % 5 + 1),
            total_cents: Set(i64::from(i) * 311 % 50_000),
            status: Set(["placed", "paid", "shipped"][(i % 3) as usize].into()),
            created_at: Set(placed),
            ..Default::default()
        }))
        .exec(db)
        .await?;
    }
    let rows = Rows {
        customers: customer::Entity::find().all(db).await?,
        products: product::Entity::find().all(db).await?,
        orders: order::Entity::find().all(db).await?,
    };
    ensure!(
        rows.customers.len() == CUSTOMERS as usize
            && rows.products.len() == PRODUCTS as usize
            && rows.orders.len() == ORDERS as usize,
        "seeding left the wrong row counts"
    );
    Ok(rows)
}

/// One job of the kind `kind` on `queue`, over rows picked by `rng`.
fn job(kind: &str, queue: &str, rows: &Rows, rng: &mut Rng) -> asynctasq::Result<Envelope> {
    let mut pick = |n: usize| (rng.next() % n as u64) as usize;
    let c = rows.customers[pick(rows.customers.len())].clone();
    let p = rows.products[pick(rows.products.len())].clone();
    let o = rows.orders[pick(rows.orders.len())].clone();
    match kind {
        "one_model" => drain_one_model(c).on_queue(queue).envelope(),
        "one_value" => drain_one_value(Snapshot(c)).on_queue(queue).envelope(),
        "three_models" => drain_three_models(c, p, o).on_queue(queue).envelope(),
        _ => drain_three_values(Snapshot(c), Snapshot(p), Snapshot(o))
            .on_queue(queue)
            .envelope(),
    }
}

/// Enqueues N jobs of `kind` and drains them; jobs/s from the first claim
/// to the last ack, the statements run on the models database per job, and
/// their mean duration (ms).
async fn drain(
    target: &Target,
    db: &DatabaseConnection,
    opts: &Opts,
    rows: &Rows,
    kind: &str,
) -> anyhow::Result<(f64, f64, f64)> {
    let queue = target.queue(&format!("orm-drain-{kind}"));
    let mut rng = Rng(0x5eed_0000 + kind.len() as u64);
    let mut left = opts.jobs;
    while left > 0 {
        let n = left.min(opts.bulk_batch as u64);
        let batch = (0..n)
            .map(|_| job(kind, &queue, rows, &mut rng))
            .collect::<asynctasq::Result<Vec<_>>>()?;
        target.client.enqueue(&batch).await?;
        left -= n;
    }
    let statements = Arc::new(AtomicU64::new(0));
    let micros = Arc::new(AtomicU64::new(0));
    let mut counted = db.clone();
    let (seen, spent) = (statements.clone(), micros.clone());
    counted.set_metric_callback(move |info| {
        seen.fetch_add(1, Ordering::Relaxed);
        spent.fetch_add(info.elapsed.as_micros() as u64, Ordering::Relaxed);
    });
    target.timings.reset();
    let worker = Worker::new(target.client.clone())
        .config(WorkerConfig {
            max_jobs: Some(opts.jobs),
            without_database: false,
            ..worker_config(&queue, opts)
        })
        .database(counted);
    let started = Instant::now();
    let outcome = worker.run_until(std::future::pending()).await?;
    let ended = Instant::now();
    ensure!(
        outcome.completed == opts.jobs && outcome.dead == 0,
        "{kind}: the worker completed {} of {} jobs ({} dead)",
        outcome.completed,
        opts.jobs,
        outcome.dead
    );
    let wall = ended.duration_since(target.timings.first_claim().unwrap_or(started));
    target.purge_queue(&queue).await?;
    let count = statements.load(Ordering::Relaxed);
    let per_job = count as f64 / opts.jobs as f64;
    let mean_ms = micros.load(Ordering::Relaxed) as f64 / 1000.0 / count.max(1) as f64;
    Ok((opts.jobs as f64 / wall.as_secs_f64(), per_job, mean_ms))
}
