//! The asynctasq benchmark harness.
//!
//! ```console
//! $ cargo run --release -p asynctasq-bench -- drain --driver sqlite --jobs 100000 --peer apalis
//! $ cargo run --release -p asynctasq-bench -- all --driver redis
//! $ cargo run --release -p asynctasq-bench -- chart target/bench/*.json --out docs/performance.svg
//! ```
//!
//! Every scenario runs real `#[task]` jobs through a real `asynctasq::Worker`
//! against a real backend; every run uses its own queue names, Redis key
//! prefix and SQLite file, and removes them afterwards. Each run prints a
//! table and writes one JSON file under `target/bench/` (or `--out`). With
//! `--peer apalis`, the same drain and enqueue scenarios run in the apalis
//! peer (`benches/apalis-peer`) against the same server, in the same run, and
//! the table shows both with asynctasq's advantage. See `docs/performance.md`.

mod chart;
mod markdown;
mod peer;
mod report;
mod scenarios;
mod target;
mod tasks;
mod timing;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;
use clap::{Args, Parser, Subcommand, ValueEnum};

use report::{Report, Run, compare, median, table};
use scenarios::Opts;
use target::{DriverKind, Target};

#[derive(Parser, Debug)]
#[command(version, about = "The asynctasq benchmark harness")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// N no-op jobs enqueued in bulk, then drained by one worker.
    Drain(Common),
    /// One `dispatch().await` per job in a loop, then `dispatch_many` in bulk.
    Enqueue(Common),
    /// Producers and a worker together at a fixed offered rate.
    E2e(Common),
    /// An idle worker woken by one job every `--interval-ms`.
    Idle(Common),
    /// The backend alone (raw claim 100 + ack loop) next to a drain, in one run.
    Limit(Common),
    /// Model arguments: payload size and rehydration time (sqlite, postgres).
    Orm(Common),
    /// Model arguments in a drain: references vs values, statements per job.
    OrmDrain(Common),
    /// A large backlog: enqueue rate, drain rate, Redis memory.
    Backlog(Common),
    /// drain, enqueue, e2e, idle (and orm on sqlite / postgres).
    All(Common),
    /// Renders the jobs/s bar chart (SVG) from run files.
    Chart(ChartArgs),
    /// Prints the scenarios of run files as Markdown tables (docs/performance.md).
    Tables(TablesArgs),
}

/// The peers the harness can compare against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Peer {
    /// apalis 1.0 (`benches/apalis-peer`).
    Apalis,
}

