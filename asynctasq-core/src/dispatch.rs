//! Dispatching jobs: the [`Client`] that talks to the driver, the global
//! client that `dispatch()` uses, and the builder `#[task]` functions return.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::Utc;
use sea_orm::DatabaseTransaction;

use crate::config::Config;
use crate::driver::{Driver, connect};
use crate::envelope::{ENVELOPE_VERSION, Envelope};
use crate::error::{Error, Result};
use crate::job::{JobId, NewJob, Timestamp, to_millis};
use crate::task::Task;

/// A handle on a queue backend: dispatches jobs and serves workers and admin
/// commands. Cheap to clone.
///
/// Most applications call [`init`] once and let `dispatch()` use the global
/// client; pass a `Client` explicitly with
/// [`dispatch_with`](PendingDispatch::dispatch_with) to use several backends.
#[derive(Clone, Debug)]
pub struct Client {
    driver: Arc<dyn Driver>,
    max_payload_bytes: usize,
}

impl Client {
    /// A client over an existing driver, with default limits.
    pub fn new(driver: Arc<dyn Driver>) -> Self {
        Client {
            driver,
            max_payload_bytes: crate::config::DEFAULT_MAX_PAYLOAD,
        }
    }

    /// Connects to `config.url`, creating the schema when `auto_migrate` is on.
    pub async fn connect(config: &Config) -> Result<Self> {
        let driver = connect(&config.url).await?;
        if config.auto_migrate {
            driver.migrate().await?;
        }
        Ok(Client {
            driver,
            max_payload_bytes: config.max_payload_bytes,
        })
    }

    /// The driver behind this client.
    pub fn driver(&self) -> &Arc<dyn Driver> {
        &self.driver
    }

    /// Enqueues already-built envelopes as one batch, checking payload sizes.
    pub async fn enqueue(&self, envelopes: &[Envelope]) -> Result<()> {
        let jobs = envelopes
            .iter()
            .map(|e| self.checked_job(e))
            .collect::<Result<Vec<_>>>()?;
        self.driver.enqueue(&jobs).await?;
        for e in envelopes {
            tracing::debug!(job.id = %e.id, task = %e.task, queue = %e.queue, "enqueued");
        }
        Ok(())
    }

    /// Enqueues envelopes inside the caller's sea-orm transaction (SQL
    /// drivers): the jobs exist if and only if the transaction commits.
    pub async fn enqueue_in(
        &self,
        txn: &DatabaseTransaction,
        envelopes: &[Envelope],
    ) -> Result<()> {
        let jobs = envelopes
            .iter()
            .map(|e| self.checked_job(e))
            .collect::<Result<Vec<_>>>()?;
        self.driver.enqueue_in(txn, &jobs).await
    }

    fn checked_job(&self, envelope: &Envelope) -> Result<NewJob> {
        let job = envelope.to_new_job()?;
        if job.payload.len() > self.max_payload_bytes {
            return Err(Error::PayloadTooLarge {
                size: job.payload.len(),
                limit: self.max_payload_bytes,
            });
        }
        Ok(job)
    }

    /// Dispatches many jobs of one task in one batch. Returns their ids in order.
    pub async fn dispatch_many<T: Task>(
        &self,
        jobs: impl IntoIterator<Item = PendingDispatch<T>>,
    ) -> Result<Vec<JobId>> {
        let envelopes = jobs
            .into_iter()
            .map(|j| j.envelope())
            .collect::<Result<Vec<_>>>()?;
        self.enqueue(&envelopes).await?;
        Ok(envelopes.iter().map(|e| e.id).collect())
    }
}

static GLOBAL: tokio::sync::OnceCell<Client> = tokio::sync::OnceCell::const_new();

/// Configures the global client that `dispatch()` and the CLI use.
///
/// Call it once at start-up. Without it, the first dispatch connects with
/// [`Config::from_env`]: `ASYNCTASQ_URL`, or the embedded SQLite file
/// `./asynctasq.db`. Fails if the global client is already set.
pub async fn init(config: Config) -> Result<Client> {
    let client = Client::connect(&config).await?;
    set_global(client.clone())?;
    Ok(client)
}

/// Installs an already-built client as the global one.
pub fn set_global(client: Client) -> Result<()> {
    GLOBAL
        .set(client)
        .map_err(|_| Error::Config("the global asynctasq client is already initialized".into()))
}

/// The global client, connecting from the environment on first use.
pub async fn global() -> Result<Client> {
    GLOBAL
        .get_or_try_init(|| async { Client::connect(&Config::from_env()?).await })
        .await
        .cloned()
}

/// The global client if [`init`] or [`set_global`] (or a dispatch) set it.
pub fn try_global() -> Option<Client> {
    GLOBAL.get().cloned()
}

/// Dispatches many jobs of one task through the global client.
pub async fn dispatch_many<T: Task>(
    jobs: impl IntoIterator<Item = PendingDispatch<T>>,
) -> Result<Vec<JobId>> {
    global().await?.dispatch_many(jobs).await
}

