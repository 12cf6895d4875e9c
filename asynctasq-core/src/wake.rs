//! Wake-ups: how an idle worker learns that work may have arrived.
//!
//! Every driver has a [`WakeHub`]: a fan-out, within this process, of
//! [`Wake`]s to the workers waiting on the driver's database. The driver
//! publishes into it after its own writes that make work claimable (a
//! dispatch, a retry, a release, a requeue), so a worker in the same process
//! starts at once. Changes made by *other* processes reach the hub through
//! the driver's optional [`Notifier`] (Postgres `LISTEN`, Redis pub/sub,
//! SQLite's `data_version`); without one, the core waiter polls.
//!
//! The core waiter ([`crate::worker::Waiter`]) owns everything else: the
//! deadline, clamping to the next due job, poll backoff.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::job::{NewJob, Timestamp};

/// What a waiting worker is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wake {
    /// Jobs of `queue` (of every queue when `None`) are due at `at`.
    Due {
        /// The queue, or `None` for all.
        queue: Option<Arc<str>>,
        /// When the earliest of the jobs is due.
        at: Timestamp,
    },
    /// Something changed, nobody said what: look at the database again.
    Changed,
    /// Wake-ups may have been missed (a notifier reconnected): claim again.
    Resync,
}

impl Wake {
    /// Whether a waiter on `queues` should care.
    pub fn concerns(&self, queues: &[String]) -> bool {
        match self {
            Wake::Due { queue: Some(q), .. } => queues.iter().any(|w| **w == **q),
            _ => true,
        }
    }
}

/// Capacity of a hub's channel: a waiter that falls this far behind is
/// told to look again (a lagging receiver counts as [`Wake::Resync`]).
const CAPACITY: usize = 1024;

/// The in-process fan-out of [`Wake`]s for one database.
///
/// Drivers on the same database in one process (a web handler's and a
/// worker's, built separately) share one hub through
/// [`WakeHub::shared`], so a dispatch wakes the worker at once.
///
/// ```
/// use asynctasq_core::wake::{Wake, WakeHub};
///
/// let hub = WakeHub::shared("example://db");
/// let mut rx = WakeHub::shared("example://db").subscribe();
/// hub.publish(Wake::Changed);
/// assert_eq!(rx.try_recv().unwrap(), Wake::Changed);
/// ```
pub struct WakeHub {
    tx: broadcast::Sender<Wake>,
}

impl fmt::Debug for WakeHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WakeHub")
            .field("waiters", &self.tx.receiver_count())
            .finish()
    }
}

static HUBS: LazyLock<Mutex<HashMap<String, Weak<WakeHub>>>> = LazyLock::new(Default::default);

impl WakeHub {
    /// A hub of its own, shared with nobody (an in-memory database).
    pub fn new() -> Arc<Self> {
        let (tx, _) = broadcast::channel(CAPACITY);
        Arc::new(Self { tx })
    }

    /// The hub of the database `identity` (a canonical path, `host:port/db`
    /// …, never with credentials), shared by every driver of this process
    /// on it.
    pub fn shared(identity: &str) -> Arc<Self> {
        let mut hubs = HUBS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hub) = hubs.get(identity).and_then(Weak::upgrade) {
            return hub;
        }
        hubs.retain(|_, hub| hub.strong_count() > 0);
        let hub = Self::new();
        hubs.insert(identity.to_owned(), Arc::downgrade(&hub));
        hub
    }

    /// A receiver of the wake-ups published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Wake> {
        self.tx.subscribe()
    }

    /// How many waiters are subscribed (a notifier may stop listening at 0).
    pub fn waiters(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Tells this process's waiters on the database.
    pub fn publish(&self, wake: Wake) {
        // No receivers is fine: nobody is waiting.
        let _ = self.tx.send(wake);
    }

    /// Publishes, per queue, when the earliest of `jobs` is due.
    pub fn publish_enqueued(&self, jobs: &[NewJob]) {
        let mut earliest: Vec<(&str, Timestamp)> = Vec::new();
        for job in jobs {
            match earliest.iter_mut().find(|(q, _)| *q == job.queue) {
                Some((_, at)) => *at = (*at).min(job.run_at),
                None => earliest.push((&job.queue, job.run_at)),
            }
        }
        for (queue, at) in earliest {
            self.publish(Wake::Due {
                queue: Some(Arc::from(queue)),
                at,
            });
        }
    }

    /// Wakes the waiters of every queue: jobs may be claimable now (a
    /// retry, a release, a rescue, a requeue, a resumed queue).
    pub fn publish_all_due(&self) {
        self.publish(Wake::Due {
            queue: None,
            at: chrono::Utc::now(),
        });
    }
}

/// Carries other processes' changes into a driver's [`WakeHub`].
#[async_trait]
pub trait Notifier: fmt::Debug + Send + Sync {
    /// Makes sure that changes to `queues` made anywhere reach the hub
    /// (`LISTEN`, `SUBSCRIBE`, a `data_version` watch), starting to listen
    /// if needed; cheap when already listening. Returns whether it is
    /// listening now: when not (its connection is down), the waiter polls.
    async fn listen(&self, queues: &[String]) -> bool;
}

/// How often a waiter looks at the database when no notifier tells it:
/// first after `min`, then twice as long each time up to `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollInterval {
    /// The first pause.
    pub min: Duration,
    /// The longest pause.
    pub max: Duration,
}

impl PollInterval {
    /// The same pause every time.
    pub fn fixed(every: Duration) -> Self {
        Self {
            min: every,
            max: every,
        }
    }
}

/// What a driver gives the core waiter: see [`crate::Driver::wakeups`].
#[derive(Clone, Copy, Debug)]
pub struct Wakeups<'a> {
    /// This process's wake-ups for the driver's database.
    pub hub: &'a WakeHub,
    /// Brings other processes' changes into `hub`; `None` when the backend
    /// has no way to tell (MySQL), so they are seen by polling.
    pub notifier: Option<&'a dyn Notifier>,
    /// How often to look when no notifier is listening; `None` when every
    /// change passes through `hub` (a database only this process can see).
    pub poll: Option<PollInterval>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn one_hub_per_database() {
        let a = WakeHub::shared("wake-test://db1");
        let b = WakeHub::shared("wake-test://db1");
        let c = WakeHub::shared("wake-test://db2");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        let mut rx = b.subscribe();
        assert_eq!(a.waiters(), 1);
        a.publish(Wake::Resync);
        assert_eq!(rx.try_recv().unwrap(), Wake::Resync);
    }

    #[test]
    fn enqueued_jobs_wake_their_queues_at_the_earliest_due_time() {
        let hub = WakeHub::new();
        let mut rx = hub.subscribe();
        let now = Utc::now();
        let job = |queue: &str, secs: i64| NewJob {
            id: crate::JobId::new(),
            task: "t".into(),
            queue: queue.into(),
            priority: 0,
            run_at: now + chrono::Duration::seconds(secs),
            max_attempts: 1,
            payload: Vec::new(),
        };
        hub.publish_enqueued(&[job("a", 5), job("b", 1), job("a", 2)]);
        let first = rx.try_recv().unwrap();
        assert_eq!(
            first,
            Wake::Due {
                queue: Some("a".into()),
                at: now + chrono::Duration::seconds(2)
            }
        );
        assert!(first.concerns(&["a".into()]));
        assert!(!first.concerns(&["b".into()]));
        assert!(matches!(rx.try_recv().unwrap(), Wake::Due { queue: Some(q), .. } if &*q == "b"));
        assert!(rx.try_recv().is_err());
    }
}
