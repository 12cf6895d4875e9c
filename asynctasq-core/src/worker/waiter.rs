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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    use chrono::Utc;

    use super::*;
    use crate::job::{JobId, NewJob};
    use crate::memory::MemoryDriver;
    use crate::observed::{Hooks, Observed, Op};
    use crate::wake::{PollInterval, WakeHub, Wakeups};

    fn job(queue: &str, in_ms: i64) -> NewJob {
        NewJob {
            id: JobId::new(),
            task: "t".into(),
            queue: queue.into(),
            priority: 0,
            run_at: Utc::now() + chrono::Duration::milliseconds(in_ms),
            max_attempts: 1,
            payload: Vec::new(),
        }
    }

    fn queues() -> Vec<String> {
        vec!["q".to_string()]
    }

    /// A 10 s wait on queue `q`, in its own task; it answers how long it took.
    fn spawn_wait(driver: Arc<dyn Driver>) -> tokio::task::JoinHandle<Duration> {
        tokio::spawn(async move {
            let started = Instant::now();
            Waiter::new()
                .wait(driver.as_ref(), &queues(), Duration::from_secs(10))
                .await
                .unwrap();
            started.elapsed()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_wait_lasts_until_its_timeout() {
        let driver = MemoryDriver::new();
        let started = Instant::now();
        Waiter::new()
            .wait(&driver, &queues(), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_scheduled_job_ends_the_wait_when_due() {
        let driver = MemoryDriver::new();
        driver.enqueue(&[job("q", 1_000)]).await.unwrap();
        let started = Instant::now();
        Waiter::new()
            .wait(&driver, &queues(), Duration::from_secs(5))
            .await
            .unwrap();
        let waited = started.elapsed();
        assert!(waited <= Duration::from_secs(1), "{waited:?}");
        assert!(waited >= Duration::from_millis(900), "{waited:?}");
    }

    #[tokio::test]
    async fn an_enqueue_ends_the_wait_at_once_and_other_queues_do_not() {
        let driver = Arc::new(MemoryDriver::new());
        let waiting = spawn_wait(driver.clone());
        tokio::time::sleep(Duration::from_millis(50)).await;
        driver.enqueue(&[job("other", 0)]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "woken by another queue's job");
        driver.enqueue(&[job("q", 0)]).await.unwrap();
        let waited = waiting.await.unwrap();
        assert!(waited < Duration::from_secs(1), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_due_job_returns_at_once_then_pauses_when_it_keeps_being_due() {
        let driver = MemoryDriver::new();
        driver.enqueue(&[job("q", 0)]).await.unwrap();
        let waiter = Waiter::new();
        let started = Instant::now();
        waiter
            .wait(&driver, &queues(), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(started.elapsed(), Duration::ZERO);
        let started = Instant::now();
        waiter
            .wait(&driver, &queues(), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(started.elapsed(), Duration::from_millis(10));
        waiter
            .wait(&driver, &queues(), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(started.elapsed(), Duration::from_millis(30));
    }

    /// The memory driver seen as a backend without a notifier: it is
    /// looked at by polling, and the looks are counted.
    #[derive(Debug)]
    struct Polled {
        hub: Arc<WakeHub>,
        looks: AtomicUsize,
    }

    impl Hooks for Polled {
        fn after(&self, op: Op, _items: usize, _took: Duration) {
            if op == Op::NextDue {
                self.looks.fetch_add(1, Ordering::Relaxed);
            }
        }
        fn wakeups<'a>(&'a self, _inner: Wakeups<'a>) -> Wakeups<'a> {
            Wakeups {
                hub: &self.hub,
                notifier: None,
                poll: Some(PollInterval {
                    min: Duration::from_millis(100),
                    max: Duration::from_millis(400),
                }),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_notifier_it_polls_with_doubling_pauses_and_sees_other_writers() {
        let memory = Arc::new(MemoryDriver::new());
        let polled = Arc::new(Polled {
            hub: WakeHub::new(),
            looks: AtomicUsize::new(0),
        });
        let driver = Arc::new(Observed::new(memory.clone(), polled.clone()));
        let started = Instant::now();
        Waiter::new()
            .wait(driver.as_ref(), &queues(), Duration::from_millis(1_000))
            .await
            .unwrap();
        assert_eq!(started.elapsed(), Duration::from_millis(1_000));
        // Looks at 0, 100, 300 (+200), 700 (+400), then the deadline.
        assert_eq!(polled.looks.load(Ordering::Relaxed), 4);

        // A job that only polling can see (its enqueue told the memory
        // driver's hub, not this one): found at the next look.
        let polling = spawn_wait(driver.clone());
        tokio::time::sleep(Duration::from_millis(150)).await;
        memory.enqueue(&[job("q", 0)]).await.unwrap();
        assert_eq!(polling.await.unwrap(), Duration::from_millis(300));
    }
}
