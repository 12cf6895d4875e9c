//! **enqueue**: `dispatch().await` one job at a time in a loop, as a web
//! handler does, then `dispatch_many` in bulk; jobs/s and per-call latency.

use std::time::Instant;

use super::{Opts, ms};
use crate::report::{Better, Report, percentiles};
use crate::target::Target;
use crate::tasks::noop;

/// Runs the enqueue scenario.
pub async fn run(target: &Target, opts: &Opts) -> anyhow::Result<Report> {
    let queue = target.queue("enqueue");
    let mut report = Report::new("enqueue", target.kind.name());
    report.param("single", opts.single);
    report.param("jobs", opts.jobs);
    report.param("bulk_batch", opts.bulk_batch);

    // One job per call, through the global client, one call after another.
    let mut latencies = Vec::with_capacity(opts.single as usize);
    let start = Instant::now();
    for i in 0..opts.single {
        let call = Instant::now();
        noop(i).on_queue(&queue).dispatch().await?;
        latencies.push(ms(call.elapsed()));
    }
    let single = start.elapsed();
    let p = percentiles(&mut latencies);
    report.metric(
        "single.jobs_per_sec",
        opts.single as f64 / single.as_secs_f64(),
        "jobs/s",
        Better::Higher,
    );
    report.metric("single.p50_ms", p.p50, "ms", Better::Lower);
    report.metric("single.p99_ms", p.p99, "ms", Better::Lower);
    target.purge_queue(&queue).await?;

    // Many jobs per call.
    let mut latencies = Vec::new();
    let start = Instant::now();
    let mut next = 0;
    while next < opts.jobs {
        let end = (next + opts.bulk_batch as u64).min(opts.jobs);
        let call = Instant::now();
        asynctasq::dispatch_many((next..end).map(|i| noop(i).on_queue(&queue))).await?;
        latencies.push(ms(call.elapsed()));
        next = end;
    }
    let bulk = start.elapsed();
    let p = percentiles(&mut latencies);
    report.metric(
        "bulk.jobs_per_sec",
        opts.jobs as f64 / bulk.as_secs_f64(),
        "jobs/s",
        Better::Higher,
    );
    report.metric("bulk.call_p50_ms", p.p50, "ms", Better::Lower);
    report.metric("bulk.call_p99_ms", p.p99, "ms", Better::Lower);
    target.purge_queue(&queue).await?;
    Ok(report)
}
