//! The worker runtime: claims jobs in batches up to a concurrency limit, runs
//! them with timeouts and panic capture, writes results in batches, keeps
//! leases alive, rescues expired leases, and shuts down gracefully.
//!
//! ```no_run
//! # async fn run() -> asynctasq_core::Result<()> {
//! use std::time::Duration;
//! use asynctasq_core::{Client, Config, Worker};
//!
//! let client = Client::connect(&Config::new("sqlite://jobs.db")).await?;
//! let report = Worker::new(client)
//!     .queues(["emails", "default"])
//!     .concurrency(50)
//!     .grace(Duration::from_secs(30))
//!     .run() // until SIGINT / SIGTERM (a second one stops at once)
//!     .await?;
//! println!("completed {}", report.completed);
//! # Ok(()) }
//! ```

mod completer;
mod executor;
mod maintenance;
mod outage;
mod pruner;
mod rescuer;
mod shutdown;
mod signals;
mod stats;
mod waiter;

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt, Stream};
use sea_orm::DatabaseConnection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

pub use pruner::Pruner;
pub use rescuer::{Rescuer, RescuerConfig, lease_expired_message};
pub use shutdown::shutdown_signals;
pub use signals::Signal;
pub use stats::WorkerReport;
pub use waiter::Waiter;

use crate::cancel::Canceller;
use crate::dispatch::Client;
use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::job::{ClaimParams, ClaimedJob, Completion, JobId, Receipt};
use crate::task::Registry;
use completer::Finished;
use maintenance::Maintenance;
use outage::Outage;
use shutdown::Stop;
use signals::Signals;
use stats::WorkerCounters;

/// How a worker runs. Every field has a sensible default.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Queues to claim from (default `["default"]`).
    pub queues: Vec<String>,
    /// Jobs run at once (default 10).
    pub concurrency: usize,
    /// Lease per claim; extended every third of it while a job runs (default 60 s).
    pub lease: Duration,
    /// On shutdown, how long in-flight jobs may take before they are released
    /// (default 30 s); a second stop request (Ctrl-C, SIGTERM) releases them at once.
    pub grace: Duration,
    /// Stop after claiming this many jobs, once they finish.
    pub max_jobs: Option<u64>,
    /// Exit once the queues hold no ready, scheduled or running jobs.
    pub burst: bool,
    /// Most jobs claimed in one call (default 128, never above `concurrency`).
    pub claim_batch: usize,
    /// Longest idle wait between claims; drivers wake the worker sooner (default 5 s).
    pub idle_wait: Duration,
    /// How often expired leases are rescued (default 15 s, never above half the lease).
    pub rescue_interval: Duration,
    /// This worker's name in logs and claims.
    pub id: String,
    /// Start even though tasks take sea-orm models and no models database
    /// was given ([`Worker::database`]); their jobs then fail, retry and go
    /// dead. Off by default: such a worker refuses to start, naming the tasks.
    pub without_database: bool,
    /// Keep completed jobs this long instead of deleting them (default:
    /// delete at once), for auditing and `job` lookups; the worker prunes
    /// them afterwards. Only drivers that can keep them (Postgres, MySQL)
    /// accept it: on the others the worker refuses to start.
    pub retain_completed: Option<Duration>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            queues: vec!["default".to_string()],
            concurrency: 10,
            lease: Duration::from_secs(60),
            grace: Duration::from_secs(30),
            max_jobs: None,
            burst: false,
            claim_batch: 128,
            idle_wait: Duration::from_secs(5),
            rescue_interval: Duration::from_secs(15),
            id: format!(
                "{}-{}",
                std::process::id(),
                &crate::job::JobId::new().to_string()[24..]
            ),
            without_database: false,
            retain_completed: None,
        }
    }
}

/// A worker bound to a client. Build it, then [`run`](Worker::run) it.
#[derive(Debug)]
pub struct Worker {
    client: Client,
    config: WorkerConfig,
    registry: Option<Registry>,
    database: Option<DatabaseConnection>,
    signals: Signals,
}

impl Worker {
    /// A worker with default settings over `client`.
    pub fn new(client: Client) -> Self {
        Worker {
            client,
            config: WorkerConfig::default(),
            registry: None,
            database: None,
            signals: Signals::default(),
        }
    }

    /// Replaces the whole configuration.
    pub fn config(mut self, config: WorkerConfig) -> Self {
        self.config = config;
        self
    }

    /// Claims from these queues.
    pub fn queues<I, S>(mut self, queues: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.queues = queues.into_iter().map(Into::into).collect();
        self
    }

