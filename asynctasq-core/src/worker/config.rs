//! How a worker runs: its settings, their defaults and their checks.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::job::Completion;

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
    /// Jobs that may wait for their sea-orm models without holding a slot
    /// (default: twice `concurrency`). While a job's rows are fetched
    /// it lends its slot to the claim loop, which runs other jobs in it, so
    /// model fetches overlap with work instead of idling slots; the job
    /// takes a slot again once its rows arrive, and that wait does not
    /// count toward its timeout. At most `concurrency + fetch_ahead` jobs
    /// are claimed at once. `0`: a job keeps its slot through its fetch.
    pub fetch_ahead: Option<usize>,
    /// Longest idle wait between claims; drivers wake the worker sooner (default 5 s).
    pub idle_wait: Duration,
    /// How often expired leases are rescued (default 15 s, never above half the lease).
    pub rescue_interval: Duration,
    /// This worker's name in logs and claims.
    pub id: String,
    /// Start even though tasks take sea-orm models and no models database
    /// was given ([`Worker::database`](crate::Worker::database)); their jobs then fail, retry and go
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
            fetch_ahead: None,
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

impl WorkerConfig {
    /// How many jobs may wait for their models without a slot
    /// ([`fetch_ahead`](Self::fetch_ahead), or twice `concurrency` when unset).
    pub(super) fn waiting_room(&self) -> usize {
        self.fetch_ahead.unwrap_or(2 * self.concurrency)
    }
}

/// What the completer does with jobs that succeeded.
pub(super) fn completion_of(config: &WorkerConfig) -> Completion {
    match config.retain_completed {
        Some(_) => Completion::Keep,
        None => Completion::Delete,
    }
}

pub(super) fn validate(mut config: WorkerConfig) -> Result<WorkerConfig> {
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
