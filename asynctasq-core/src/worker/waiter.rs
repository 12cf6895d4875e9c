//! The one waiter: how an idle worker sleeps until work may be claimable.
//!
//! A driver provides two things: when its next job is due
//! ([`Driver::next_due`]) and where wake-ups arrive ([`Driver::wakeups`]).
//! Everything else is decided here, once for every driver: the deadline,
//! clamping the sleep to the next due job, polling with backoff when no
//! notifier listens, and a pause when due jobs keep not being claimable.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::driver::Driver;
use crate::error::Result;
use crate::wake::Wake;

/// Longest pause of a waiter that keeps finding due jobs it cannot claim.
const MAX_SPIN_PAUSE: Duration = Duration::from_millis(500);

/// A year stands in for "forever" where adding a timeout would overflow.
const FOREVER: Duration = Duration::from_secs(365 * 24 * 3600);

/// Waits for claimable work on a driver. A worker keeps one: it remembers
/// how often in a row a wait found a job due at once, which (when claims
/// keep not taking it: another worker won it, or it is for a queue this
/// worker does not claim) makes the next waits pause a little, doubling.
///
/// ```
/// # async fn run(driver: &dyn asynctasq_core::Driver) -> asynctasq_core::Result<()> {
/// use std::time::Duration;
/// let waiter = asynctasq_core::worker::Waiter::new();
/// waiter.wait(driver, &["emails".to_string()], Duration::from_secs(5)).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct Waiter {
    /// Waits in a row that returned at once because a job was due.
    spins: AtomicU32,
}

impl Waiter {
    /// A waiter with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns when one of `queues` may have claimable work (a dispatch, a
    /// scheduled job coming due, a release, a notifier's resync), or when
    /// `timeout` has passed. May return early; never busy-loops.
    pub async fn wait<D: Driver + ?Sized>(
        &self,
        driver: &D,
        queues: &[String],
        timeout: Duration,
    ) -> Result<()> {
        let started = Instant::now();
        let deadline = started + timeout.min(FOREVER);
        let wakeups = driver.wakeups();
        // Subscribe before looking: a change after the look is announced
        // to this receiver.
        let mut wakes = wakeups.hub.subscribe();
        let listening = match wakeups.notifier {
            Some(notifier) => notifier.listen(queues).await,
            None => wakeups.poll.is_none(),
        };
        let poll = wakeups.poll.filter(|_| !listening);
        let mut pause = poll.map(|p| p.min);
        loop {
            let due = driver.next_due(queues).await?;
            if due == Some(Duration::ZERO) {
                self.spin_pause().await;
                return Ok(());
            }
            self.spins.store(0, Ordering::Relaxed);
            let now = Instant::now();
            if now >= deadline {
                return Ok(());
            }
            // The instant to return at: the deadline, or the next job's due
            // time when sooner.
            let mut until = due.map_or(deadline, |d| deadline.min(now + d));
            let look_again = pause.map(|p| now + p);
            loop {
                let sleep_until = look_again.map_or(until, |at| at.min(until));
                tokio::select! {
                    () = tokio::time::sleep_until(sleep_until) => {
                        if sleep_until >= until {
                            return Ok(());
                        }
                        // A poll tick: look again, and wait longer next time.
                        if let (Some(p), Some(interval)) = (pause.as_mut(), poll) {
                            *p = (*p * 2).min(interval.max);
                        }
                        break;
                    }
                    wake = wakes.recv() => match wake {
                        Ok(wake @ Wake::Due { at, .. }) => {
                            if !wake.concerns(queues) {
                                continue;
                            }
                            match (at - Utc::now()).to_std() {
                                // Due now (a negative span does not convert).
                                Err(_) | Ok(Duration::ZERO) => return Ok(()),
                                Ok(later) => until = until.min(Instant::now() + later),
                            }
                        }
                        Ok(Wake::Changed) => break,
                        // Wake-ups may have been lost, or this waiter lagged.
                        Ok(Wake::Resync) | Err(RecvError::Lagged(_) | RecvError::Closed) => {
                            return Ok(());
                        }
                    },
                }
            }
        }
    }

    /// Pauses a waiter that keeps finding due jobs: after the first, 10 ms,
    /// doubling up to [`MAX_SPIN_PAUSE`].
    async fn spin_pause(&self) {
        let n = self.spins.fetch_add(1, Ordering::Relaxed);
        if n > 0 {
            let pause = Duration::from_millis(5) * 2u32.pow(n.min(8));
            tokio::time::sleep(pause.min(MAX_SPIN_PAUSE)).await;
        }
    }
}
