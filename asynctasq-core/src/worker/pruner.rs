//! The pruner: deletes completed jobs kept past their retention.
//!
//! Workers configured with [`retain_completed`](super::WorkerConfig::retain_completed)
//! complete jobs with [`Completion::Keep`](crate::job::Completion::Keep);
//! the pruner deletes those completed before `now - retention`, in bounded
//! batches through [`Driver::prune_completed`], with the rescue.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::job::{PruneParams, Timestamp};

/// Most jobs deleted per [`Driver::prune_completed`] call.
const BATCH: usize = 1000;

/// Most calls per pass: a backlog is worked off over several passes rather
/// than in one long stretch of deletes.
const MAX_BATCHES: usize = 10;

/// Deletes kept completed jobs once their retention has passed.
///
/// ```
/// # async fn run(driver: std::sync::Arc<dyn asynctasq_core::Driver>) -> asynctasq_core::Result<()> {
/// use std::time::Duration;
/// let pruner = asynctasq_core::worker::Pruner::new(driver, Duration::from_secs(24 * 3600))?;
/// let deleted = pruner.run_once(None).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Pruner {
    driver: Arc<dyn Driver>,
    retention: chrono::Duration,
}

impl Pruner {
    /// A pruner of the jobs `driver` kept for `retention`. Fails when the
    /// driver cannot keep completed jobs ([`Capabilities::retention`](crate::job::Capabilities::retention)).
    pub fn new(driver: Arc<dyn Driver>, retention: Duration) -> Result<Self> {
        if !driver.capabilities().retention {
            return Err(Error::Config(format!(
                "the {} driver cannot keep completed jobs (retain_completed); \
                 remove the setting, or use the postgres or mysql driver",
                driver.name()
            )));
        }
        let retention = chrono::Duration::from_std(retention)
            .map_err(|_| Error::Config(format!("retain_completed {retention:?} is too long")))?;
        Ok(Pruner { driver, retention })
    }

    /// One pass: deletes batch after batch of jobs completed before
    /// `now - retention` (`now`: this machine's clock when `None`), until a
    /// batch comes back short. Returns how many it deleted.
    pub async fn run_once(&self, now: Option<Timestamp>) -> Result<u64> {
        let before = now.unwrap_or_else(Utc::now) - self.retention;
        let mut pruned = 0;
        for _ in 0..MAX_BATCHES {
            let n = self
                .driver
                .prune_completed(PruneParams {
                    before,
                    limit: BATCH,
                })
                .await?;
            pruned += n;
            if n < BATCH as u64 {
                break;
            }
        }
        Ok(pruned)
    }
}
