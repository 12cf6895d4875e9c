//! Dispatch latency as an application sees it: one `dispatch_with(&client)`
//! at a time, for 1 KB, 20 KB and 200 KB payloads, to Postgres and MySQL.
//!
//! This file is the whole program of `benches/downstream` (a package with its
//! own workspace that depends on asynctasq by path, as an application does)
//! and also the `dispatch_latency` example of asynctasq-bench, inside our
//! workspace, so both figures come from the same code:
//!
//! ```console
//! $ cd benches/downstream && cargo run --release
//! $ cargo run --release -p asynctasq-bench --example dispatch_latency
//! ```
//!
//! Options: `--calls N` (default 200), `--database NAME` (default
//! `asynctasq_latency`, created on both servers if missing), `--postgres URL`
//! and `--mysql URL` (the servers, without a database; `--postgres none`
//! skips one). Each payload has its own queue, purged afterwards.

use std::time::{Duration, Instant};

use asynctasq::prelude::*;
use sea_orm::{ConnectionTrait, Database};

/// A task that takes a payload and does nothing: the measurement is the dispatch.
#[task(queue = "latency")]
async fn ingest(body: String) -> Result<(), String> {
    let _ = body;
    Ok(())
}

/// Payload sizes measured, with their labels.
const PAYLOADS: [(&str, usize); 3] = [("1 KB", 1024), ("20 KB", 20 * 1024), ("200 KB", 200 * 1024)];
/// Untimed calls before each measurement (pool warm-up, plan caches).
const WARMUP: usize = 20;

struct Opts {
    calls: usize,
    database: String,
    postgres: Option<String>,
    mysql: Option<String>,
}

fn opts() -> anyhow::Result<Opts> {
    let mut opts = Opts {
        calls: 200,
        database: "asynctasq_latency".into(),
        postgres: Some("postgres://postgres@127.0.0.1:5432".into()),
        mysql: Some("mysql://root@127.0.0.1:3306".into()),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| anyhow::anyhow!("`{flag}` needs a value"))?;
        let server = (value != "none").then(|| value.trim_end_matches('/').to_owned());
        match flag.as_str() {
            "--calls" => opts.calls = value.parse()?,
            "--database" => opts.database = value,
            "--postgres" => opts.postgres = server,
            "--mysql" => opts.mysql = server,
            _ => anyhow::bail!(
                "unknown option `{flag}` (expected --calls, --database, --postgres, --mysql)"
            ),
        }
    }
    anyhow::ensure!(opts.calls > 0, "--calls must be at least 1");
    Ok(opts)
}

/// Creates `database` on the server unless it exists.
async fn create_database(server: &str, database: &str) -> anyhow::Result<()> {
    let postgres = server.starts_with("postgres");
    let admin = Database::connect(if postgres {
        format!("{server}/postgres")
    } else {
        server.to_owned()
    })
    .await?;
    if postgres {
        let exists = admin
            .query_one_raw(sea_orm::Statement::from_string(
                admin.get_database_backend(),
                format!("SELECT 1 FROM pg_database WHERE datname = '{database}'"),
            ))
            .await?
            .is_some();
        if !exists {
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{database}\""))
                .await?;
        }
    } else {
        admin
            .execute_unprepared(&format!("CREATE DATABASE IF NOT EXISTS `{database}`"))
            .await?;
    }
    admin.close().await?;
    Ok(())
}

/// p50 and p99 of `samples`, in milliseconds.
fn percentiles(samples: &mut [Duration]) -> (f64, f64) {
    samples.sort_unstable();
    let at = |q: usize| samples[(samples.len() * q / 100).min(samples.len() - 1)];
    (at(50).as_secs_f64() * 1e3, at(99).as_secs_f64() * 1e3)
}

/// Dispatches `calls` jobs of each payload size, one at a time; returns
/// (payload label, p50 ms, p99 ms) per size.
async fn measure(client: &Client, calls: usize) -> anyhow::Result<Vec<(&'static str, f64, f64)>> {
    let mut rows = Vec::new();
    for (label, size) in PAYLOADS {
        let queue = format!("latency-{size}");
        let body = "x".repeat(size);
        for _ in 0..WARMUP {
            ingest(body.clone())
                .on_queue(&queue)
                .dispatch_with(client)
                .await?;
        }
        let mut samples = Vec::with_capacity(calls);
        for _ in 0..calls {
            let job = ingest(body.clone()).on_queue(&queue);
            let start = Instant::now();
            job.dispatch_with(client).await?;
            samples.push(start.elapsed());
        }
        client.driver().queue_purge(&queue).await?;
        let (p50, p99) = percentiles(&mut samples);
        rows.push((label, p50, p99));
    }
    Ok(rows)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let opts = opts()?;
    println!(
        "built as {} ({}), {} calls per payload, one at a time",
        env!("CARGO_PKG_NAME"),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        opts.calls
    );
    println!(
        "{:<9} {:>7} {:>8} {:>8}",
        "driver", "payload", "p50 ms", "p99 ms"
    );
    for (driver, server) in [("postgres", &opts.postgres), ("mysql", &opts.mysql)] {
        let Some(server) = server else { continue };
        create_database(server, &opts.database).await?;
        let client = asynctasq::connect(&format!("{server}/{}", opts.database)).await?;
        for (payload, p50, p99) in measure(&client, opts.calls).await? {
            println!("{driver:<9} {payload:>7} {p50:>8.2} {p99:>8.2}");
        }
    }
    Ok(())
}
