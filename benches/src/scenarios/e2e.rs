//! **e2e**: producers and a worker running together at a fixed offered
//! rate; dispatch → handler-start latency and sustained throughput.

use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::{Opts, RunningWorker, ms, wait_for_runs};
use crate::report::{Better, Report, percentiles};
use crate::target::Target;
use crate::tasks::{now_micros, stamp};

/// Runs the end-to-end scenario.
pub async fn run(target: &Target, opts: &Opts) -> anyhow::Result<Report> {
    let queue = target.queue("e2e");
    let mut report = Report::new("e2e", target.kind.name());
    report.param("rate", opts.rate);
    report.param("seconds", opts.seconds);
    report.param("producers", opts.producers);
    report.param("concurrency", opts.concurrency);
    report.param("claim_batch", opts.claim_batch);

    crate::tasks::reset();
    target.timings.reset();
    let worker = RunningWorker::start(&target.client, &queue, opts);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let total = opts.rate * opts.seconds;
    let producers = opts.producers.max(1) as u64;
    let t0 = tokio::time::Instant::now() + Duration::from_millis(10);
    let first_dispatch = now_micros() + 10_000;
    let mut set = JoinSet::new();
    for p in 0..producers {
        let queue = queue.clone();
        let rate = opts.rate;
        set.spawn(async move {
            let mut calls = Vec::new();
            let mut k = p;
            while k < total {
                let due = t0 + Duration::from_secs_f64(k as f64 / rate as f64);
                tokio::time::sleep_until(due).await;
                let call = Instant::now();
                stamp(now_micros()).on_queue(&queue).dispatch().await?;
                calls.push(ms(call.elapsed()));
                k += producers;
            }
            anyhow::Ok(calls)
        });
    }
    let mut dispatch_ms = Vec::new();
    while let Some(done) = set.join_next().await {
        dispatch_ms.extend(done??);
    }
    let produced = t0.elapsed();
    wait_for_runs(total, Duration::from_secs(120)).await?;
    let outcome = worker.stop().await?;

    let samples = crate::tasks::take_latencies();
    let last_start = samples.iter().map(|s| s.1).max().unwrap_or(first_dispatch);
    let span = Duration::from_micros(u64::try_from(last_start - first_dispatch).unwrap_or(1));
    let mut latency: Vec<f64> = samples.iter().map(|s| s.0 as f64 / 1000.0).collect();
    let p = percentiles(&mut latency);
    let d = percentiles(&mut dispatch_ms);
    report.metric(
        "offered_per_sec",
        total as f64 / produced.as_secs_f64(),
        "jobs/s",
        Better::Info,
    );
    report.metric(
        "jobs_per_sec",
        samples.len() as f64 / span.as_secs_f64(),
        "jobs/s",
        Better::Higher,
    );
    report.metric("latency.p50_ms", p.p50, "ms", Better::Lower);
    report.metric("latency.p99_ms", p.p99, "ms", Better::Lower);
    report.metric("latency.p999_ms", p.p999, "ms", Better::Lower);
    report.metric("latency.max_ms", p.max, "ms", Better::Info);
    report.metric("dispatch.p50_ms", d.p50, "ms", Better::Lower);
    report.metric("dispatch.p99_ms", d.p99, "ms", Better::Lower);
    report.metric(
        "claim.jobs_per_call",
        target.timings.claim_hits.items() as f64 / target.timings.claim_hits.calls().max(1) as f64,
        "jobs",
        Better::Info,
    );
    if outcome.completed != total {
        report.note(format!(
            "the worker acknowledged {} of {total} jobs",
            outcome.completed
        ));
    }
    target.purge_queue(&queue).await?;
    Ok(report)
}
