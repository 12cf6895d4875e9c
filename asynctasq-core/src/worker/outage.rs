//! Logging of backend outages: one warning with the cause when the
//! worker's calls to the driver start failing, one line with the duration
//! when they succeed again, instead of a warning per failed call (a worker
//! retries its claims, acks and maintenance many times while the backend
//! is down).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::time::Instant;

use crate::error::Error;

/// Whether the worker's calls to the driver are failing, shared by the
/// claim loop, the completer and the maintenance task of one worker.
#[derive(Debug)]
pub(crate) struct Outage {
    /// The worker's id, in both lines.
    worker: String,
    /// Fast path for [`succeeded`](Self::succeeded): `true` while down.
    down: AtomicBool,
    state: Mutex<Option<Down>>,
}

#[derive(Debug)]
struct Down {
    since: Instant,
    failed_calls: u64,
}

impl Outage {
    /// No outage yet.
    pub(crate) fn new(worker: &str) -> Self {
        Outage {
            worker: worker.to_string(),
            down: AtomicBool::new(false),
            state: Mutex::new(None),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Option<Down>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A call to the driver (`what`: `claim`, `complete`, ...) failed with
    /// `error`. The first failure of an outage is logged with its cause;
    /// the next ones only at debug level.
    pub(crate) fn failed(&self, what: &str, error: &Error) {
        let mut state = self.state();
        match state.as_mut() {
            Some(down) => {
                down.failed_calls += 1;
                tracing::debug!(worker = %self.worker, error = %error, "{what} failed again; still retrying");
            }
            None => {
                *state = Some(Down {
                    since: Instant::now(),
                    failed_calls: 1,
                });
                self.down.store(true, Ordering::Release);
                tracing::warn!(
                    worker = %self.worker, error = %error,
                    "backend outage: {what} failed; the worker keeps retrying and logs again when the backend answers"
                );
            }
        }
    }

    /// A call to the driver succeeded: ends the outage, if any, with one line.
    pub(crate) fn succeeded(&self) {
        if !self.down.load(Ordering::Acquire) {
            return;
        }
        let Some(down) = self.state().take() else {
            return;
        };
        self.down.store(false, Ordering::Release);
        let lasted = down.since.elapsed();
        tracing::info!(
            worker = %self.worker, failed_calls = down.failed_calls, ?lasted,
            "backend outage over after {lasted:.1?}: the worker's calls succeed again"
        );
    }

    /// Records the outcome of one call that asks the backend something
    /// (a claim, an ack, a rescue): [`failed`](Self::failed) or
    /// [`succeeded`](Self::succeeded). Calls that may succeed without asking
    /// it (a wait, a prune without retention) report only their failures.
    pub(crate) fn record<T>(&self, what: &str, result: &crate::Result<T>) {
        match result {
            Ok(_) => self.succeeded(),
            Err(e) => self.failed(what, e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_failed_calls_of_one_outage() {
        let outage = Outage::new("w");
        outage.succeeded();
        assert!(outage.state().is_none(), "no outage before a failure");
        let error = Error::driver("test", "connection refused");
        outage.failed("claim", &error);
        outage.record::<()>("complete", &Err(Error::driver("test", "refused")));
        assert_eq!(outage.state().as_ref().map(|d| d.failed_calls), Some(2));
        outage.record("claim", &Ok(()));
        assert!(outage.state().is_none(), "a success ends it");
        assert!(!outage.down.load(Ordering::Acquire));
    }
}
