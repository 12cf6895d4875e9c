//! Background duties of a worker: extending the leases of running jobs,
//! rescuing jobs whose lease expired (a crashed or hung worker elsewhere)
//! and, with the rescue, pruning completed jobs past their retention.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use super::outage::Outage;
use super::rescuer::{Rescuer, RescuerConfig};
use super::{Executing, WorkerConfig};
use crate::driver::Driver;
use crate::job::Receipt;

/// Most `prune_completed` calls per pass: a backlog is worked off over
/// several passes rather than in one long stretch of deletes.
const PRUNE_CALLS_PER_PASS: usize = 10;

/// Prunes retained completed jobs, batch after batch while there are any.
async fn prune(driver: &dyn Driver, outage: &Outage) {
    let mut pruned = 0;
    for _ in 0..PRUNE_CALLS_PER_PASS {
        match driver.prune_completed().await {
            Ok(0) => break,
            Ok(n) => pruned += n,
            // Only a failure counts: without retention, pruning asks the
            // backend nothing.
            Err(e) => {
                outage.failed("pruning completed jobs", &e);
                break;
            }
        }
    }
    if pruned > 0 {
        tracing::debug!(pruned, "pruned retained completed jobs");
    }
}

/// Runs until aborted.
pub(crate) async fn run(
    driver: Arc<dyn Driver>,
    config: Arc<WorkerConfig>,
    executing: Executing,
    outage: Arc<Outage>,
) {
    let extend_every = config.lease / 3;
    let tick = extend_every
        .min(config.rescue_interval)
        .max(Duration::from_millis(50));
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut next_extend = Instant::now() + extend_every;
    let mut next_rescue = Instant::now();
    let rescuer = Rescuer::new(driver.clone(), RescuerConfig::default())
        .expect("the default rescuer config is valid");
    loop {
        interval.tick().await;
        let now = Instant::now();
        if now >= next_rescue {
            next_rescue = now + config.rescue_interval;
            let rescued = rescuer.run_once(None).await;
            outage.record("rescuing expired leases", &rescued);
            match rescued {
                Ok(r) if r.requeued + r.buried > 0 => {
                    tracing::warn!(
                        requeued = r.requeued,
                        buried = r.buried,
                        "rescued jobs with expired leases"
                    )
                }
                Ok(_) | Err(_) => {}
            }
            prune(driver.as_ref(), &outage).await;
        }
        if now >= next_extend {
            next_extend = now + extend_every;
            let receipts: Vec<Receipt> = executing
                .lock()
                .expect("executing map poisoned")
                .values()
                .map(|job| job.receipt)
                .collect();
            if !receipts.is_empty() {
                let extended = driver.extend(&receipts, config.lease).await;
                outage.record("extending leases", &extended);
            }
        }
    }
}
