//! The core of [asynctasq](https://docs.rs/asynctasq): the job envelope and
//! its codec, the task registry, the [`Driver`] contract, the dispatcher and
//! the worker runtime.
//!
//! Applications depend on the `asynctasq` facade crate; driver authors
//! depend on this crate and run its conformance suite (feature `conformance`).
//! Core knows nothing of any backend: a driver knows nothing of tasks, only
//! envelopes as bytes.

pub mod args;
pub mod cancel;
pub mod config;
pub mod dispatch;
pub mod driver;
pub mod envelope;
pub mod error;
pub mod job;
pub mod memory;
pub mod observed;
pub mod retry;
pub mod stored_error;
pub mod task;
pub mod url;
pub mod wake;
pub mod worker;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use cancel::{CancelReason, Cancellation};
pub use config::Config;
pub use dispatch::{Client, PendingDispatch, dispatch_many, global, init, set_global, try_global};
pub use driver::{Driver, DriverFactory, connect};
pub use envelope::Envelope;
pub use error::{Error, Result};
pub use job::{
    AttemptError, Burial, Capabilities, ClaimParams, ClaimedJob, Completion, DeadListParams,
    DeadSelector, ExpiredLease, ExpiredParams, JobId, JobInfo, JobState, NewJob, PruneParams,
    QueueStats, Receipt, RescueReport, Retry, Timestamp,
};
pub use retry::{Backoff, RetryPolicy};
pub use task::{JobContext, Permanent, Registry, Task, TaskFailure, TaskOptions, TaskRegistration};
pub use worker::{Pruner, Rescuer, RescuerConfig, Waiter, Worker, WorkerConfig, WorkerReport};

#[doc(hidden)]
pub use {async_trait, futures, inventory, rmpv, sea_orm};
