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

mod claims;
mod completer;
mod config;
mod executor;
mod maintenance;
mod outage;
mod pruner;
mod rescuer;
mod runtime;
mod shutdown;
mod signals;
mod slot;
mod stats;
mod waiter;

use std::future::Future;
use std::time::Duration;

use futures::Stream;
use sea_orm::DatabaseConnection;
use tokio::sync::mpsc;

pub use config::WorkerConfig;
pub use pruner::Pruner;
pub use rescuer::{Rescuer, RescuerConfig, lease_expired_message};
pub use shutdown::shutdown_signals;
pub use signals::Signal;
pub use stats::WorkerReport;
pub use waiter::Waiter;

pub(crate) use runtime::Executing;
pub(crate) use slot::Slot;

use crate::dispatch::Client;
use crate::error::Result;
use crate::task::Registry;
use config::validate;
use runtime::Runtime;
use signals::Signals;

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

    /// Lets up to `n` jobs wait for their sea-orm models without holding a
    /// slot ([`WorkerConfig::fetch_ahead`]; default twice `concurrency`, `0` off).
    pub fn fetch_ahead(mut self, n: usize) -> Self {
        self.config.fetch_ahead = Some(n);
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
