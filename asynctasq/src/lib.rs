//! # asynctasq
//!
//! Async task dispatch for Rust. Annotate an `async fn` with [`#[task]`](task),
//! call it to get a builder, and `.dispatch().await` it from anywhere; run a
//! worker in your own binary with [`cli::run`]. Jobs are stored durably by a
//! driver: the embedded SQLite file `./asynctasq.db` unless configured.
//!
//! ```no_run
//! use asynctasq::prelude::*;
//!
//! #[task(queue = "emails", max_attempts = 5, retry = "exponential", retry_delay = "2s", timeout = "30s")]
//! async fn send_welcome_email(to: String, name: String) -> Result<(), std::io::Error> {
//!     println!("Welcome, {name} <{to}>");
//!     Ok(())
//! }
//!
//! # async fn handler() -> asynctasq::Result<()> {
//! let id: JobId = send_welcome_email("a@x.io".into(), "Ada".into())
//!     .delay(Duration::from_secs(10))
//!     .priority(5)
//!     .dispatch()
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! Configuration: [`init`] from code, else `ASYNCTASQ_*` environment
//! variables, else the defaults in [`Config`]. CLI flags override all three.

pub use asynctasq_core::{
    AttemptError, Backoff, CancelReason, Cancellation, Client, Config, DeadListParams,
    DeadSelector, Driver, Envelope, Error, JobContext, JobId, JobInfo, JobState, PendingDispatch,
    Permanent, QueueStats, Registry, Result, RetryPolicy, Task, TaskOptions, Timestamp, Worker,
    WorkerConfig, WorkerReport, dispatch_many, global, set_global,
};
pub use asynctasq_macros::task;

/// The core crate, for driver authors and advanced use.
pub use asynctasq_core as core;
/// The built-in drivers.
pub use asynctasq_drivers as drivers;

pub mod cli;

/// Connects to `config.url` and makes it the global client that `dispatch()` uses.
///
/// ```no_run
/// # async fn run() -> asynctasq::Result<()> {
/// asynctasq::init(asynctasq::Config::new("sqlite://jobs.db")).await?;
/// # Ok(()) }
/// ```
pub async fn init(config: Config) -> Result<Client> {
    asynctasq_core::init(config).await
}

/// Connects to a backend URL (`sqlite://jobs.db`, `memory://`) and creates its schema.
pub async fn connect(url: &str) -> Result<Client> {
    Client::connect(&Config::new(url)).await
}

/// What most applications need, in one import.
pub mod prelude {
    pub use crate::{Client, Config, JobId, PendingDispatch, Permanent, Worker, task};
    pub use std::time::Duration;
}

/// Items the `#[task]` macro's generated code uses. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use asynctasq_core::args::{
        Arg, ArgError, Codec, ModelArg, OptionModelArg, SerdeArg, VecModelArg, args_map,
    };
    pub use asynctasq_core::retry::{Backoff, RetryPolicy};
    pub use asynctasq_core::task::{
        HandlerFuture, IntoTaskResult, JobContext, Task, TaskFailure, TaskOptions, TaskRegistration,
    };
    pub use asynctasq_core::{PendingDispatch, Result};
    pub use asynctasq_core::{futures, inventory, rmpv};
    pub use std::boxed::Box;
    pub use std::time::Duration;

    use std::future::Future;

    /// Logs a job completed without running because a model argument's row
    /// is gone and the task said `missing = "skip"`.
    pub fn skipped_missing_model(ctx: &JobContext, error: &ArgError) {
        tracing::info!(job.id = %ctx.id, task = %ctx.task, reason = %error, "skipped: missing = \"skip\"");
    }

    /// Requires a task's future to be `Send`: the worker runs jobs on a
    /// multi-threaded runtime. Takes a reference so that the future's later
    /// use is not reported a second time.
    pub fn check_future_is_send<F: Future + Send>(_future: &F) {}

    /// Runs the body of a synchronous task on tokio's blocking pool. A panic
    /// in `body` resumes here, so the worker's panic capture records it like
    /// a panic in an async task.
    pub async fn run_blocking<R, F>(body: F) -> std::result::Result<R, TaskFailure>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        match tokio::task::spawn_blocking(body).await {
            Ok(value) => Ok(value),
            Err(error) => match error.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(_) => Err(TaskFailure::retryable(
                    "the blocking task was cancelled: the runtime is shutting down",
                )),
            },
        }
    }
}