/// A job about to be dispatched: what a `#[task]` function returns.
///
/// Nothing is sent until [`dispatch`](Self::dispatch) (or a variant) is called.
#[derive(Debug)]
#[must_use = "a task call does nothing until `.dispatch().await`"]
pub struct PendingDispatch<T> {
    task: T,
    queue: Option<String>,
    run_at: Option<Timestamp>,
    delay: Option<Duration>,
    priority: Option<i16>,
    max_attempts: Option<u32>,
    timeout: Option<Option<Duration>>,
    headers: BTreeMap<String, String>,
}

impl<T: Task> PendingDispatch<T> {
    /// Wraps the task's arguments; called by the code `#[task]` generates.
    pub fn new(task: T) -> Self {
        PendingDispatch {
            task,
            queue: None,
            run_at: None,
            delay: None,
            priority: None,
            max_attempts: None,
            timeout: None,
            headers: BTreeMap::new(),
        }
    }

    /// The arguments, e.g. to run the function directly in a test.
    pub fn into_task(self) -> T {
        self.task
    }

    /// Sends the job to `queue` instead of the task's default.
    pub fn on_queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = Some(queue.into());
        self
    }

    /// Runs the job no earlier than `delay` from dispatch.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self.run_at = None;
        self
    }

    /// Runs the job no earlier than `at`.
    pub fn run_at(mut self, at: Timestamp) -> Self {
        self.run_at = Some(at);
        self.delay = None;
        self
    }

    /// Sets the priority; higher runs first.
    pub fn priority(mut self, priority: i16) -> Self {
        self.priority = Some(priority);
        self
    }

    /// Sets the total number of attempts (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts.max(1));
        self
    }

    /// Sets the per-attempt timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(Some(timeout));
        self
    }

    /// Adds a header (correlation id, trace context).
    pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(key.into(), value.into());
        self
    }

    /// Builds the envelope that will travel.
    pub fn envelope(&self) -> Result<Envelope> {
        let options = T::options();
        let now = Utc::now();
        let run_at = match (self.run_at, self.delay) {
            (Some(at), _) => at,
            (None, Some(d)) => now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX),
            (None, None) => now,
        };
        Ok(Envelope {
            v: ENVELOPE_VERSION,
            id: JobId::new(),
            task: T::NAME.to_string(),
            queue: self
                .queue
                .clone()
                .unwrap_or_else(|| options.queue.to_string()),
            args: self.task.encode_args()?,
            max_attempts: self.max_attempts.unwrap_or(options.max_attempts).max(1),
            retry: options.retry,
            timeout_ms: self
                .timeout
                .unwrap_or(options.timeout)
                .map(|d| d.as_millis().min(u64::MAX as u128) as u64),
            priority: self.priority.unwrap_or(options.priority),
            run_at: to_millis(run_at),
            created_at: to_millis(now),
            headers: self.headers.clone(),
        })
    }

    /// Enqueues the job through the global client (see [`init`]).
    pub async fn dispatch(self) -> Result<JobId> {
        let client = global().await?;
        self.dispatch_with(&client).await
    }

    /// Enqueues the job through `client`.
    pub async fn dispatch_with(self, client: &Client) -> Result<JobId> {
        let envelope = self.envelope()?;
        client.enqueue(std::slice::from_ref(&envelope)).await?;
        Ok(envelope.id)
    }

    /// Enqueues the job inside the caller's sea-orm transaction, through the
    /// global client: the job exists if and only if the transaction commits,
    /// so a job never runs for a business row that was rolled back.
    ///
    /// ```no_run
    /// # use asynctasq_core::{PendingDispatch, Task, Result};
    /// # async fn example<T: Task>(db: sea_orm::DatabaseConnection, job: PendingDispatch<T>) -> anyhow::Result<()> {
    /// use sea_orm::TransactionTrait;
    ///
    /// let txn = db.begin().await?;
    /// // ... insert the business rows with `&txn` ...
    /// job.dispatch_in(&txn).await?;
    /// txn.commit().await?; // the job becomes visible to workers here
    /// # Ok(()) }
    /// ```
    pub async fn dispatch_in(self, txn: &DatabaseTransaction) -> Result<JobId> {
        let client = global().await?;
        self.dispatch_in_with(&client, txn).await
    }

    /// Like [`dispatch_in`](Self::dispatch_in), through `client`.
    pub async fn dispatch_in_with(
        self,
        client: &Client,
        txn: &DatabaseTransaction,
    ) -> Result<JobId> {
        let envelope = self.envelope()?;
        client
            .enqueue_in(txn, std::slice::from_ref(&envelope))
            .await?;
        Ok(envelope.id)
    }

    /// Enqueues the job from synchronous code, without an async runtime of the
    /// caller's (a CLI, a sync web framework). Returns
    /// [`Error::BlockingInAsync`] when called inside a runtime.
    pub fn dispatch_blocking(self) -> Result<JobId> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::BlockingInAsync);
        }
        blocking_runtime()?.block_on(self.dispatch())
    }
}

/// The runtime that serves blocking dispatch: one worker thread, started on first use.
fn blocking_runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::io::Result<tokio::runtime::Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("asynctasq-dispatch")
                .enable_all()
                .build()
        })
        .as_ref()
        .map_err(|e| Error::Io(std::io::Error::new(e.kind(), e.to_string())))
}
