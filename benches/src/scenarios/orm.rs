//! **orm**: what a sea-orm model costs as a task argument. Payload size of a
//! model sent as a reference (`{orm, class, pk}`) vs sent whole
//! (`Snapshot<Model>`), and rehydration time of 1, 4 and 16 model arguments
//! through the real decode path (the registered handler, which fetches all
//! models of a job concurrently) vs the same fetches one after another.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use asynctasq::core::args::Snapshot;
use asynctasq::{Envelope, JobContext, Registry};
use chrono::{TimeZone, Utc};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, EntityTrait, Schema, Set,
};

use super::{Opts, ms};
use crate::report::{Better, Report, percentiles};
use crate::target::{DriverKind, POSTGRES_URL, ensure_database};
use crate::tasks::customer;
use crate::tasks::customer_ref::{self, Model as Customer};
use crate::tasks::{orm_four, orm_one, orm_serde_model, orm_sixteen, orm_snapshot};

/// Rows in the customer table.
const ROWS: i32 = 1000;

/// Connections in the application's pool (fetches of one job run on several).
pub(super) const POOL: u32 = 16;

/// Where the application's table lives for one run, and how to remove it.
pub(super) struct AppDb {
    pub(super) db: DatabaseConnection,
    sqlite_file: Option<PathBuf>,
    schema: Option<(String, String)>,
}

impl AppDb {
    pub(super) async fn open(
        kind: DriverKind,
        url: Option<&str>,
        run_id: &str,
        pool: u32,
    ) -> anyhow::Result<Self> {
        match kind {
            DriverKind::Sqlite => {
                let file = std::env::temp_dir().join(format!("asynctasq-bench-{run_id}-app.db"));
                let url = format!("sqlite://{}?mode=rwc", file.display());
                let db = Database::connect(pool_options(&url, pool)).await?;
                Ok(AppDb {
                    db,
                    sqlite_file: Some(file),
                    schema: None,
                })
            }
            DriverKind::Postgres => {
                let url = url.unwrap_or(POSTGRES_URL);
                ensure_database(url).await?;
                let schema = format!("bench_{run_id}");
                let admin = Database::connect(url).await?;
                admin
                    .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
                    .await?;
                admin.close().await?;
                let mut options = pool_options(url, pool);
                options.set_schema_search_path(schema.clone());
                let db = Database::connect(options).await?;
                Ok(AppDb {
                    db,
                    sqlite_file: None,
                    schema: Some((url.to_string(), schema)),
                })
            }
            other => bail!(
                "the orm scenario runs on sqlite and postgres, not {}",
                other.name()
            ),
        }
    }

    pub(super) async fn close(self) -> anyhow::Result<()> {
        self.db.close().await?;
        if let Some(file) = &self.sqlite_file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        }
        if let Some((url, schema)) = &self.schema {
            let admin = Database::connect(url.as_str()).await?;
            admin
                .execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE"))
                .await?;
            admin.close().await?;
        }
        Ok(())
    }
}

fn pool_options(url: &str, pool: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(pool)
        .min_connections(pool)
        // As `asynctasq::drivers::connect_models_database` (and docs/orm.md)
        // does: no ping before every fetch.
        .test_before_acquire_if_idle_for(std::time::Duration::from_secs(30))
        .sqlx_logging(false);
    options
}

