//! Helpers shared by the `cli_*` tests: building jobs, putting them in
//! dead-letter through the driver API, reading the `stats` table.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use asynctasq::core::{Burial, ClaimParams};
use asynctasq::{AttemptError, Client, Envelope, JobId};

/// Milliseconds since the Unix epoch.
pub fn millis_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Enqueues a job of `task` on `queue`, due after `delay`, without arguments.
pub async fn enqueue(client: &Client, task: &str, queue: &str, delay: Duration) -> JobId {
    let envelope = Envelope::new(task, queue);
    let envelope = Envelope {
        run_at: envelope.created_at + delay.as_millis() as i64,
        ..envelope
    };
    client
        .enqueue(std::slice::from_ref(&envelope))
        .await
        .unwrap();
    envelope.id
}

/// Enqueues `n` jobs on `queue` and moves them to dead-letter through the
/// driver (claim, then bury with the error `smtp refused <id>`). Returns
/// their ids.
pub async fn bury(client: &Client, queue: &str, n: usize) -> Vec<JobId> {
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(enqueue(client, "app::send_email", queue, Duration::ZERO).await);
    }
    let queues = [queue.to_string()];
    let claimed = client
        .driver()
        .claim(ClaimParams {
            worker: "test",
            queues: &queues,
            max: n,
            lease: Duration::from_secs(60),
        })
        .await
        .unwrap();
    assert_eq!(claimed.len(), n);
    let burials: Vec<Burial> = claimed
        .iter()
        .map(|job| Burial {
            receipt: job.receipt,
            error: AttemptError::now(job.attempt, format!("smtp refused {}", job.receipt.id)),
        })
        .collect();
    assert_eq!(client.driver().bury(&burials).await.unwrap(), n as u64);
    ids
}

/// The `stats` table as queue → column → cell.
pub type Stats = HashMap<String, HashMap<String, String>>;

/// Parses the `stats` table.
#[track_caller]
pub fn stats_table(text: &str) -> Stats {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(
        header,
        ["QUEUE", "READY", "SCHEDULED", "RUNNING", "DEAD", "PAUSED"],
        "{text}"
    );
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            let row = header
                .iter()
                .zip(&cells)
                .map(|(h, c)| (h.to_string(), c.to_string()))
                .collect();
            (cells[0].to_string(), row)
        })
        .collect()
}

/// One cell of a parsed `stats` table.
#[track_caller]
pub fn cell<'a>(stats: &'a Stats, queue: &str, column: &str) -> &'a str {
    &stats[queue][column]
}

/// What a command printed and how it ended.
#[derive(Debug)]
pub struct Output {
    /// The exit code: 0 ok, 2 error (usage or command), as `cli::run()` exits.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(self) -> String {
        assert_eq!(self.code, 0, "failed: {self:#?}");
        self.stdout
    }
}

/// Runs the command line in-process, like a binary whose `main` calls
/// `cli::run()` would.
pub async fn in_process(args: &[&str]) -> Output {
    let mut out = Vec::new();
    let result =
        asynctasq::cli::run_from(std::iter::once("app").chain(args.iter().copied()), &mut out)
            .await;
    let stdout = String::from_utf8(out).unwrap();
    match result {
        Ok(()) => Output {
            code: 0,
            stdout,
            stderr: String::new(),
        },
        // `cli::run()` exits with 2 on every error, usage or command.
        Err(e) => Output {
            code: 2,
            stdout,
            stderr: format!("{e:#}"),
        },
    }
}

/// Runs the `asynctasq` binary with a clean environment plus `env`.
pub async fn binary(args: &[&str], env: &[(&str, &str)]) -> Output {
    binary_in(Path::new("."), args, env).await
}

/// Runs the `asynctasq` binary in the directory `dir`, with a clean
/// environment (no `ASYNCTASQ_*` variable) plus `env`.
pub async fn binary_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_asynctasq"));
    command
        .args(args)
        .current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("ASYNCTASQ_") {
            command.env_remove(k);
        }
    }
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().await.expect("the asynctasq binary runs");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
