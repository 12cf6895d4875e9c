//! Runs one claimed job: decode, look up the handler, run it under a timeout
//! with panic capture, and decide what happens next. Never fails: every
//! problem becomes a [`Verdict`].

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use chrono::Utc;
use futures::FutureExt;

use super::slot::Slot;
use crate::cancel::{CancelReason, Cancellation};
use crate::envelope::Envelope;
use crate::job::{AttemptError, ClaimedJob, Timestamp};
use crate::task::{JobContext, Registry, TaskFailure};

/// What the worker must write after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// Delete the job.
    Complete,
    /// Run it again at `run_at`.
    Retry {
        run_at: Timestamp,
        error: AttemptError,
    },
    /// Move it to dead-letter.
    Bury { error: AttemptError },
    /// Write nothing: the lease was lost while the handler ran (the job was
    /// rescued and belongs to whoever claims it next), whatever it returned.
    LeaseLost,
}

/// Runs `job` to a verdict; `cancellation` goes to the handler, and when it
/// was raised for a lost lease the verdict is [`Verdict::LeaseLost`]. Its
/// timeout does not count the time it waits to get its `slot` back (a job
/// that takes models has one).
pub(crate) async fn execute(
    job: &ClaimedJob,
    registry: &Registry,
    db: Option<&sea_orm::DatabaseConnection>,
    cancellation: Cancellation,
    slot: Option<&Slot>,
) -> Verdict {
    let verdict = run(job, registry, db, cancellation.clone(), slot).await;
    match cancellation.reason() {
        Some(CancelReason::LeaseLost) => Verdict::LeaseLost,
        None => verdict,
    }
}

/// Runs `job` to the verdict its handler's outcome calls for.
async fn run(
    job: &ClaimedJob,
    registry: &Registry,
    db: Option<&sea_orm::DatabaseConnection>,
    cancellation: Cancellation,
    slot: Option<&Slot>,
) -> Verdict {
    let envelope = match Envelope::decode(&job.payload) {
        Ok(e) => e,
        Err(e) => return bury(job, format!("undecodable payload: {e}")),
    };
    let Some(registration) = registry.get(&envelope.task) else {
        return bury(
            job,
            format!(
                "unknown task `{}`: no such task is registered in this worker binary",
                envelope.task
            ),
        );
    };
    let context = JobContext {
        id: job.receipt.id,
        task: envelope.task.clone(),
        queue: job.queue.clone(),
        attempt: job.attempt,
        max_attempts: job.max_attempts,
        args: envelope.args.clone(),
        db: db.cloned(),
        cancellation,
    };
    let run = AssertUnwindSafe((registration.handler)(context)).catch_unwind();
    let outcome = match envelope.timeout_ms {
        Some(ms) => match Slot::within(slot, Duration::from_millis(ms), run).await {
            Some(result) => result,
            None => Ok(Err(TaskFailure::retryable(format!(
                "timed out after {}",
                humantime::format_duration(Duration::from_millis(ms))
            )))),
        },
        None => run.await,
    };
    let failure = match outcome {
        Ok(Ok(())) => return Verdict::Complete,
        Ok(Err(failure)) => failure,
        Err(panic) => TaskFailure::retryable(format!("panicked: {}", panic_message(&panic))),
    };
    decide(job, &envelope, failure)
}

fn decide(job: &ClaimedJob, envelope: &Envelope, failure: TaskFailure) -> Verdict {
    let error = AttemptError::now(job.attempt, failure.message);
    if failure.permanent || job.attempt >= job.max_attempts {
        return Verdict::Bury { error };
    }
    let delay = envelope.retry.delay_after(job.attempt);
    Verdict::Retry {
        run_at: Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX),
        error,
    }
}

fn bury(job: &ClaimedJob, message: String) -> Verdict {
    Verdict::Bury {
        error: AttemptError::now(job.attempt, message),
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_string()
    }
}
