//! The apalis peer of the asynctasq benchmark harness.
//!
//! Runs the `drain` and `enqueue` scenarios with apalis 1.0 and its published
//! backends (`apalis-postgres`, `apalis-sqlite`, `apalis-redis`) against the
//! server the harness names, and writes a report in the harness's JSON shape.
//! The harness (`asynctasq-bench … --peer apalis`) builds and runs it; it can
//! also be run by hand:
//!
//! ```console
//! $ cargo run --release --manifest-path benches/apalis-peer/Cargo.toml -- \
//!     drain --driver postgres --url postgres://postgres@127.0.0.1:5432/asynctasq_bench \
//!     --queue bench-x --jobs 100000 --concurrency 256 --batch-size 128 --json /tmp/apalis.json
//! ```
//!
//! Configuration (see `docs/performance.md`): `Config::batch_size` = the
//! harness's claim batch, `.concurrency(C)` = the harness's concurrency,
//! `lock_tasks(false)` as in apalis's own examples (the fetch already marks
//! the jobs as taken by this worker), `persist_results` left on (it is what
//! acknowledges a job), LISTEN/NOTIFY (`with_pubsub`) on Postgres, and
//! `.parallelize(tokio::spawn)` so that jobs run on tokio tasks as they do in
//! asynctasq (`--no-parallelize` runs them on the worker's own task).

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use apalis::prelude::*;
use clap::{Parser, ValueEnum};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Drain,
    Enqueue,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Driver {
    Sqlite,
    Postgres,
    Redis,
}