    /// Runs up to `n` jobs at once.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.config.concurrency = n;
        self
    }

    /// Sets the lease length.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.config.lease = lease;
        self
    }

    /// Sets the shutdown grace period.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.config.grace = grace;
        self
    }

    /// Stops after `n` jobs.
    pub fn max_jobs(mut self, n: u64) -> Self {
        self.config.max_jobs = Some(n);
        self
    }

    /// Exits when the queues are drained.
    pub fn burst(mut self, on: bool) -> Self {
        self.config.burst = on;
        self
    }

    /// The database that sea-orm model arguments are re-fetched from. It may
    /// be the jobs database or another one.
    pub fn database(mut self, db: DatabaseConnection) -> Self {
        self.database = Some(db);
        self
    }

    /// Starts even though tasks take sea-orm models and no
    /// [`database`](Self::database) is given (see
    /// [`WorkerConfig::without_database`]).
    pub fn without_database(mut self, on: bool) -> Self {
        self.config.without_database = on;
        self
    }

    /// Keeps completed jobs for `retention` (see
    /// [`WorkerConfig::retain_completed`]).
    pub fn retain_completed(mut self, retention: Duration) -> Self {
        self.config.retain_completed = Some(retention);
        self
    }

    /// Uses `registry` instead of every `#[task]` linked into the binary.
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// **For tests**: sends a [`Signal`] to `tx` at each step (claimed,
    /// results flushed, rescue pass, lease lost, result discarded), so a
    /// test can await a step instead of sleeping. Without it the worker
    /// sends and builds nothing.
    pub fn test_signals(mut self, tx: mpsc::UnboundedSender<Signal>) -> Self {
        self.signals = Signals::to(tx);
        self
    }

    /// Runs until SIGINT or SIGTERM (or until drained / `max_jobs` when set).
    ///
    /// The first signal stops claiming, logs the jobs still running and lets
    /// them finish within the [grace period](Self::grace); a second signal
    /// stops at once. Jobs that did not finish are released: ready again,
    /// their attempt not counted.
    pub async fn run(self) -> Result<WorkerReport> {
        self.run_until_signals(shutdown_signals()).await
    }

    /// Runs until `shutdown` resolves (or until drained / `max_jobs` when set),
    /// then shuts down gracefully, releasing what outlives the grace period.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<WorkerReport> {
        self.run_until_signals(futures::stream::once(shutdown))
            .await
    }

    /// Runs until `requests` yields a stop request (or until drained /
    /// `max_jobs` when set): the first one shuts down gracefully, a second
    /// one stops at once and releases the running jobs, as [`run`](Self::run)
    /// does with signals. Refuses to start (before touching the queues) when
    /// tasks take sea-orm models and no [`database`](Self::database) is
    /// given, unless [`without_database`](Self::without_database) says so.
    pub async fn run_until_signals(
        self,
        requests: impl Stream<Item = ()> + Send + 'static,
    ) -> Result<WorkerReport> {
        let config = validate(self.config)?;
        let registry = match self.registry {
            Some(r) => r,
            None => Registry::from_inventory()?,
        };
        if self.database.is_none() && !config.without_database {
            registry.require_models_database()?;
        }
        if let Some(retention) = config.retain_completed {
            Pruner::new(self.client.driver().clone(), retention)?;
        }
        let (stop_rx, signal_task) = shutdown::forward(requests);
        let mut runtime = Runtime::new(self.client, config, registry, self.database);
        runtime.signals = self.signals;
        let result = runtime.run(stop_rx).await;
        signal_task.abort();
        result
    }
}

/// What the completer does with jobs that succeeded.
fn completion_of(config: &WorkerConfig) -> Completion {
    match config.retain_completed {
        Some(_) => Completion::Keep,
        None => Completion::Delete,
    }
}

fn validate(mut config: WorkerConfig) -> Result<WorkerConfig> {
    if config.queues.is_empty() {
        return Err(Error::Config("a worker needs at least one queue".into()));
    }
    if config.concurrency == 0 {
        return Err(Error::Config("concurrency must be at least 1".into()));
    }
    if config.lease < Duration::from_millis(100) {
        return Err(Error::Config("the lease must be at least 100ms".into()));
    }
    config.claim_batch = config.claim_batch.clamp(1, config.concurrency);
    config.rescue_interval = config.rescue_interval.min(config.lease / 2);
    Ok(config)
}

/// The jobs executing now, for lease extension, the shutdown log and release.
pub(crate) type Executing = Arc<Mutex<HashMap<JobId, Running>>>;

/// A job that is executing now.
pub(crate) struct Running {
    /// Its receipt (for extension and release).
    pub(crate) receipt: Receipt,
    /// Its task name (for the shutdown log).
    pub(crate) task: String,
    /// Tells its handler to stop (a lost lease).
    pub(crate) canceller: Canceller,
}

