//! Background duties of a worker: extending the leases of running jobs (and
//! stopping those whose lease was lost), rescuing jobs whose lease expired
//! (a crashed or hung worker elsewhere) and, with the rescue, pruning
//! completed jobs past their retention.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use super::outage::Outage;
use super::pruner::Pruner;
use super::rescuer::{Rescuer, RescuerConfig};
use super::signals::{Signal, Signals};
use super::stats::WorkerCounters;
use super::{Executing, WorkerConfig};
use crate::cancel::CancelReason;
use crate::driver::Driver;
use crate::job::Receipt;

/// Everything the maintenance task works with.
pub(crate) struct Maintenance {
    pub(crate) driver: Arc<dyn Driver>,
    pub(crate) config: Arc<WorkerConfig>,
    pub(crate) executing: Executing,
    pub(crate) outage: Arc<Outage>,
    pub(crate) counters: Arc<WorkerCounters>,
    pub(crate) signals: Signals,
}

impl Maintenance {
    /// Runs until aborted.
    pub(crate) async fn run(self) {
        let config = &self.config;
        let extend_every = config.lease / 3;
        let tick = extend_every
            .min(config.rescue_interval)
            .max(Duration::from_millis(50));
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut next_extend = Instant::now() + extend_every;
        let mut next_rescue = Instant::now();
        let rescuer = Rescuer::new(self.driver.clone(), RescuerConfig::default())
            .expect("the default rescuer config is valid");
        // Checked when the worker started.
        let pruner = config
            .retain_completed
            .and_then(|retention| Pruner::new(self.driver.clone(), retention).ok());
        loop {
            interval.tick().await;
            let now = Instant::now();
            if now >= next_rescue {
                next_rescue = now + config.rescue_interval;
                self.rescue(&rescuer).await;
                if let Some(pruner) = &pruner {
                    self.prune(pruner).await;
                }
            }
            if now >= next_extend {
                next_extend = now + extend_every;
                self.extend().await;
            }
        }
    }

    /// Returns jobs whose lease expired (on any worker) to their queues, or
    /// to dead-letter (see [`Rescuer`]).
    async fn rescue(&self, rescuer: &Rescuer) {
        let rescued = rescuer.run_once(None).await;
        self.outage.record("rescuing expired leases", &rescued);
        let report = rescued.unwrap_or_default();
        if report.requeued + report.buried > 0 {
            tracing::warn!(
                requeued = report.requeued,
                buried = report.buried,
                "rescued jobs with expired leases"
            );
        }
        self.signals.emit(|| Signal::Rescued { report });
    }

    /// Deletes completed jobs kept past their retention.
    async fn prune(&self, pruner: &Pruner) {
        let pruned = pruner.run_once(None).await;
        self.outage.record("pruning completed jobs", &pruned);
        if let Ok(n @ 1..) = pruned {
            tracing::debug!(pruned = n, "pruned completed jobs past their retention");
        }
    }

    /// Extends the leases of the jobs running here. A lease the driver did
    /// not extend is lost (it expired and the job was rescued, so it may
    /// run elsewhere): its job leaves the executing map, its handler is told
    /// to stop, and its result will be discarded.
    async fn extend(&self) {
        let receipts: Vec<Receipt> = self
            .executing
            .lock()
            .expect("executing map poisoned")
            .values()
            .map(|job| job.receipt)
            .collect();
        if receipts.is_empty() {
            return;
        }
        let result = self.driver.extend(&receipts, self.config.lease).await;
        self.outage.record("extending leases", &result);
        let Ok(lost) = result else {
            return;
        };
        for receipt in lost {
            let job = {
                let mut executing = self.executing.lock().expect("executing map poisoned");
                // The attempt may have ended meanwhile (its ack will be
                // rejected as stale), or the job been claimed here again.
                if executing.get(&receipt.id).map(|j| j.receipt) != Some(receipt) {
                    continue;
                }
                executing.remove(&receipt.id).expect("just looked up")
            };
            job.canceller.cancel(CancelReason::LeaseLost);
            self.counters.record_lease_lost();
            tracing::warn!(
                worker = %self.config.id, job.id = %receipt.id, task = %job.task,
                "lease lost: the job's lease expired before this worker could extend it and the \
                 job was rescued, so it may be running on another worker; its handler is told \
                 to stop and this attempt's result will not be written (if this repeats, the \
                 worker stalls for longer than its lease: raise the lease)"
            );
            self.signals.emit(|| Signal::LeaseLost {
                job: receipt.id,
                task: job.task.clone(),
            });
        }
    }
}