#[derive(Parser, Debug)]
#[command(about = "apalis side of the asynctasq benchmark")]
struct Cli {
    scenario: Scenario,
    #[arg(long, value_enum)]
    driver: Driver,
    /// `sqlite://file`, `postgres://…`, `redis://…`.
    #[arg(long)]
    url: String,
    /// The queue (apalis `Config::queue`), unique per run.
    #[arg(long)]
    queue: String,
    #[arg(long, default_value_t = 100_000)]
    jobs: u64,
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// apalis `Config::batch_size`: jobs per fetch.
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// Jobs per `push_bulk` call.
    #[arg(long, default_value_t = 1000)]
    bulk_batch: usize,
    /// `push` calls in the single-enqueue loop.
    #[arg(long, default_value_t = 5000)]
    single: u64,
    /// Run each job on the worker's own task instead of `tokio::spawn`.
    #[arg(long)]
    no_parallelize: bool,
    /// Where to write the report.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

/// The harness's report shape.
#[derive(Debug, Serialize, Deserialize)]
struct Report {
    system: String,
    version: String,
    scenario: String,
    driver: String,
    params: BTreeMap<String, serde_json::Value>,
    metrics: Vec<Metric>,
    notes: Vec<String>,
    error: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Metric {
    name: String,
    value: f64,
    unit: String,
    better: String,
}

impl Report {
    fn metric(&mut self, name: &str, value: f64, unit: &str, better: &str) {
        self.metrics.push(Metric {
            name: name.into(),
            value,
            unit: unit.into(),
            better: better.into(),
        });
    }
}

/// Jobs run so far, and how many end the drain.
static RAN: AtomicU64 = AtomicU64::new(0);
static TARGET: AtomicU64 = AtomicU64::new(u64::MAX);
/// When the first job started.
static FIRST: OnceLock<Instant> = OnceLock::new();

/// The no-op job: counts itself; the last one stops the worker, which then
/// flushes the remaining acknowledgements and returns.
async fn noop(n: u64, worker: WorkerContext) -> Result<(), BoxDynError> {
    FIRST.get_or_init(Instant::now);
    std::hint::black_box(n);
    if RAN.fetch_add(1, Ordering::SeqCst) + 1 == TARGET.load(Ordering::SeqCst) {
        worker.stop()?;
    }
    Ok(())
}

/// Builds a worker over `$backend` with the run's options and runs it.
macro_rules! run_worker {
    ($backend:expr, $cli:expr) => {{
        let name = format!("apalis-peer-{}", std::process::id());
        if $cli.no_parallelize {
            WorkerBuilder::new(name)
                .backend($backend)
                .concurrency($cli.concurrency)
                .build(noop)
                .run()
                .await
        } else {
            WorkerBuilder::new(name)
                .backend($backend)
                .concurrency($cli.concurrency)
                .parallelize(tokio::spawn)
                .build(noop)
                .run()
                .await
        }
    }};
}

fn percentile(samples: &mut [f64], q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_by(f64::total_cmp);
    let rank = (q * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Pushes `jobs` tasks in `push_bulk` calls of `batch`; returns each call's time.
async fn push_in_bulk<S, K>(storage: &mut S, jobs: u64, batch: usize) -> anyhow::Result<Vec<f64>>
where
    S: TaskSink<u64, K>,
    S::Error: std::fmt::Debug,
{
    let mut calls = Vec::new();
    let mut next = 0;
    while next < jobs {
        let end = (next + batch as u64).min(jobs);
        let start = Instant::now();
        storage
            .push_bulk((next..end).collect())
            .await
            .map_err(|e| anyhow::anyhow!("push_bulk: {e:?}"))?;
        calls.push(ms(start.elapsed()));
        next = end;
    }
    Ok(calls)
}

/// Pushes `count` tasks one `push` at a time; returns each call's time.
async fn push_one_by_one<S, K>(storage: &mut S, count: u64) -> anyhow::Result<Vec<f64>>
where
    S: TaskSink<u64, K>,
    S::Error: std::fmt::Debug,
{
    let mut calls = Vec::with_capacity(count as usize);
    for i in 0..count {
        let start = Instant::now();
        storage
            .push(i)
            .await
            .map_err(|e| anyhow::anyhow!("push: {e:?}"))?;
        calls.push(ms(start.elapsed()));
    }
    Ok(calls)
}

fn config_notes(cli: &Cli) -> Vec<String> {
    let mut notes = vec![format!(
        "batch_size={}, concurrency={}, lock_tasks=false, persist_results=true, {}",
        cli.batch_size,
        cli.concurrency,
        if cli.no_parallelize {
            "jobs on the worker task"
        } else {
            "parallelize(tokio::spawn)"
        }
    )];
    if cli.driver == Driver::Postgres {
        notes.push("LISTEN/NOTIFY (with_pubsub)".into());
    }
    notes
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut report = Report {
        system: "apalis".into(),
        version: "1.0.0".into(),
        scenario: format!("{:?}", cli.scenario).to_lowercase(),
        driver: format!("{:?}", cli.driver).to_lowercase(),
        params: BTreeMap::new(),
        metrics: Vec::new(),
        notes: config_notes(&cli),
        error: None,
    };
    let params = [
        ("jobs", serde_json::json!(cli.jobs)),
        ("concurrency", serde_json::json!(cli.concurrency)),
        ("claim_batch", serde_json::json!(cli.batch_size)),
        ("bulk_batch", serde_json::json!(cli.bulk_batch)),
        ("single", serde_json::json!(cli.single)),
    ];
    report
        .params
        .extend(params.into_iter().map(|(k, v)| (k.to_string(), v)));
    let result = match cli.driver {
        Driver::Postgres => postgres(&cli, &mut report).await,
        Driver::Sqlite => sqlite(&cli, &mut report).await,
        Driver::Redis => redis_backend(&cli, &mut report).await,
    };
    if let Err(e) = &result {
        report.error = Some(format!("{e:#}"));
    }
    let text = serde_json::to_string_pretty(&report)?;
    match &cli.json {
        Some(path) => std::fs::write(path, text + "\n")?,
        None => println!("{text}"),
    }
    result
}

/// Records the drain's figures once the worker has returned.
fn drain_metrics(report: &mut Report, jobs: u64, enqueue: Duration, started: Instant) {
    let ended = Instant::now();
    let first = FIRST.get().copied().unwrap_or(started);
    let wall = ended.duration_since(first);
    report.metric(
        "jobs_per_sec",
        jobs as f64 / wall.as_secs_f64(),
        "jobs/s",
        "higher",
    );
    report.metric("seconds", wall.as_secs_f64(), "s", "lower");
    report.metric(
        "startup_ms",
        ms(first.duration_since(started)),
        "ms",
        "info",
    );
    report.metric(
        "enqueue_jobs_per_sec",
        jobs as f64 / enqueue.as_secs_f64(),
        "jobs/s",
        "info",
    );
}

fn enqueue_metrics(
    report: &mut Report,
    cli: &Cli,
    single: (Duration, Vec<f64>),
    bulk: (Duration, Vec<f64>),
) {
    let (took, mut calls) = single;
    report.metric(
        "single.jobs_per_sec",
        cli.single as f64 / took.as_secs_f64(),
        "jobs/s",
        "higher",
    );
    report.metric("single.p50_ms", percentile(&mut calls, 0.50), "ms", "lower");
    report.metric("single.p99_ms", percentile(&mut calls, 0.99), "ms", "lower");
    let (took, mut calls) = bulk;
    report.metric(
        "bulk.jobs_per_sec",
        cli.jobs as f64 / took.as_secs_f64(),
        "jobs/s",
        "higher",
    );
    report.metric(
        "bulk.call_p50_ms",
        percentile(&mut calls, 0.50),
        "ms",
        "lower",
    );
    report.metric(
        "bulk.call_p99_ms",
        percentile(&mut calls, 0.99),
        "ms",
        "lower",
    );
}

async fn timed<T>(f: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<(Duration, T)> {
    let start = Instant::now();
    let out = f.await?;
    Ok((start.elapsed(), out))
}

async fn postgres(cli: &Cli, report: &mut Report) -> anyhow::Result<()> {
    use apalis_postgres::{Config, PgPool, PostgresStorage};
    let pool = PgPool::connect(&cli.url).await.context("connecting")?;
    PostgresStorage::setup(&pool)
        .await
        .context("apalis migrations")?;
    let config = Config::default()
        .queue(&cli.queue)
        .batch_size(cli.batch_size)
        .lock_tasks(false);
    let mut storage = PostgresStorage::<u64>::new(&pool).with_config(config);
    let result = async {
        match cli.scenario {
            Scenario::Drain => {
                let (enqueue, _) =
                    timed(push_in_bulk(&mut storage, cli.jobs, cli.bulk_batch)).await?;
                TARGET.store(cli.jobs, Ordering::SeqCst);
                let started = Instant::now();
                run_worker!(storage.clone().with_pubsub(), cli)
                    .map_err(|e| anyhow::anyhow!("worker: {e}"))?;
                drain_metrics(report, cli.jobs, enqueue, started);
                let done: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM apalis.jobs WHERE job_type = $1 AND status = 'Done'",
                )
                .bind(&cli.queue)
                .fetch_one(&pool)
                .await?;
                ensure!(
                    done as u64 == cli.jobs,
                    "{done} of {} jobs are Done",
                    cli.jobs
                );
            }
            Scenario::Enqueue => {
                let single = timed(push_one_by_one(&mut storage, cli.single)).await?;
                let bulk = timed(push_in_bulk(&mut storage, cli.jobs, cli.bulk_batch)).await?;
                enqueue_metrics(report, cli, single, bulk);
            }
        }
        anyhow::Ok(())
    }
    .await;
    for sql in [
        "DELETE FROM apalis.jobs WHERE job_type = $1",
        "DELETE FROM apalis.workers WHERE worker_type = $1",
    ] {
        sqlx::query(sql).bind(&cli.queue).execute(&pool).await?;
    }
    pool.close().await;
    result
}

async fn sqlite(cli: &Cli, report: &mut Report) -> anyhow::Result<()> {
    use apalis_sqlite::{Config, SqlitePool, SqliteStorage};
    let path = cli
        .url
        .strip_prefix("sqlite://")
        .context("expected a sqlite:// URL")?
        .to_string();
    let pool = SqlitePool::connect(&format!("sqlite://{path}?mode=rwc"))
        .await
        .context("connecting")?;
    SqliteStorage::setup(&pool)
        .await
        .context("apalis migrations")?;
    let config = Config::default()
        .queue(&cli.queue)
        .batch_size(cli.batch_size)
        .lock_tasks(false);
    let mut storage = SqliteStorage::<u64>::new(&pool).with_config(config);
    let result = async {
        match cli.scenario {
            Scenario::Drain => {
                let (enqueue, _) =
                    timed(push_in_bulk(&mut storage, cli.jobs, cli.bulk_batch)).await?;
                TARGET.store(cli.jobs, Ordering::SeqCst);
                let started = Instant::now();
                run_worker!(storage.clone(), cli).map_err(|e| anyhow::anyhow!("worker: {e}"))?;
                drain_metrics(report, cli.jobs, enqueue, started);
                let done: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM Jobs WHERE job_type = ?1 AND status = 'Done'",
                )
                .bind(&cli.queue)
                .fetch_one(&pool)
                .await?;
                ensure!(
                    done as u64 == cli.jobs,
                    "{done} of {} jobs are Done",
                    cli.jobs
                );
            }
            Scenario::Enqueue => {
                let single = timed(push_one_by_one(&mut storage, cli.single)).await?;
                let bulk = timed(push_in_bulk(&mut storage, cli.jobs, cli.bulk_batch)).await?;
                enqueue_metrics(report, cli, single, bulk);
            }
        }
        anyhow::Ok(())
    }
    .await;
    pool.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{path}{suffix}"));
    }
    result
}

async fn redis_backend(cli: &Cli, report: &mut Report) -> anyhow::Result<()> {
    use apalis_redis::{Config, RedisStorage};
    if cli.queue.contains('*') {
        bail!("queue names must not contain `*`");
    }
    let conn = apalis_redis::connect(cli.url.as_str())
        .await
        .context("connecting")?;
    let config = Config::default()
        .queue(&cli.queue)
        .batch_size(cli.batch_size)
        .lock_tasks(false);
    let mut storage = RedisStorage::<u64>::new(conn.clone()).with_config(config.clone());
    let result = async {
        match cli.scenario {
            Scenario::Drain => {
                let (enqueue, _) =
                    timed(push_in_bulk(&mut storage, cli.jobs, cli.bulk_batch)).await?;
                TARGET.store(cli.jobs, Ordering::SeqCst);
                let started = Instant::now();
                run_worker!(storage.clone(), cli).map_err(|e| anyhow::anyhow!("worker: {e}"))?;
                drain_metrics(report, cli.jobs, enqueue, started);
                let mut c = conn.clone();
                let done: u64 = redis::cmd("SCARD")
                    .arg(config.done_jobs_set())
                    .query_async(&mut c)
                    .await?;
                ensure!(done == cli.jobs, "{done} of {} jobs are done", cli.jobs);
            }
            Scenario::Enqueue => {
                let single = timed(push_one_by_one(&mut storage, cli.single)).await?;
                let bulk = timed(push_in_bulk(&mut storage, cli.jobs, cli.bulk_batch)).await?;
                enqueue_metrics(report, cli, single, bulk);
            }
        }
        anyhow::Ok(())
    }
    .await;
    // Every key of the queue starts with its name.
    let client = redis::Client::open(cli.url.as_str())?;
    let mut c = client.get_multiplexed_async_connection().await?;
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{}*", cli.queue))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut c)
            .await?;
        if !keys.is_empty() {
            let _: u64 = redis::cmd("UNLINK").arg(&keys).query_async(&mut c).await?;
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    result
}
