//! Tasks for crash, shutdown and bad-input tests. Each records what it did
//! in plain files so that a test can check, from outside the worker process,
//! that every job ran.

use std::io::Write;
use std::time::Duration;

use asynctasq::task;

/// Appends `n` to `{log}.started`, sleeps `sleep_ms`, then appends `n` to `log`.
#[task(
    queue = "chaos",
    max_attempts = 5,
    retry = "fixed",
    retry_delay = "100ms"
)]
pub async fn record(n: u64, log: String, sleep_ms: u64) -> Result<(), std::io::Error> {
    append(&format!("{log}.started"), n)?;
    tokio::time::sleep(Duration::from_millis(sleep_ms)).await;
    append(&log, n)
}

/// Always panics.
#[task(
    queue = "chaos",
    max_attempts = 2,
    retry = "fixed",
    retry_delay = "50ms"
)]
pub async fn explode(reason: String) {
    panic!("{reason}");
}

/// Sleeps far longer than its 200 ms timeout.
#[task(queue = "chaos", max_attempts = 1, timeout = "200ms")]
pub async fn hang() {
    tokio::time::sleep(Duration::from_secs(600)).await;
}

fn append(path: &str, n: u64) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // One write call per line, so concurrent jobs never interleave bytes.
    file.write_all(format!("{n}\n").as_bytes())
}
