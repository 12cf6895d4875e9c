//! **drain**: N no-op jobs enqueued in bulk, then one worker drains them.
//! Rate = N / (first claim → the worker has acknowledged the last job).

use std::time::Instant;

use anyhow::ensure;
use asynctasq::Worker;

use super::{Opts, driver_metrics, enqueue_noops, worker_config};
use crate::report::{Better, Report};
use crate::target::Target;

/// Runs the drain scenario.
pub async fn run(target: &Target, opts: &Opts) -> anyhow::Result<Report> {
    let queue = target.queue("drain");
    let mut report = Report::new("drain", target.kind.name());
    report.param("jobs", opts.jobs);
    report.param("concurrency", opts.concurrency);
    report.param("claim_batch", opts.claim_batch);
    report.param("bulk_batch", opts.bulk_batch);

    let enqueued = enqueue_noops(&target.client, &queue, opts.jobs, opts.bulk_batch).await?;
    crate::tasks::reset();
    target.timings.reset();

    let worker = Worker::new(target.client.clone()).config(asynctasq::WorkerConfig {
        max_jobs: Some(opts.jobs),
        ..worker_config(&queue, opts)
    });
    let started = Instant::now();
    let outcome = worker.run_until(std::future::pending()).await?;
    let ended = Instant::now();

    ensure!(
        outcome.completed == opts.jobs && crate::tasks::ran() == opts.jobs,
        "the worker completed {} jobs and ran {}, expected {}",
        outcome.completed,
        crate::tasks::ran(),
        opts.jobs
    );
    let first_claim = target.timings.first_claim().unwrap_or(started);
    let wall = ended.duration_since(first_claim);
    let left: u64 = target
        .client
        .driver()
        .stats(Some(std::slice::from_ref(&queue)))
        .await?
        .iter()
        .map(|s| s.outstanding() + s.dead)
        .sum();
    ensure!(
        left == 0,
        "{left} jobs are left in the queue after the drain"
    );

    report.metric(
        "jobs_per_sec",
        opts.jobs as f64 / wall.as_secs_f64(),
        "jobs/s",
        Better::Higher,
    );
    report.metric("seconds", wall.as_secs_f64(), "s", Better::Lower);
    report.metric(
        "startup_ms",
        super::ms(first_claim.saturating_duration_since(started)),
        "ms",
        Better::Info,
    );
    report.metric(
        "enqueue_jobs_per_sec",
        opts.jobs as f64 / enqueued.as_secs_f64().max(f64::EPSILON),
        "jobs/s",
        Better::Info,
    );
    driver_metrics(&mut report, &target.timings, wall);
    target.purge_queue(&queue).await?;
    Ok(report)
}