struct Runtime {
    client: Client,
    database: Option<DatabaseConnection>,
    config: Arc<WorkerConfig>,
    registry: Arc<Registry>,
    counters: Arc<WorkerCounters>,
    executing: Executing,
    outage: Arc<Outage>,
    signals: Signals,
}

impl Runtime {
    fn new(
        client: Client,
        config: WorkerConfig,
        registry: Registry,
        database: Option<DatabaseConnection>,
    ) -> Self {
        Runtime {
            client,
            database,
            outage: Arc::new(Outage::new(&config.id)),
            config: Arc::new(config),
            registry: Arc::new(registry),
            counters: Arc::default(),
            executing: Arc::default(),
            signals: Signals::default(),
        }
    }

    async fn run(self, mut stop: watch::Receiver<Stop>) -> Result<WorkerReport> {
        let driver = self.client.driver().clone();
        let config = self.config.clone();
        tracing::info!(
            worker = %config.id, driver = driver.name(), queues = ?config.queues,
            concurrency = config.concurrency, tasks = ?self.registry.names(), "worker started"
        );
        let (done_tx, done_rx) = mpsc::channel::<Finished>(config.concurrency * 2);
        let waiter = Waiter::new();
        let completer = tokio::spawn(completer::run(
            driver.clone(),
            completion_of(&config),
            done_rx,
            self.counters.clone(),
            self.outage.clone(),
            self.signals.clone(),
        ));
        let maintenance = tokio::spawn(
            Maintenance {
                driver: driver.clone(),
                config: config.clone(),
                executing: self.executing.clone(),
                outage: self.outage.clone(),
                counters: self.counters.clone(),
                signals: self.signals.clone(),
            }
            .run(),
        );
        let semaphore = Arc::new(Semaphore::new(config.concurrency));
        let mut jobs = JoinSet::new();
        let mut claims = Claims::default();
        let mut claim_pause = Duration::from_millis(100);

        loop {
            if stop.borrow().requested() {
                break;
            }
            let remaining = config
                .max_jobs
                .map(|max| max.saturating_sub(self.counters.claimed() + claims.requested));
            if remaining == Some(0) && claims.is_empty() {
                break;
            }
            while jobs.try_join_next().is_some() {}
            let may_claim = remaining != Some(0) && claims.may_start();
            tokio::select! {
                biased;
                _ = stop.changed() => break,
                Some(outcome) = claims.next() => {
                    self.outage.record("claim", &outcome.result);
                    match outcome.result {
                        Ok(claimed) => {
                            claim_pause = Duration::from_millis(100);
                            claims.saturated = claimed.len() == outcome.permits.len();
                            let got = claimed.len();
                            self.start(claimed, outcome.permits, &mut jobs, &done_tx);
                            if got > 0 {
                                // Let the jobs just spawned start before
                                // this task sends its next claim.
                                tokio::task::yield_now().await;
                                continue;
                            }
                            if !claims.is_empty() {
                                continue;
                            }
                        }
                        Err(_) => {
                            drop(outcome.permits);
                            claims.saturated = false;
                            tokio::select! {
                                _ = tokio::time::sleep(claim_pause) => {},
                                _ = stop.changed() => break,
                            }
                            claim_pause = (claim_pause * 2).min(Duration::from_secs(5));
                            continue;
                        }
                    }
                    // The queues looked empty and no other claim is out: idle.
                    if config.burst && self.drained(&semaphore).await {
                        break;
                    }
                    let wait = if config.burst {
                        config.idle_wait.min(Duration::from_millis(20))
                    } else {
                        config.idle_wait
                    };
                    tokio::select! {
                        r = waiter.wait(driver.as_ref(), &config.queues, wait) => if let Err(e) = r {
                            // Only a failure counts: a wait may end without
                            // asking the backend anything.
                            self.outage.failed("wait", &e);
                            tokio::time::sleep(claim_pause).await;
                        },
                        _ = stop.changed() => break,
                    }
                }
                permit = semaphore.clone().acquire_owned(), if may_claim => {
                    let first = permit.expect("semaphore is never closed");
                    let want = remaining.map_or(config.claim_batch, |r| {
                        r.min(config.claim_batch as u64) as usize
                    });
                    let mut permits = vec![first];
                    while permits.len() < want {
                        match semaphore.clone().try_acquire_owned() {
                            Ok(p) => permits.push(p),
                            Err(_) => break,
                        }
                    }
                    claims.start(driver.clone(), config.clone(), permits);
                }
            }
        }
        // Claims still out when the loop ends: their jobs run (or are
        // released) with the others.
        while let Some(outcome) = claims.next().await {
            if let Ok(claimed) = outcome.result {
                self.start(claimed, outcome.permits, &mut jobs, &done_tx);
            }
        }

        self.shut_down(&semaphore, &mut jobs, &stop).await;
        drop(done_tx);
        let _ = completer.await;
        maintenance.abort();
        let report = self.counters.report();
        tracing::info!(worker = %config.id, ?report, "worker stopped");
        Ok(report)
    }

