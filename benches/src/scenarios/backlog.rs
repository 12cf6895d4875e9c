//! **backlog**: a large backlog (1,000,000 jobs by default) enqueued in bulk,
//! then drained; enqueue and drain rates, and for Redis the server's
//! `used_memory` before the enqueue, after it, and after the drain.

use std::time::{Duration, Instant};

use anyhow::ensure;
use asynctasq::Worker;

use super::{Opts, driver_metrics, enqueue_noops, worker_config};
use crate::report::{Better, Report};
use crate::target::Target;

const MIB: f64 = 1024.0 * 1024.0;

/// Runs the backlog scenario.
pub async fn run(target: &Target, opts: &Opts) -> anyhow::Result<Report> {
    let queue = target.queue("backlog");
    let jobs = opts.backlog_jobs;
    let mut report = Report::new("backlog", target.kind.name());
    report.param("jobs", jobs);
    report.param("concurrency", opts.concurrency);
    report.param("claim_batch", opts.claim_batch);
    report.param("bulk_batch", opts.bulk_batch);

    let before = target.redis_used_memory().await?;
    let enqueued = enqueue_noops(&target.client, &queue, jobs, opts.bulk_batch).await?;
    let after_enqueue = target.redis_used_memory().await?;
    let file_size = sqlite_size(target);

    crate::tasks::reset();
    target.timings.reset();
    let worker = Worker::new(target.client.clone()).config(asynctasq::WorkerConfig {
        max_jobs: Some(jobs),
        ..worker_config(&queue, opts)
    });
    let started = Instant::now();
    let outcome = worker.run_until(std::future::pending()).await?;
    let ended = Instant::now();
    ensure!(
        outcome.completed == jobs,
        "the worker completed {} of {jobs} jobs",
        outcome.completed
    );
    let wall = ended.duration_since(target.timings.first_claim().unwrap_or(started));
    // Let lazy frees (UNLINK, emptied sets) settle before reading memory.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_drain = target.redis_used_memory().await?;

    report.metric(
        "enqueue_jobs_per_sec",
        jobs as f64 / enqueued.as_secs_f64(),
        "jobs/s",
        Better::Higher,
    );
    report.metric(
        "drain_jobs_per_sec",
        jobs as f64 / wall.as_secs_f64(),
        "jobs/s",
        Better::Higher,
    );
    if let (Some(b), Some(e), Some(d)) = (before, after_enqueue, after_drain) {
        report.metric(
            "redis.used_memory_before",
            b as f64 / MIB,
            "MiB",
            Better::Info,
        );
        report.metric(
            "redis.used_memory_after_enqueue",
            e as f64 / MIB,
            "MiB",
            Better::Info,
        );
        report.metric(
            "redis.used_memory_after_drain",
            d as f64 / MIB,
            "MiB",
            Better::Info,
        );
        report.metric(
            "redis.bytes_per_queued_job",
            e.saturating_sub(b) as f64 / jobs as f64,
            "bytes",
            Better::Lower,
        );
        report.metric(
            "redis.left_after_drain",
            (d as f64 - b as f64) / MIB,
            "MiB",
            Better::Info,
        );
    }
    if let Some(size) = file_size {
        report.metric(
            "sqlite.file_after_enqueue",
            size as f64 / MIB,
            "MiB",
            Better::Info,
        );
    }
    driver_metrics(&mut report, &target.timings, wall);
    target.purge_queue(&queue).await?;
    Ok(report)
}

/// The SQLite database plus its WAL, in bytes.
fn sqlite_size(target: &Target) -> Option<u64> {
    let path = target.url.strip_prefix("sqlite://")?;
    let size = |p: String| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    Some(size(path.to_string()) + size(format!("{path}-wal")))
}
