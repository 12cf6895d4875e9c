//! The apalis peer (`benches/apalis-peer`, its own cargo workspace), run as
//! a child process against the same server, writing the same JSON shape.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::Command;

use crate::report::Report;
use crate::scenarios::Opts;
use crate::target::{DriverKind, Target};

/// The scenarios the peer implements.
pub const SCENARIOS: &[&str] = &["drain", "enqueue"];

/// The longest a peer run may take.
const TIME_LIMIT: Duration = Duration::from_secs(30 * 60);

/// The peer's crate directory.
pub fn crate_dir(workspace: &Path) -> PathBuf {
    workspace.join("benches").join("apalis-peer")
}

/// Builds the peer in release mode (a no-op when it is up to date) and
/// returns its binary.
pub async fn build(workspace: &Path) -> anyhow::Result<PathBuf> {
    let dir = crate_dir(workspace);
    eprintln!("building the apalis peer ({})…", dir.display());
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .await
        .context("running cargo to build the apalis peer")?;
    if !status.success() {
        bail!("building the apalis peer failed ({status})");
    }
    let binary = dir.join("target").join("release").join("apalis-peer");
    if !binary.exists() {
        bail!(
            "the apalis peer was built but {} is missing",
            binary.display()
        );
    }
    Ok(binary)
}

/// Runs `scenario` in the peer against the target's server and reads its report.
pub async fn run(
    binary: &Path,
    scenario: &str,
    target: &Target,
    opts: &Opts,
    round: usize,
) -> anyhow::Result<Report> {
    let driver = target.kind.name();
    let tag = format!("{}-{scenario}-{round}", target.run_id);
    let url = match target.kind {
        DriverKind::Sqlite => format!(
            "sqlite://{}",
            std::env::temp_dir()
                .join(format!("asynctasq-bench-{tag}-apalis.db"))
                .display()
        ),
        DriverKind::Postgres | DriverKind::Redis => target.server_url.clone(),
        DriverKind::Mysql | DriverKind::RedisCluster => {
            return Ok(unsupported(
                scenario,
                driver,
                "the apalis peer does not run on this backend (apalis-redis keys span \
                 several cluster slots; apalis-mysql is not part of the comparison)",
            ));
        }
    };
    let json = std::env::temp_dir().join(format!("asynctasq-bench-{tag}-apalis.json"));
    let mut cmd = Command::new(binary);
    cmd.arg(scenario)
        .args(["--driver", driver])
        .args(["--url", &url])
        .args(["--queue", &format!("bench-{tag}-apalis")])
        .args(["--jobs", &opts.jobs.to_string()])
        .args(["--concurrency", &opts.concurrency.to_string()])
        .args(["--batch-size", &opts.claim_batch.to_string()])
        .args(["--bulk-batch", &opts.bulk_batch.to_string()])
        .args(["--single", &opts.single.to_string()])
        .arg("--json")
        .arg(&json)
        .kill_on_drop(true);
    let output = tokio::time::timeout(TIME_LIMIT, cmd.output())
        .await
        .context("the apalis peer ran out of time")?
        .context("starting the apalis peer")?;
    let report = std::fs::read_to_string(&json)
        .ok()
        .and_then(|text| serde_json::from_str::<Report>(&text).ok());
    let _ = std::fs::remove_file(&json);
    match report {
        Some(report) => Ok(report),
        None => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
            let mut report = unsupported(scenario, driver, "");
            report.error = Some(format!(
                "the apalis peer exited with {} and wrote no report: {}",
                output.status,
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            ));
            Ok(report)
        }
    }
}

fn unsupported(scenario: &str, driver: &str, why: &str) -> Report {
    let mut report = Report::new(scenario, driver);
    report.system = "apalis".into();
    report.version = "1.0".into();
    if !why.is_empty() {
        report.error = Some(why.into());
    }
    report
}
