//! Retry policies: how long to wait before the next attempt.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The shape of the backoff between attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backoff {
    /// The same delay before every retry.
    Fixed,
    /// `delay × 2^(attempt-1)`, capped at `max_delay`.
    Exponential,
}

/// When a failed attempt is retried. Travels in the job's envelope, so a job
/// keeps the policy it was dispatched with.
///
/// ```
/// use std::time::Duration;
/// use asynctasq_core::RetryPolicy;
///
/// let policy = RetryPolicy::exponential(Duration::from_secs(2)).without_jitter();
/// assert_eq!(policy.delay_after(1), Duration::from_secs(2));
/// assert_eq!(policy.delay_after(3), Duration::from_secs(8));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Fixed or exponential.
    pub backoff: Backoff,
    /// The base delay, in milliseconds.
    pub delay_ms: u64,
    /// The longest delay, in milliseconds.
    pub max_delay_ms: u64,
    /// Whether the delay is randomized, so that failing jobs do not retry in
    /// lockstep: it becomes a random value between 75 % and 125 % of the
    /// (capped) delay, never above `max_delay_ms`. A delay at the cap thus
    /// lands between 75 % and 100 % of the cap.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    /// Exponential from 1 s, capped at 1 h, with jitter.
    fn default() -> Self {
        RetryPolicy::exponential(Duration::from_secs(1))
    }
}

const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(3600);

impl RetryPolicy {
    /// The same delay before every retry, with jitter.
    pub fn fixed(delay: Duration) -> Self {
        RetryPolicy {
            backoff: Backoff::Fixed,
            delay_ms: millis(delay),
            max_delay_ms: millis(DEFAULT_MAX_DELAY).max(millis(delay)),
            jitter: true,
        }
    }

    /// Doubling delays from `base`, capped at one hour, with jitter.
    pub fn exponential(base: Duration) -> Self {
        RetryPolicy {
            backoff: Backoff::Exponential,
            delay_ms: millis(base),
            max_delay_ms: millis(DEFAULT_MAX_DELAY).max(millis(base)),
            jitter: true,
        }
    }

    /// The same policy without jitter (exact delays).
    pub fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// The same policy with another cap.
    pub fn with_max_delay(mut self, max: Duration) -> Self {
        self.max_delay_ms = millis(max);
        self
    }

    /// The delay after attempt number `attempt` (1-based) failed: the
    /// backoff capped at `max_delay_ms`, then jittered (see
    /// [`jitter`](Self::jitter)). Never above `max_delay_ms`.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let base = self.delay_ms as f64;
        let raw = match self.backoff {
            Backoff::Fixed => base,
            Backoff::Exponential => base * 2f64.powi(attempt.saturating_sub(1).min(62) as i32),
        };
        let max = self.max_delay_ms as f64;
        let capped = raw.min(max);
        // Jitter after the cap, so that jobs at the cap spread out below it
        // instead of all retrying at exactly the cap.
        let delay = if self.jitter && capped > 0.0 {
            rand::random_range(capped * 0.75..=(capped * 1.25).min(max))
        } else {
            capped
        };
        Duration::from_millis(delay.max(0.0) as u64)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_is_constant() {
        let p = RetryPolicy::fixed(Duration::from_millis(500)).without_jitter();
        assert_eq!(p.delay_after(1), Duration::from_millis(500));
        assert_eq!(p.delay_after(7), Duration::from_millis(500));
    }

    #[test]
    fn exponential_doubles_and_caps() {
        let p = RetryPolicy::exponential(Duration::from_secs(1))
            .without_jitter()
            .with_max_delay(Duration::from_secs(10));
        let delays: Vec<_> = (1..=6).map(|a| p.delay_after(a).as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 10, 10]);
        assert_eq!(p.delay_after(u32::MAX), Duration::from_secs(10));
    }

    #[test]
    fn jitter_stays_within_a_quarter() {
        let p = RetryPolicy::fixed(Duration::from_secs(4));
        for _ in 0..1000 {
            let d = p.delay_after(1).as_millis();
            assert!((3000..=5000).contains(&d), "{d}");
        }
    }

    #[test]
    fn jitter_applies_after_the_cap_and_never_exceeds_it() {
        // Attempt 20 of a 1 s exponential is far past a 10 s cap.
        let p = RetryPolicy::exponential(Duration::from_secs(1))
            .with_max_delay(Duration::from_secs(10));
        let delays: Vec<u128> = (0..1000).map(|_| p.delay_after(20).as_millis()).collect();
        assert!(
            delays.iter().all(|d| (7500..=10_000).contains(d)),
            "{delays:?}"
        );
        let (lo, hi) = (delays.iter().min().unwrap(), delays.iter().max().unwrap());
        assert!(
            *lo < 8000 && *hi > 9500,
            "capped delays are not spread out: {lo}..{hi}"
        );
        let at_cap = delays.iter().filter(|d| **d == 10_000).count();
        assert!(at_cap < 50, "{at_cap} of 1000 retries at exactly the cap");
        // Just below the cap, the upper jitter is cut at the cap.
        let near =
            RetryPolicy::fixed(Duration::from_secs(9)).with_max_delay(Duration::from_secs(10));
        for _ in 0..1000 {
            let d = near.delay_after(1).as_millis();
            assert!((6750..=10_000).contains(&d), "{d}");
        }
    }
}
