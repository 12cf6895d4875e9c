//! Counters a worker keeps about what it did.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a worker did, returned when it stops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerReport {
    /// Jobs claimed.
    pub claimed: u64,
    /// Jobs completed (ack accepted by the driver).
    pub completed: u64,
    /// Attempts that failed and were scheduled again.
    pub retried: u64,
    /// Jobs moved to dead-letter.
    pub dead: u64,
    /// Jobs handed back unfinished at shutdown.
    pub released: u64,
    /// Acks the driver rejected because the lease had been lost (fencing).
    pub stale_acks: u64,
    /// Jobs whose lease this worker found lost while they ran (the lease
    /// expired and they were rescued): their handlers were told to stop and
    /// no result was written for them.
    pub leases_lost: u64,
}

#[derive(Debug, Default)]
pub(crate) struct WorkerCounters {
    claimed: AtomicU64,
    completed: AtomicU64,
    retried: AtomicU64,
    dead: AtomicU64,
    released: AtomicU64,
    stale: AtomicU64,
    leases_lost: AtomicU64,
}

impl WorkerCounters {
    pub(crate) fn record_claimed(&self, n: u64) {
        self.claimed.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn claimed(&self) -> u64 {
        self.claimed.load(Ordering::Relaxed)
    }
    /// `sent` completions, of which the driver `applied` some, or `None`
    /// when the write never succeeded (then nothing is counted: the leases
    /// expire and the rescuer returns the jobs).
    pub(crate) fn record_completed(&self, sent: u64, applied: Option<u64>) {
        self.bump(&self.completed, sent, applied);
    }
    /// Like [`record_completed`](Self::record_completed), for retries.
    pub(crate) fn record_retried(&self, sent: u64, applied: Option<u64>) {
        self.bump(&self.retried, sent, applied);
    }
    /// Like [`record_completed`](Self::record_completed), for dead-letter moves.
    pub(crate) fn record_dead(&self, sent: u64, applied: Option<u64>) {
        self.bump(&self.dead, sent, applied);
    }
    pub(crate) fn record_released(&self, n: u64) {
        self.released.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn record_lease_lost(&self) {
        self.leases_lost.fetch_add(1, Ordering::Relaxed);
    }
    /// Adds the applied acks to `counter` and the rejected ones to the stale count.
    fn bump(&self, counter: &AtomicU64, sent: u64, applied: Option<u64>) {
        if let Some(applied) = applied {
            counter.fetch_add(applied, Ordering::Relaxed);
            self.stale
                .fetch_add(sent.saturating_sub(applied), Ordering::Relaxed);
        }
    }
    pub(crate) fn report(&self) -> WorkerReport {
        WorkerReport {
            claimed: self.claimed.load(Ordering::Relaxed),
            completed: self.completed.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            dead: self.dead.load(Ordering::Relaxed),
            released: self.released.load(Ordering::Relaxed),
            stale_acks: self.stale.load(Ordering::Relaxed),
            leases_lost: self.leases_lost.load(Ordering::Relaxed),
        }
    }
}
