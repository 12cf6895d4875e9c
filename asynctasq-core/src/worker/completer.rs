//! Writes attempt results back to the driver in batches: the completions,
//! the retries and the dead-letter moves of everything finished since the
//! last write, one call each. A write that fails is retried a few times; if
//! the driver stays down, the lease expires and the rescuer returns the job.
//! An attempt whose lease was lost while it ran writes nothing.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::executor::Verdict;
use super::outage::Outage;
use super::signals::{Signal, Signals};
use super::stats::WorkerCounters;
use crate::driver::Driver;
use crate::job::{Burial, Completion, Receipt, Retry};

/// Most completions written in one call.
const MAX_BATCH: usize = 512;

/// One finished attempt, on its way to the driver.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) receipt: Receipt,
    pub(crate) task: String,
    pub(crate) verdict: Verdict,
}

/// Drains `rx` until every sender is gone.
pub(crate) async fn run(
    driver: Arc<dyn Driver>,
    completion: Completion,
    mut rx: mpsc::Receiver<Finished>,
    counters: Arc<WorkerCounters>,
    outage: Arc<Outage>,
    signals: Signals,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut completed = Vec::with_capacity(batch.len());
        let mut retries = Vec::new();
        let mut burials = Vec::new();
        let mut written = Vec::new();
        for finished in batch.drain(..) {
            let receipt = finished.receipt;
            if finished.verdict != Verdict::LeaseLost {
                written.push(receipt.id);
            }
            match finished.verdict {
                Verdict::LeaseLost => {
                    // The lease-extension pass warned when it found the loss.
                    tracing::debug!(job.id = %receipt.id, task = %finished.task, "attempt ended after its lease was lost; its result is discarded");
                    signals.emit(|| Signal::Discarded { job: receipt.id });
                }
                Verdict::Complete => completed.push(receipt),
                Verdict::Retry { run_at, error } => {
                    tracing::warn!(job.id = %receipt.id, task = %finished.task, attempt = error.attempt, %run_at, error = %error.message, "attempt failed; retrying");
                    retries.push(Retry {
                        receipt,
                        run_at,
                        error,
                    });
                }
                Verdict::Bury { error } => {
                    tracing::error!(job.id = %receipt.id, task = %finished.task, attempt = error.attempt, error = %error.message, "job moved to dead-letter");
                    burials.push(Burial { receipt, error });
                }
            }
        }
        if !retries.is_empty() {
            let applied = with_retries("retry", &outage, || driver.retry(&retries)).await;
            counters.record_retried(retries.len() as u64, applied);
        }
        if !burials.is_empty() {
            let applied = with_retries("bury", &outage, || driver.bury(&burials)).await;
            counters.record_dead(burials.len() as u64, applied);
        }
        if !completed.is_empty() {
            let applied = with_retries("complete", &outage, || {
                driver.complete(&completed, completion)
            })
            .await;
            counters.record_completed(completed.len() as u64, applied);
        }
        if !written.is_empty() {
            signals.emit(|| Signal::Flushed { jobs: written });
        }
    }
}

/// Calls `op` up to 5 times with growing pauses. `None` if it never succeeded.
async fn with_retries<T, F, Fut>(what: &str, outage: &Outage, mut op: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = crate::Result<T>>,
{
    let mut pause = Duration::from_millis(50);
    for _ in 0..5 {
        let result = op().await;
        outage.record(what, &result);
        match result {
            Ok(v) => return Some(v),
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause *= 3;
            }
        }
    }
    tracing::error!(
        "{what} failed 5 times; the lease will expire and the rescuer will return the job"
    );
    None
}
