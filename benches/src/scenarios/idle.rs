//! **idle**: the worker idle, one job every 50 ms; dispatch → handler-start
//! latency, i.e. how fast a driver wakes an idle worker.

use std::time::Duration;

use super::{Opts, RunningWorker, wait_for_runs};
use crate::report::{Better, Report, percentiles};
use crate::target::Target;
use crate::tasks::{now_micros, stamp};

/// Runs the idle wake-up scenario.
pub async fn run(target: &Target, opts: &Opts) -> anyhow::Result<Report> {
    let queue = target.queue("idle");
    let mut report = Report::new("idle", target.kind.name());
    report.param("samples", opts.samples);
    report.param("interval_ms", opts.interval.as_millis() as u64);

    crate::tasks::reset();
    target.timings.reset();
    let worker = RunningWorker::start(&target.client, &queue, opts);
    // Let the worker find the queue empty and go to sleep in `wait`.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t0 = tokio::time::Instant::now();
    let mut dispatch_ms = Vec::with_capacity(opts.samples as usize);
    for k in 0..opts.samples {
        tokio::time::sleep_until(t0 + opts.interval * (k as u32)).await;
        let call = std::time::Instant::now();
        stamp(now_micros()).on_queue(&queue).dispatch().await?;
        dispatch_ms.push(super::ms(call.elapsed()));
    }
    wait_for_runs(opts.samples, Duration::from_secs(30)).await?;
    worker.stop().await?;

    let mut latency: Vec<f64> = crate::tasks::take_latencies()
        .iter()
        .map(|s| s.0 as f64 / 1000.0)
        .collect();
    let p = percentiles(&mut latency);
    report.metric("latency.p50_ms", p.p50, "ms", Better::Lower);
    report.metric("latency.p99_ms", p.p99, "ms", Better::Lower);
    report.metric("latency.max_ms", p.max, "ms", Better::Info);
    // The dispatch call's own duration (the commit), part of the latency.
    let d = percentiles(&mut dispatch_ms);
    report.metric("dispatch.p50_ms", d.p50, "ms", Better::Info);
    // The claim that found the job, the other part of the latency.
    let hits = &target.timings.claim_hits;
    if hits.calls() > 0 {
        report.metric(
            "claim.mean_ms",
            super::ms(hits.total()) / hits.calls() as f64,
            "ms",
            Better::Info,
        );
    }
    report.metric(
        "looks at the backend while waiting (next_due)",
        target.timings.next_due.calls() as f64,
        "calls",
        Better::Info,
    );
    target.purge_queue(&queue).await?;
    Ok(report)
}
