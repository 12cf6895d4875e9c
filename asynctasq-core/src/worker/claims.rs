//! The claims a worker has in flight, each with the permits it was sent
//! with.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinSet;

use super::config::WorkerConfig;
use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::job::{ClaimParams, ClaimedJob};

/// Most claims a worker has out at once. While the queues keep filling
/// whole batches, the next claim is sent before the previous one returns,
/// so the worker never sits idle for a claim's round trip.
const MAX_CLAIMS_IN_FLIGHT: usize = 2;

/// A claim's answer, with the permits it was sent with (one per job asked).
pub(super) struct ClaimOutcome {
    pub(super) result: Result<Vec<ClaimedJob>>,
    pub(super) permits: Vec<OwnedSemaphorePermit>,
}

/// The claims in flight.
#[derive(Default)]
pub(super) struct Claims {
    tasks: JoinSet<ClaimOutcome>,
    /// Jobs asked for by the claims in flight (for `max_jobs`).
    pub(super) requested: u64,
    /// The last claim came back full: more work is likely waiting.
    pub(super) saturated: bool,
}

impl Claims {
    pub(super) fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Whether another claim may be sent now.
    pub(super) fn may_start(&self) -> bool {
        self.tasks.is_empty() || (self.saturated && self.tasks.len() < MAX_CLAIMS_IN_FLIGHT)
    }

    /// Sends a claim for `permits.len()` jobs.
    pub(super) fn start(
        &mut self,
        driver: Arc<dyn Driver>,
        config: Arc<WorkerConfig>,
        permits: Vec<OwnedSemaphorePermit>,
    ) {
        self.requested += permits.len() as u64;
        self.tasks.spawn(async move {
            let params = ClaimParams {
                worker: &config.id,
                queues: &config.queues,
                max: permits.len(),
                lease: config.lease,
            };
            let name = driver.name();
            let result = AssertUnwindSafe(driver.claim(params))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(Error::driver(name, "the driver panicked in claim")));
            ClaimOutcome { result, permits }
        });
    }

    /// The next claim to answer; `None` when none is out.
    pub(super) async fn next(&mut self) -> Option<ClaimOutcome> {
        // Claim tasks are never aborted and catch their panics.
        let outcome = self
            .tasks
            .join_next()
            .await?
            .expect("claim tasks neither panic nor get aborted");
        self.requested -= outcome.permits.len() as u64;
        Some(outcome)
    }
}
