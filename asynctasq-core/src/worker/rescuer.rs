//! The rescuer: returns jobs whose lease expired (their worker stopped,
//! crashed or hung) to the queue, or to dead-letter when they have no
//! attempts left.
//!
//! Drivers only report expired leases
//! ([`Driver::leases_expired`]); the decision is made here, once for every
//! driver, and applied through the fenced [`Driver::retry`] and
//! [`Driver::bury`]. An expired lease's receipt stays valid until someone
//! acts on the job, so when two rescuers race for the same jobs, one applies
//! each and the other's receipts report nothing applied.

use std::sync::Arc;

use chrono::Utc;

use crate::driver::Driver;
use crate::envelope::Envelope;
use crate::error::{Error, Result};
use crate::job::{
    AttemptError, Burial, ExpiredLease, ExpiredParams, RescueReport, Retry, Timestamp,
};
use crate::retry::RetryPolicy;

/// How the [`Rescuer`] works through expired leases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RescuerConfig {
    /// Most leases read and acted on per batch (default 500).
    pub batch: usize,
    /// Most batches per [`run_once`](Rescuer::run_once) (default 10): a
    /// larger backlog is worked off over several passes.
    pub max_batches: usize,
}

impl Default for RescuerConfig {
    fn default() -> Self {
        RescuerConfig {
            batch: 500,
            max_batches: 10,
        }
    }
}

impl RescuerConfig {
    /// Fails when a batch or the number of batches is zero.
    pub fn validate(&self) -> Result<()> {
        if self.batch == 0 || self.max_batches == 0 {
            return Err(Error::Config(format!(
                "the rescuer's batch ({}) and max_batches ({}) must be at least 1",
                self.batch, self.max_batches
            )));
        }
        Ok(())
    }
}

/// Decides and applies what happens to jobs whose lease expired.
///
/// A rescued job that has attempts left is retried after the backoff of the
/// retry policy it was dispatched with (the default policy when its payload
/// cannot be read); one on its last attempt goes to dead-letter. Both get
/// the same error: `lease expired during attempt N of M (the worker stopped,
/// crashed or hung)`.
#[derive(Debug, Clone)]
pub struct Rescuer {
    driver: Arc<dyn Driver>,
    config: RescuerConfig,
}

impl Rescuer {
    /// A rescuer over `driver`. Fails when `config` is invalid.
    pub fn new(driver: Arc<dyn Driver>, config: RescuerConfig) -> Result<Self> {
        config.validate()?;
        Ok(Rescuer { driver, config })
    }

    /// One pass: batch after batch of expired leases, until a batch comes
    /// back short or [`max_batches`](RescuerConfig::max_batches) were done.
    /// `now` is the instant leases are compared with and errors are dated
    /// at: `None` for the backend's clock (errors and backoff then use this
    /// machine's), `Some` to move time in tests.
    pub async fn run_once(&self, now: Option<Timestamp>) -> Result<RescueReport> {
        let mut report = RescueReport::default();
        for _ in 0..self.config.max_batches {
            let expired = self
                .driver
                .leases_expired(ExpiredParams {
                    now,
                    limit: self.config.batch,
                })
                .await?;
            let (retries, burials) = decide(&expired, now.unwrap_or_else(Utc::now));
            if !retries.is_empty() {
                report.requeued += self.driver.retry(&retries).await?;
            }
            if !burials.is_empty() {
                report.buried += self.driver.bury(&burials).await?;
            }
            if expired.len() < self.config.batch {
                break;
            }
        }
        Ok(report)
    }
}

/// The error recorded on a rescued job, retried or buried.
pub fn lease_expired_message(attempt: u32, max_attempts: u32) -> String {
    format!(
        "lease expired during attempt {attempt} of {max_attempts} \
         (the worker stopped, crashed or hung)"
    )
}

/// Splits expired leases into retries (with backoff) and burials.
fn decide(expired: &[ExpiredLease], now: Timestamp) -> (Vec<Retry>, Vec<Burial>) {
    let mut retries = Vec::new();
    let mut burials = Vec::new();
    for lease in expired {
        let error = AttemptError {
            at: now,
            attempt: lease.attempt,
            message: lease_expired_message(lease.attempt, lease.max_attempts),
        };
        if lease.attempt >= lease.max_attempts {
            burials.push(Burial {
                receipt: lease.receipt,
                error,
            });
        } else {
            let policy = Envelope::decode(&lease.payload)
                .map(|e| e.retry)
                .unwrap_or_default();
            retries.push(Retry {
                receipt: lease.receipt,
                run_at: after(now, &policy, lease.attempt),
                error,
            });
        }
    }
    (retries, burials)
}

/// `now` plus the policy's delay after `attempt` failed.
fn after(now: Timestamp, policy: &RetryPolicy, attempt: u32) -> Timestamp {
    chrono::Duration::from_std(policy.delay_after(attempt))
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::job::{JobId, Receipt};

    fn lease(attempt: u32, max_attempts: u32, payload: Vec<u8>) -> ExpiredLease {
        ExpiredLease {
            receipt: Receipt {
                id: JobId::new(),
                token: 7,
            },
            task: "t".into(),
            queue: "q".into(),
            attempt,
            max_attempts,
            payload,
        }
    }

    #[test]
    fn last_attempt_is_buried_and_others_retried_with_one_message() {
        let now = Utc::now();
        let (retries, burials) = decide(&[lease(1, 3, vec![]), lease(3, 3, vec![])], now);
        assert_eq!(retries.len(), 1);
        assert_eq!(burials.len(), 1);
        assert_eq!(
            retries[0].error.message,
            "lease expired during attempt 1 of 3 (the worker stopped, crashed or hung)"
        );
        assert_eq!(
            burials[0].error.message,
            "lease expired during attempt 3 of 3 (the worker stopped, crashed or hung)"
        );
        assert_eq!(burials[0].error.at, now);
        // An unreadable payload backs off with the default policy (1 s ± 25 %).
        let delay = retries[0].run_at - now;
        assert!(
            (750..=1250).contains(&delay.num_milliseconds()),
            "{delay:?}"
        );
    }

    #[test]
    fn a_retry_backs_off_with_the_jobs_own_policy() {
        let envelope = Envelope {
            v: crate::envelope::ENVELOPE_VERSION,
            id: JobId::new(),
            task: "t".into(),
            queue: "q".into(),
            args: rmpv::Value::Map(vec![]),
            max_attempts: 5,
            retry: RetryPolicy::fixed(Duration::from_secs(3600)).without_jitter(),
            timeout_ms: None,
            priority: 0,
            run_at: 0,
            created_at: 0,
            headers: Default::default(),
        };
        let now = Utc::now();
        let (retries, _) = decide(&[lease(2, 5, envelope.encode().unwrap())], now);
        assert_eq!(retries[0].run_at - now, chrono::Duration::hours(1));
    }

    #[test]
    fn a_config_of_zeros_is_refused() {
        let err = RescuerConfig {
            batch: 0,
            max_batches: 1,
        }
        .validate()
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration: the rescuer's batch (0) and max_batches (1) must be at least 1"
        );
    }
}
