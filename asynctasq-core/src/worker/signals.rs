//! Test signals: what a worker just did, sent to a test that asked for them
//! with [`Worker::test_signals`](super::Worker::test_signals), so that it can
//! await a step instead of sleeping. A worker built without them sends
//! nothing and builds no signal (one `Option` check per step).

use tokio::sync::mpsc;

use crate::job::{JobId, RescueReport};

/// One step of a worker, as reported to a test.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signal {
    /// A claim returned these jobs (sent only when it returned some).
    Claimed {
        /// The jobs claimed, in claim order.
        jobs: Vec<JobId>,
    },
    /// The completer wrote one batch of results (completions, retries,
    /// dead-letter moves), or gave up after retrying.
    Flushed {
        /// The jobs whose results the batch carried.
        jobs: Vec<JobId>,
    },
    /// A rescue pass of this worker ended (also when it rescued nothing).
    Rescued {
        /// What it did; zeros when it failed.
        report: RescueReport,
    },
    /// The lease-extension pass found this job's lease lost and told its
    /// handler to stop.
    LeaseLost {
        /// The job.
        job: JobId,
        /// Its task name.
        task: String,
    },
    /// The attempt whose lease was lost ended; its result was discarded.
    Discarded {
        /// The job.
        job: JobId,
    },
}

/// Where a worker sends its [`Signal`]s: nowhere unless a test asked.
#[derive(Clone, Debug, Default)]
pub(crate) struct Signals(Option<mpsc::UnboundedSender<Signal>>);

impl Signals {
    /// Sends to `tx`.
    pub(crate) fn to(tx: mpsc::UnboundedSender<Signal>) -> Self {
        Signals(Some(tx))
    }

    /// Sends the signal `build` makes, if a test listens; `build` runs only then.
    pub(crate) fn emit(&self, build: impl FnOnce() -> Signal) {
        if let Some(tx) = &self.0 {
            // A test that stopped listening is no reason to fail.
            let _ = tx.send(build());
        }
    }
}