/// A customer as an application would store it: short fields, a few hundred
/// characters of free text, timestamps.
pub(super) fn sample(i: i32) -> customer::ActiveModel {
    let at = Utc
        .timestamp_opt(1_760_000_000 + i64::from(i) * 3_600, 0)
        .unwrap();
    customer::ActiveModel {
        public_id: Set(uuid::Uuid::now_v7()),
        email: Set(format!("customer{i}@example.com")),
        full_name: Set(format!("Customer Number {i}")),
        company: Set(format!("Company {} GmbH & Co. KG", i % 97)),
        bio: Set(format!(
            "Customer {i} runs a small business selling handmade furniture and \
             kitchenware across three countries. They joined during the spring \
             campaign, prefer email over phone, and asked to be contacted about \
             bulk shipping discounts, invoicing in their local currency and the \
             new API for order synchronisation with their web shop. Their team \
             has four people who log in daily; two of them manage inventory."
        )),
        street: Set(format!("{} Long Avenue, Building {}", 10 + i, i % 7)),
        city: Set("Lyon".into()),
        country: Set("FR".into()),
        phone: Set(format!("+33 4 72 00 {:02} {:02}", i % 100, (i / 100) % 100)),
        plan: Set(["free", "team", "business", "enterprise"][(i % 4) as usize].into()),
        notes: Set(Some(format!(
            "Ticket #{}: asked about exporting invoices as CSV; resolved by \
             pointing to the reports page. Follow up next quarter.",
            40_000 + i
        ))),
        is_active: Set(i % 11 != 0),
        login_count: Set(i * 7 % 1000),
        score: Set(f64::from(i) * 1.37),
        created_at: Set(at),
        updated_at: Set(at),
        ..Default::default()
    }
}

/// A small deterministic generator, so that runs fetch the same rows.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// `k` distinct indexes below `n`.
    pub(super) fn pick(&mut self, k: usize, n: usize) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::with_capacity(k);
        while out.len() < k {
            let i = (self.next() % n as u64) as usize;
            if !out.contains(&i) {
                out.push(i);
            }
        }
        out
    }
}

fn envelope_for(models: &[Customer]) -> anyhow::Result<Envelope> {
    let m = |i: usize| models[i].clone();
    Ok(match models.len() {
        1 => orm_one(m(0)).envelope()?,
        4 => orm_four(m(0), m(1), m(2), m(3)).envelope()?,
        16 => orm_sixteen(
            m(0),
            m(1),
            m(2),
            m(3),
            m(4),
            m(5),
            m(6),
            m(7),
            m(8),
            m(9),
            m(10),
            m(11),
            m(12),
            m(13),
            m(14),
            m(15),
        )
        .envelope()?,
        n => bail!("no task takes {n} models"),
    })
}

fn context(envelope: &Envelope, db: Option<&DatabaseConnection>) -> JobContext {
    JobContext {
        id: envelope.id,
        task: envelope.task.clone(),
        queue: envelope.queue.clone(),
        attempt: 1,
        max_attempts: 1,
        args: envelope.args.clone(),
        db: db.cloned(),
        cancellation: asynctasq::Cancellation::never(),
    }
}

/// Runs the ORM scenario on SQLite or Postgres.
pub async fn run(
    kind: DriverKind,
    url: Option<&str>,
    run_id: &str,
    opts: &Opts,
) -> anyhow::Result<Report> {
    let app = AppDb::open(kind, url, run_id, POOL).await?;
    let result = measure(kind, &app.db, opts).await;
    app.close().await?;
    result
}

