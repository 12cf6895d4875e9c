//! Helpers for the process-level tests: a temp SQLite database, the worker
//! binary, and reading what the tasks recorded.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use asynctasq::{Client, Config, QueueStats};

/// A temp directory with a SQLite jobs database in it.
pub struct Scratch {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub log: String,
}

impl Scratch {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
        Self::with_url(dir, url)
    }

    /// Jobs in the backend at `url` (which the test keeps to itself, e.g. with
    /// a unique Redis key prefix); logs in a temp directory.
    pub fn with_url(dir: tempfile::TempDir, url: String) -> Self {
        let log = dir.path().join("done.log").display().to_string();
        Scratch { dir, url, log }
    }

    pub async fn client(&self) -> Client {
        Client::connect(&Config::new(&self.url))
            .await
            .expect("connect")
    }

    /// Starts `chaos-worker --url <db> worker <args…>`.
    pub fn worker(&self, args: &[&str]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_chaos-worker"))
            .arg("--url")
            .arg(&self.url)
            .arg("worker")
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn chaos-worker")
    }

    /// Starts `chaos-worker --url <db> worker <args…>` logging at INFO, with
    /// its stderr collected as it comes.
    pub fn worker_logging(&self, args: &[&str]) -> (Child, Log) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chaos-worker"))
            .arg("--url")
            .arg(&self.url)
            .arg("worker")
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn chaos-worker");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Log::default();
        let lines = log.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                lines.0.lock().unwrap().push(line);
            }
        });
        (child, log)
    }

    /// How many times each `n` was recorded as done.
    pub fn done(&self) -> BTreeMap<u64, usize> {
        count_lines(&self.log)
    }

    /// How many times each `n` was recorded as started.
    pub fn started(&self) -> BTreeMap<u64, usize> {
        count_lines(&format!("{}.started", self.log))
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn count_lines(path: &str) -> BTreeMap<u64, usize> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut counts = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        *counts
            .entry(line.parse().expect("a number per line"))
            .or_insert(0) += 1;
    }
    counts
}

/// Polls `cond` every 10 ms until it holds or `limit` passes.
pub fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for a child to exit, killing it and failing after `limit`.
pub fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output_stderr();
            panic!("worker did not exit within {limit:?}; stderr:\n{out}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

trait StderrText {
    fn wait_with_output_stderr(&mut self) -> String;
}

impl StderrText for Child {
    fn wait_with_output_stderr(&mut self) -> String {
        use std::io::Read;
        let _ = self.wait();
        let mut text = String::new();
        if let Some(mut err) = self.stderr.take() {
            let _ = err.read_to_string(&mut text);
        }
        text
    }
}

/// The stderr a finished worker printed.
pub fn stderr_of(child: &mut Child) -> String {
    child.wait_with_output_stderr()
}

/// Sends SIGTERM to a child.
pub fn sigterm(child: &Child) {
    signal(child, "-TERM");
}

/// Sends SIGINT (what Ctrl-C sends) to a child.
pub fn sigint(child: &Child) {
    signal(child, "-INT");
}

fn signal(child: &Child, which: &str) {
    let status = Command::new("kill")
        .args([which, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// The stderr lines of a running child, as they come.
#[derive(Clone, Default)]
pub struct Log(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl Log {
    /// The first line containing `text`, waiting up to `limit` for it.
    pub fn wait_for_line(&self, text: &str, limit: Duration) -> String {
        let mut found = None;
        wait_for(limit, &format!("a log line with {text:?}"), || {
            found = self
                .0
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(text))
                .cloned();
            found.is_some()
        });
        found.unwrap()
    }

    /// Every line so far.
    pub fn text(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }
}

pub async fn stats(client: &Client, queue: &str) -> QueueStats {
    client
        .driver()
        .stats(Some(&[queue.to_string()]))
        .await
        .expect("stats")
        .into_iter()
        .find(|s| s.queue == queue)
        .unwrap_or_default()
}

/// The URL of a Postgres database on 127.0.0.1:5432, created if missing.
pub async fn postgres_database(name: &str) -> String {
    let server = "postgres://postgres@127.0.0.1:5432";
    let admin = sqlx::PgPool::connect(&format!("{server}/postgres"))
        .await
        .expect("Postgres on 127.0.0.1:5432 must be running (the test command starts it)");
    let exists: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(&admin)
        .await
        .expect("query pg_database");
    if exists.is_none() {
        // A concurrent run may create it first; connecting below tells.
        let create = format!("CREATE DATABASE {name}");
        let _ = sqlx::query(sqlx::AssertSqlSafe(create))
            .execute(&admin)
            .await;
    }
    admin.close().await;
    format!("{server}/{name}")
}
