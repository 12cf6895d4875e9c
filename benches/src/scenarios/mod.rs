//! The scenarios. Each returns one [`Report`] for
//! asynctasq; the apalis peer measures `drain` and `enqueue` the same way.

pub mod backlog;
pub mod drain;
pub mod e2e;
pub mod enqueue;
pub mod idle;
pub mod limit;
pub mod orm;
pub mod orm_drain;

use std::time::{Duration, Instant};

use anyhow::bail;
use asynctasq::{Client, Worker, WorkerConfig, WorkerReport};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::report::{Better, Report};
use crate::tasks::noop;
use crate::timing::Timings;

/// Knobs shared by the scenarios (see `--help` for their defaults).
#[derive(Clone, Debug)]
pub struct Opts {
    /// Jobs for drain and bulk enqueue.
    pub jobs: u64,
    /// Jobs for the backlog scenario.
    pub backlog_jobs: u64,
    /// Jobs a worker runs at once.
    pub concurrency: usize,
    /// Most jobs per claim (asynctasq) / per fetch (apalis `batch_size`).
    pub claim_batch: usize,
    /// Jobs per `dispatch_many` call.
    pub bulk_batch: usize,
    /// `dispatch().await` calls in the single-enqueue loop.
    pub single: u64,
    /// End-to-end: offered rate, jobs/s over all producers.
    pub rate: u64,
    /// End-to-end: how long the producers run.
    pub seconds: u64,
    /// End-to-end: concurrent producers.
    pub producers: usize,
    /// Idle wake-up: jobs dispatched.
    pub samples: u64,
    /// Idle wake-up: pause between jobs.
    pub interval: Duration,
    /// ORM: repetitions per measurement.
    pub reps: usize,
    /// orm-drain: connections in the models pool.
    pub models_pool: u32,
    /// Jobs that may wait for their models without a slot (`None`: the
    /// worker's default).
    pub fetch_ahead: Option<usize>,
    /// orm-drain: the kinds to drain (empty: all).
    pub kinds: Vec<String>,
}

/// The worker configuration every scenario uses.
pub fn worker_config(queue: &str, opts: &Opts) -> WorkerConfig {
    WorkerConfig {
        queues: vec![queue.to_string()],
        concurrency: opts.concurrency,
        claim_batch: opts.claim_batch,
        fetch_ahead: opts.fetch_ahead,
        grace: Duration::from_secs(10),
        // The bench binary links the model-argument tasks of the ORM
        // scenario, which calls their handlers itself: the workers here run
        // only plain jobs and need no models database.
        without_database: true,
        ..WorkerConfig::default()
    }
}

/// Enqueues `jobs` no-op jobs on `queue` with `dispatch_many` in batches of
/// `batch`; returns the time taken.
pub async fn enqueue_noops(
    client: &Client,
    queue: &str,
    jobs: u64,
    batch: usize,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut next = 0;
    while next < jobs {
        let end = (next + batch as u64).min(jobs);
        client
            .dispatch_many((next..end).map(|i| noop(i).on_queue(queue)))
            .await?;
        next = end;
    }
    Ok(start.elapsed())
}

/// A worker running in the background until [`RunningWorker::stop`].
#[derive(Debug)]
pub struct RunningWorker {
    stop: oneshot::Sender<()>,
    handle: JoinHandle<asynctasq::Result<WorkerReport>>,
}

impl RunningWorker {
    /// Starts a worker on `queue` with the scenario options.
    pub fn start(client: &Client, queue: &str, opts: &Opts) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let worker = Worker::new(client.clone()).config(worker_config(queue, opts));
        let handle = tokio::spawn(worker.run_until(async move {
            let _ = stopped.await;
        }));
        RunningWorker { stop, handle }
    }

    /// Stops it gracefully and returns its report.
    pub async fn stop(self) -> anyhow::Result<WorkerReport> {
        let _ = self.stop.send(());
        Ok(self.handle.await??)
    }
}

/// Waits until the handlers have run `count` jobs, or fails after `limit`.
pub async fn wait_for_runs(count: u64, limit: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    while crate::tasks::ran() < count {
        if start.elapsed() > limit {
            bail!(
                "only {} of {count} jobs ran within {limit:?}",
                crate::tasks::ran()
            );
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}

/// Adds the timing wrapper's round-trip figures (diagnostics, no direction).
pub fn driver_metrics(report: &mut Report, timings: &Timings, wall: Duration) {
    let per = |total: Duration, calls: u64| {
        if calls == 0 {
            0.0
        } else {
            total.as_secs_f64() * 1000.0 / calls as f64
        }
    };
    let share = |total: Duration| {
        if wall.is_zero() {
            0.0
        } else {
            100.0 * total.as_secs_f64() / wall.as_secs_f64()
        }
    };
    let hits = &timings.claim_hits;
    if hits.calls() > 0 {
        report.metric(
            "claim.jobs_per_call",
            hits.items() as f64 / hits.calls() as f64,
            "jobs",
            Better::Info,
        );
        report.metric(
            "claim.ms_per_call",
            per(hits.total(), hits.calls()),
            "ms",
            Better::Info,
        );
        report.metric(
            "claim.busy",
            share(timings.claim.total()),
            "% of wall",
            Better::Info,
        );
    }
    let complete = &timings.complete;
    if complete.calls() > 0 {
        report.metric(
            "complete.jobs_per_call",
            complete.items() as f64 / complete.calls() as f64,
            "jobs",
            Better::Info,
        );
        report.metric(
            "complete.ms_per_call",
            per(complete.total(), complete.calls()),
            "ms",
            Better::Info,
        );
        report.metric(
            "complete.busy",
            share(complete.total()),
            "% of wall",
            Better::Info,
        );
    }
}

/// Milliseconds in a duration, as a float.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