    /// Runs claimed jobs, one permit each; unused permits are returned.
    fn start(
        &self,
        claimed: Vec<ClaimedJob>,
        mut permits: Vec<OwnedSemaphorePermit>,
        jobs: &mut JoinSet<()>,
        done_tx: &mpsc::Sender<Finished>,
    ) {
        self.counters.record_claimed(claimed.len() as u64);
        if !claimed.is_empty() {
            self.signals.emit(|| Signal::Claimed {
                jobs: claimed.iter().map(|job| job.receipt.id).collect(),
            });
        }
        for job in claimed {
            let permit = permits.pop().expect("claim returned at most `max` jobs");
            let (canceller, cancellation) = Canceller::new();
            self.executing
                .lock()
                .expect("executing map poisoned")
                .insert(
                    job.receipt.id,
                    Running {
                        receipt: job.receipt,
                        task: job.task.clone(),
                        canceller,
                    },
                );
            let registry = self.registry.clone();
            let executing = self.executing.clone();
            let database = self.database.clone();
            let done = done_tx.clone();
            jobs.spawn(async move {
                tracing::debug!(job.id = %job.receipt.id, task = %job.task, attempt = job.attempt, "started");
                let verdict =
                    executor::execute(&job, &registry, database.as_ref(), cancellation).await;
                {
                    let mut executing = executing.lock().expect("executing map poisoned");
                    // Gone when the lease was lost (and maybe claimed here again).
                    if executing.get(&job.receipt.id).map(|j| j.receipt) == Some(job.receipt) {
                        executing.remove(&job.receipt.id);
                    }
                }
                drop(permit);
                let _ = done
                    .send(Finished {
                        receipt: job.receipt,
                        task: job.task,
                        verdict,
                    })
                    .await;
            });
        }
    }

    /// `true` when this worker runs nothing and the queues hold no outstanding job.
    async fn drained(&self, semaphore: &Semaphore) -> bool {
        if semaphore.available_permits() != self.config.concurrency {
            return false;
        }
        let stats = self.client.driver().stats(Some(&self.config.queues)).await;
        self.outage.record("stats", &stats);
        stats.is_ok_and(|stats| stats.iter().all(|s| s.paused || s.outstanding() == 0))
    }
}

/// Most claims a worker has out at once. While the queues keep filling
/// whole batches, the next claim is sent before the previous one returns,
/// so the worker never sits idle for a claim's round trip.
const MAX_CLAIMS_IN_FLIGHT: usize = 2;

/// A claim's answer, with the permits it was sent with (one per job asked).
struct ClaimOutcome {
    result: Result<Vec<ClaimedJob>>,
    permits: Vec<OwnedSemaphorePermit>,
}

/// The claims in flight.
#[derive(Default)]
struct Claims {
    tasks: JoinSet<ClaimOutcome>,
    /// Jobs asked for by the claims in flight (for `max_jobs`).
    requested: u64,
    /// The last claim came back full: more work is likely waiting.
    saturated: bool,
}

impl Claims {
    fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Whether another claim may be sent now.
    fn may_start(&self) -> bool {
        self.tasks.is_empty() || (self.saturated && self.tasks.len() < MAX_CLAIMS_IN_FLIGHT)
    }

    /// Sends a claim for `permits.len()` jobs.
    fn start(
        &mut self,
        driver: Arc<dyn Driver>,
        config: Arc<WorkerConfig>,
        permits: Vec<OwnedSemaphorePermit>,
    ) {
        self.requested += permits.len() as u64;
        self.tasks.spawn(async move {
            let params = ClaimParams {
                worker: &config.id,
                queues: &config.queues,
                max: permits.len(),
                lease: config.lease,
            };
            let name = driver.name();
            let result = AssertUnwindSafe(driver.claim(params))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(Error::driver(name, "the driver panicked in claim")));
            ClaimOutcome { result, permits }
        });
    }

    /// The next claim to answer; `None` when none is out.
    async fn next(&mut self) -> Option<ClaimOutcome> {
        // Claim tasks are never aborted and catch their panics.
        let outcome = self
            .tasks
            .join_next()
            .await?
            .expect("claim tasks neither panic nor get aborted");
        self.requested -= outcome.permits.len() as u64;
        Some(outcome)
    }
}