#[derive(Args, Debug, Clone)]
struct Common {
    /// The backend.
    #[arg(long, value_enum, default_value = "sqlite")]
    driver: DriverKind,
    /// The server (or SQLite file) URL; defaults per driver (see docs/performance.md).
    #[arg(long)]
    url: Option<String>,
    /// Jobs in the drain and bulk-enqueue scenarios.
    #[arg(long, default_value_t = 100_000)]
    jobs: u64,
    /// Jobs in the backlog scenario.
    #[arg(long, default_value_t = 1_000_000)]
    backlog_jobs: u64,
    /// Jobs a worker runs at once (apalis: `.concurrency(C)`).
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Most jobs per claim (apalis: `Config::batch_size`).
    #[arg(long, default_value_t = 128)]
    claim_batch: usize,
    /// Jobs per `dispatch_many` call (apalis: per `push_bulk` call).
    #[arg(long, default_value_t = 1000)]
    bulk_batch: usize,
    /// `dispatch().await` calls in the single-enqueue loop.
    #[arg(long, default_value_t = 5000)]
    single: u64,
    /// End-to-end offered rate, jobs/s over all producers.
    #[arg(long, default_value_t = 2000)]
    rate: u64,
    /// End-to-end duration of the producers, seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// End-to-end concurrent producers.
    #[arg(long, default_value_t = 4)]
    producers: usize,
    /// Idle wake-up: jobs dispatched.
    #[arg(long, default_value_t = 200)]
    samples: u64,
    /// Idle wake-up: milliseconds between jobs.
    #[arg(long, default_value_t = 50)]
    interval_ms: u64,
    /// ORM: repetitions per measurement.
    #[arg(long, default_value_t = 300)]
    reps: usize,
    /// Run the same drain / enqueue scenarios in a peer, side by side.
    #[arg(long, value_enum)]
    peer: Option<Peer>,
    /// Rounds (asynctasq and the peer alternate; the table shows medians).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// orm-drain: connections in the models database's pool (the worker CLI's
    /// default is `asynctasq::drivers::MODELS_POOL`).
    #[arg(long, default_value_t = asynctasq::drivers::MODELS_POOL)]
    models_pool: u32,
    /// Jobs that may wait for their models without a slot
    /// (`WorkerConfig::fetch_ahead`; default: the worker's, twice `concurrency`).
    #[arg(long)]
    fetch_ahead: Option<usize>,
    /// orm-drain: the kinds to drain, comma-separated (default all:
    /// one_value, one_model, three_values, three_models), e.g. to profile one.
    #[arg(long, value_delimiter = ',', value_parser = ["one_value", "one_model", "three_values", "three_models"])]
    kinds: Vec<String>,
    /// orm-drain: the database the models live in.
    #[arg(long, value_enum, default_value = "postgres")]
    models: DriverKind,
    /// Where to write the run's JSON (default `target/bench/<scenario>-<driver>-<run>.json`).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct TablesArgs {
    /// Run files written by the harness.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Args, Debug)]
struct ChartArgs {
    /// Run files written by the harness.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The SVG to write.
    #[arg(long, default_value = "docs/performance.svg")]
    out: PathBuf,
    /// A line under the title (machine, versions).
    #[arg(long, default_value = "")]
    caption: String,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (name, common) = match cli.command {
        Command::Chart(args) => {
            chart::write(&args.files, &args.out, &args.caption)?;
            println!("wrote {}", args.out.display());
            return Ok(());
        }
        Command::Tables(args) => {
            print!("{}", markdown::tables(&args.files)?);
            return Ok(());
        }
        Command::Drain(c) => ("drain", c),
        Command::Enqueue(c) => ("enqueue", c),
        Command::E2e(c) => ("e2e", c),
        Command::Idle(c) => ("idle", c),
        Command::Limit(c) => ("limit", c),
        Command::Orm(c) => ("orm", c),
        Command::OrmDrain(c) => ("orm-drain", c),
        Command::Backlog(c) => ("backlog", c),
        Command::All(c) => ("all", c),
    };
    let run = run(name, &common).await?;
    let path = common.out.clone().unwrap_or_else(|| {
        report::default_path(&workspace(), name, common.driver.name(), &run.run_id)
    });
    report::write_run(&run, &path)?;
    println!("wrote {}", path.display());
    if run
        .reports
        .iter()
        .any(|r| r.system == "asynctasq" && r.error.is_some())
    {
        bail!("a scenario failed (see above)");
    }
    Ok(())
}

fn opts(c: &Common) -> Opts {
    Opts {
        jobs: c.jobs,
        backlog_jobs: c.backlog_jobs,
        concurrency: c.concurrency,
        claim_batch: c.claim_batch,
        bulk_batch: c.bulk_batch.max(1),
        single: c.single,
        rate: c.rate.max(1),
        seconds: c.seconds,
        producers: c.producers.max(1),
        samples: c.samples,
        interval: Duration::from_millis(c.interval_ms),
        reps: c.reps.max(1),
        models_pool: c.models_pool.max(1),
        fetch_ahead: c.fetch_ahead,
        kinds: c.kinds.clone(),
    }
}

async fn run(name: &str, common: &Common) -> anyhow::Result<Run> {
    let opts = opts(common);
    let uuid = uuid::Uuid::now_v7().simple().to_string();
    let run_id = uuid[uuid.len() - 8..].to_string();
    let kind = common.driver;
    let scenarios: Vec<&str> = match name {
        "all" if matches!(kind, DriverKind::Sqlite | DriverKind::Postgres) => {
            vec!["drain", "enqueue", "e2e", "idle", "orm"]
        }
        "all" => vec!["drain", "enqueue", "e2e", "idle"],
        one => vec![one],
    };
    let mut machine = machine_info();
    let needs_queue = scenarios.iter().any(|s| *s != "orm");
    let target = if needs_queue {
        Some(Target::open(kind, common.url.as_deref(), &run_id).await?)
    } else {
        None
    };
    if let Some(t) = &target {
        machine.insert("server".into(), t.server_version().await);
        machine.insert("url".into(), target::redact(&t.url));
    }
    let peer_binary = match common.peer {
        Some(Peer::Apalis) if scenarios.iter().any(|s| peer::SCENARIOS.contains(s)) => {
            Some(peer::build(&workspace()).await?)
        }
        _ => None,
    };
    let mut run = Run {
        run_id: run_id.clone(),
        started_at: chrono::Utc::now().to_rfc3339(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        machine,
        reports: Vec::new(),
        comparisons: Vec::new(),
    };
    for scenario in scenarios {
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for round in 0..common.rounds.max(1) {
            let with_peer = peer_binary
                .as_ref()
                .filter(|_| peer::SCENARIOS.contains(&scenario));
            // Alternate who goes first, so neither always runs on a cooler machine.
            let peer_first = round % 2 == 1;
            if let (Some(bin), true) = (with_peer, peer_first) {
                settle(target.as_ref()).await?;
                theirs.push(run_peer(bin, scenario, target.as_ref(), &opts, round).await);
            }
            settle(target.as_ref()).await?;
            ours.push(run_ours(scenario, target.as_ref(), common, &opts, &run_id).await);
            if let (Some(bin), false) = (with_peer, peer_first) {
                settle(target.as_ref()).await?;
                theirs.push(run_peer(bin, scenario, target.as_ref(), &opts, round).await);
            }
        }
        let ours_m = median(&ours).expect("at least one round");
        let theirs_m = median(&theirs);
        println!("{}", table(&ours_m, theirs_m.as_ref()));
        if let Some(t) = &theirs_m
            && t.error.is_none()
            && ours_m.error.is_none()
        {
            run.comparisons.extend(compare(&ours_m, t));
        }
        run.reports.extend(ours);
        run.reports.extend(theirs);
    }
    run.machine.insert("loadavg_end".into(), loadavg());
    if let Some(t) = target {
        t.cleanup().await?;
    }
    Ok(run)
}

/// Lets the backend start each run clean (see [`Target::settle`]).
async fn settle(target: Option<&Target>) -> anyhow::Result<()> {
    match target {
        Some(t) => t.settle().await,
        None => Ok(()),
    }
}

async fn run_ours(
    scenario: &str,
    target: Option<&Target>,
    common: &Common,
    opts: &Opts,
    run_id: &str,
) -> Report {
    let result = match (scenario, target) {
        ("orm", _) => scenarios::orm::run(common.driver, common.url.as_deref(), run_id, opts).await,
        ("orm-drain", Some(t)) => scenarios::orm_drain::run(t, common.models, run_id, opts).await,
        ("drain", Some(t)) => scenarios::drain::run(t, opts).await,
        ("enqueue", Some(t)) => scenarios::enqueue::run(t, opts).await,
        ("e2e", Some(t)) => scenarios::e2e::run(t, opts).await,
        ("idle", Some(t)) => scenarios::idle::run(t, opts).await,
        ("limit", Some(t)) => scenarios::limit::run(t, opts).await,
        ("backlog", Some(t)) => scenarios::backlog::run(t, opts).await,
        (other, _) => Err(anyhow::anyhow!("unknown scenario {other}")),
    };
    result.unwrap_or_else(|e| {
        let mut report = Report::new(scenario, common.driver.name());
        report.error = Some(format!("{e:#}"));
        eprintln!(
            "asynctasq {scenario} on {} failed: {e:#}",
            common.driver.name()
        );
        report
    })
}

async fn run_peer(
    binary: &Path,
    scenario: &str,
    target: Option<&Target>,
    opts: &Opts,
    round: usize,
) -> Report {
    let Some(target) = target else {
        let mut r = Report::new(scenario, "?");
        r.system = "apalis".into();
        r.error = Some("no target".into());
        return r;
    };
    peer::run(binary, scenario, target, opts, round)
        .await
        .unwrap_or_else(|e| {
            let mut r = Report::new(scenario, target.kind.name());
            r.system = "apalis".into();
            r.error = Some(format!("{e:#}"));
            r
        })
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The machine: cores, CPU model, memory, load, kernel, toolchain.
fn machine_info() -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert(
        "nproc".into(),
        std::thread::available_parallelism()
            .map(|n| n.to_string())
            .unwrap_or_default(),
    );
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    if let Some(model) = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
    {
        m.insert("cpu".into(), model.1.trim().to_string());
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    if let Some(total) = meminfo.lines().find(|l| l.starts_with("MemTotal")) {
        m.insert(
            "memory".into(),
            total.trim_start_matches("MemTotal:").trim().to_string(),
        );
    }
    m.insert("loadavg_start".into(), loadavg());
    m.insert(
        "kernel".into(),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string(),
    );
    if let Ok(out) = std::process::Command::new("rustc")
        .arg("--version")
        .output()
    {
        m.insert(
            "rustc".into(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        );
    }
    m.insert("asynctasq".into(), env!("CARGO_PKG_VERSION").into());
    m
}
