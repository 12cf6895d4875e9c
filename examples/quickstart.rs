//! The asynctasq quickstart: define tasks, dispatch jobs, run a worker
//! in-process until the queues drain, print a summary. No server needed:
//! jobs live in an embedded SQLite file.
//!
//! ```console
//! $ cargo run --example quickstart
//! ```

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use asynctasq::prelude::*;

static EMAILS_SENT: AtomicU32 = AtomicU32::new(0);
static REPORT_CALLS: AtomicU32 = AtomicU32::new(0);

/// A plain task: runs once, succeeds.
#[task(queue = "emails", max_attempts = 5, timeout = "30s")]
async fn send_welcome_email(to: String, name: String) -> Result<(), std::io::Error> {
    tokio::time::sleep(Duration::from_millis(5)).await; // pretend to talk to SMTP
    EMAILS_SENT.fetch_add(1, Ordering::Relaxed);
    let _ = (to, name);
    Ok(())
}

/// Fails on its first attempt, succeeds on the retry 200 ms later.
#[task(
    queue = "reports",
    max_attempts = 3,
    retry = "fixed",
    retry_delay = "200ms"
)]
async fn build_report(month: String) -> Result<(), String> {
    if REPORT_CALLS.fetch_add(1, Ordering::Relaxed) == 0 {
        return Err(format!("warehouse busy while building the {month} report"));
    }
    Ok(())
}

/// Always declined: a permanent error goes straight to dead-letter.
#[task(queue = "payments", max_attempts = 5)]
async fn charge_card(order_id: u64, cents: u64) -> Result<(), Permanent> {
    Err(Permanent::new(format!(
        "card declined for order {order_id} ({cents} cents)"
    )))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let db = std::env::temp_dir().join(format!("asynctasq-quickstart-{}.db", std::process::id()));
    let url = format!("sqlite://{}", db.display());
    let client = asynctasq::init(Config::new(&url)).await?;
    println!("asynctasq quickstart — jobs stored in {}", db.display());

    let started = Instant::now();
    let emails =
        (1..=30).map(|i| send_welcome_email(format!("user{i}@example.com"), format!("User {i}")));
    let ids = asynctasq::dispatch_many(emails).await?;
    send_welcome_email("later@example.com".into(), "Later".into())
        .delay(Duration::from_secs(1))
        .dispatch()
        .await?;
    build_report("2026-11".into())
        .priority(5)
        .dispatch()
        .await?;
    let declined = charge_card(42, 1999).dispatch().await?;
    println!(
        "dispatched {} jobs (one delayed by 1 s) — first id {}",
        ids.len() + 3,
        ids[0]
    );

    let report = Worker::new(client.clone())
        .queues(["emails", "reports", "payments"])
        .concurrency(8)
        .burst(true)
        .run()
        .await?;

    println!();
    println!("worker drained the queues in {:.2?}", started.elapsed());
    println!("  claimed    {:>3}", report.claimed);
    println!(
        "  completed  {:>3}  ({} welcome emails sent)",
        report.completed,
        EMAILS_SENT.load(Ordering::Relaxed)
    );
    println!(
        "  retried    {:>3}  (build_report failed once, then succeeded)",
        report.retried
    );
    println!("  dead       {:>3}", report.dead);
    for job in client.driver().dead_list(None, 10, 0).await? {
        let reason = job.last_error().map(|e| e.message.as_str()).unwrap_or("?");
        println!("    {} {} on `{}`: {reason}", job.id, job.task, job.queue);
    }
    let dead = client.driver().job(declined).await?.map(|j| j.state);
    anyhow::ensure!(
        report.completed == 32,
        "expected 32 completed jobs, got {}",
        report.completed
    );
    anyhow::ensure!(
        report.retried == 1 && report.dead == 1,
        "unexpected report {report:?}"
    );
    anyhow::ensure!(
        dead == Some(JobState::Dead),
        "charge_card should be dead, is {dead:?}"
    );
    let _ = std::fs::remove_file(&db);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    println!("\nall good. Next: docs/tasks.md and docs/workers.md");
    Ok(())
}

use asynctasq::JobState;