async fn measure(kind: DriverKind, db: &DatabaseConnection, opts: &Opts) -> anyhow::Result<Report> {
    let mut report = Report::new("orm", kind.name());
    report.param("rows", ROWS);
    report.param("reps", opts.reps);
    report.param("pool", POOL);

    let backend = db.get_database_backend();
    db.execute(&Schema::new(backend).create_table_from_entity(customer::Entity))
        .await?;
    for chunk in (1..=ROWS).collect::<Vec<_>>().chunks(100) {
        customer::Entity::insert_many(chunk.iter().map(|i| sample(*i)))
            .exec(db)
            .await?;
    }
    let models = customer_ref::Entity::find().all(db).await?;
    ensure!(models.len() == ROWS as usize, "expected {ROWS} rows");
    report.param("columns", 17);

    // Payload sizes of the same row: as the model that derives serde (what
    // the brief asks for), as a model without serde, and as a snapshot.
    let serde_model = customer::Entity::find_by_id(models[0].id)
        .one(db)
        .await?
        .context("row 1")?;
    let as_serde_model = orm_serde_model(serde_model.clone()).envelope()?;
    let reference = orm_one(models[0].clone()).envelope()?.encode()?.len();
    let snapshot_env = orm_snapshot(Snapshot(serde_model.clone())).envelope()?;
    let snapshot = snapshot_env.encode()?.len();
    let serde_len = as_serde_model.encode()?.len();
    let json = serde_json::to_vec(&serde_model)?.len();
    report.metric(
        "payload.model_bytes",
        serde_len as f64,
        "bytes",
        Better::Lower,
    );
    report.metric(
        "payload.snapshot_bytes",
        snapshot as f64,
        "bytes",
        Better::Info,
    );
    report.metric(
        "payload.reference_bytes",
        reference as f64,
        "bytes",
        Better::Lower,
    );
    report.metric(
        "payload.model_json_bytes",
        json as f64,
        "bytes",
        Better::Info,
    );
    if serde_len + 64 > snapshot {
        report.note(format!(
            "a task taking a model that derives Serialize sent it WHOLE ({serde_len} bytes, \
             snapshot {snapshot}), not as a reference ({reference} bytes for the same row \
             through a model without serde): the serde codec wins the autoref \
             specialization; rehydration below uses the model without serde"
        ));
    }

    let registry = Registry::from_inventory()?;
    let handler = |name: &str| {
        registry
            .get(name)
            .map(|r| r.handler)
            .with_context(|| format!("task {name} is not registered"))
    };

    // A snapshot decodes without touching the database.
    let snap = handler(&snapshot_env.task)?;
    let mut times = Vec::new();
    for _ in 0..opts.reps {
        let start = Instant::now();
        snap(context(&snapshot_env, None))
            .await
            .map_err(|f| anyhow::anyhow!(f.message))?;
        times.push(ms(start.elapsed()) * 1000.0);
    }
    let p = percentiles(&mut times);
    report.metric("rehydrate.snapshot.p50_us", p.p50, "µs", Better::Info);

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for k in [1usize, 4, 16] {
        let mut parallel = Vec::with_capacity(opts.reps);
        let mut sequential = Vec::with_capacity(opts.reps);
        let warmup = 20;
        for rep in 0..opts.reps + warmup {
            let picked: Vec<Customer> = rng
                .pick(k, models.len())
                .into_iter()
                .map(|i| models[i].clone())
                .collect();
            let envelope = envelope_for(&picked)?;
            let run = handler(&envelope.task)?;
            let ctx = context(&envelope, Some(db));
            let by_handler = async {
                let start = Instant::now();
                run(ctx).await.map_err(|f| anyhow::anyhow!(f.message))?;
                anyhow::Ok(start.elapsed())
            };
            let one_by_one = async {
                let start = Instant::now();
                for m in &picked {
                    customer_ref::Entity::find_by_id(m.id)
                        .one(db)
                        .await?
                        .context("row vanished")?;
                }
                anyhow::Ok(start.elapsed())
            };
            // Alternate the order so neither always runs on a warmer cache.
            let (p, s): (Duration, Duration) = if rep % 2 == 0 {
                let p = by_handler.await?;
                (p, one_by_one.await?)
            } else {
                let s = one_by_one.await?;
                (by_handler.await?, s)
            };
            if rep >= warmup {
                parallel.push(ms(p) * 1000.0);
                sequential.push(ms(s) * 1000.0);
            }
        }
        let p = percentiles(&mut parallel);
        let s = percentiles(&mut sequential);
        report.metric(
            &format!("rehydrate.{k}.parallel_p50_us"),
            p.p50,
            "µs",
            Better::Lower,
        );
        report.metric(
            &format!("rehydrate.{k}.parallel_mean_us"),
            p.mean,
            "µs",
            Better::Lower,
        );
        report.metric(
            &format!("rehydrate.{k}.sequential_p50_us"),
            s.p50,
            "µs",
            Better::Info,
        );
        report.metric(
            &format!("rehydrate.{k}.sequential_mean_us"),
            s.mean,
            "µs",
            Better::Info,
        );
        report.metric(
            &format!("rehydrate.{k}.speedup"),
            s.p50 / p.p50,
            "×",
            Better::Info,
        );
    }
    Ok(report)
}
