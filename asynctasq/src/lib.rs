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
    AttemptError, Backoff, Client, Config, DeadSelector, Driver, Envelope, Error, JobContext,
    JobId, JobInfo, JobState, PendingDispatch, Permanent, QueueStats, Registry, Result,
    RetryPolicy, Task, TaskOptions, Timestamp, Worker, WorkerConfig, WorkerReport, dispatch_many,
    global, set_global,
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
    pub use asynctasq_core::inventory;
    pub use asynctasq_core::retry::{Backoff, RetryPolicy};
    pub use asynctasq_core::rmpv;
    pub use asynctasq_core::task::{
        HandlerFuture, IntoTaskResult, JobContext, Task, TaskFailure, TaskOptions,
        TaskRegistration, args_map, decode_arg, encode_arg,
    };
    pub use asynctasq_core::{PendingDispatch, Result};
    pub use std::boxed::Box;
    pub use std::time::Duration;
}
