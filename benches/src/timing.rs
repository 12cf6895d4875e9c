//! A pass-through [`Driver`] that times the calls the worker and the
//! dispatcher make: when the first claim started, how many round trips each
//! operation took and how long they lasted. It changes nothing about what
//! the wrapped driver does; its cost is two clock reads and a few atomic adds
//! per call (not per job).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use asynctasq::core::Driver;
use asynctasq::core::observed::{Hooks, Observed, Op};

/// Calls, items and time of one kind of driver operation.
#[derive(Debug, Default)]
pub struct OpStats {
    calls: AtomicU64,
    items: AtomicU64,
    nanos: AtomicU64,
}

impl OpStats {
    fn record(&self, items: usize, took: Duration) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.items.fetch_add(items as u64, Ordering::Relaxed);
        self.nanos.fetch_add(
            u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Round trips made.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Jobs or receipts they carried.
    pub fn items(&self) -> u64 {
        self.items.load(Ordering::Relaxed)
    }

    /// Total time spent in them.
    pub fn total(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Relaxed))
    }

    fn reset(&self) {
        self.calls.store(0, Ordering::Relaxed);
        self.items.store(0, Ordering::Relaxed);
        self.nanos.store(0, Ordering::Relaxed);
    }
}

/// What the [`TimingDriver`] saw since the last [`reset`](Timings::reset).
#[derive(Debug)]
pub struct Timings {
    base: Instant,
    /// Nanoseconds after `base` at which the first claim since the reset
    /// started, plus one (0 = none yet).
    first_claim: AtomicU64,
    /// `enqueue` calls.
    pub enqueue: OpStats,
    /// `claim` calls.
    pub claim: OpStats,
    /// `claim` calls that returned at least one job.
    pub claim_hits: OpStats,
    /// `complete` calls.
    pub complete: OpStats,
    /// `next_due` calls: the looks of a waiting worker at the backend.
    pub next_due: OpStats,
    /// `stats` (and other admin) calls.
    pub stats: OpStats,
}

impl Timings {
    fn new() -> Self {
        Timings {
            base: Instant::now(),
            first_claim: AtomicU64::new(0),
            enqueue: OpStats::default(),
            claim: OpStats::default(),
            claim_hits: OpStats::default(),
            complete: OpStats::default(),
            next_due: OpStats::default(),
            stats: OpStats::default(),
        }
    }

    /// Forgets everything seen so far.
    pub fn reset(&self) {
        self.first_claim.store(0, Ordering::Relaxed);
        for op in [
            &self.enqueue,
            &self.claim,
            &self.claim_hits,
            &self.complete,
            &self.next_due,
            &self.stats,
        ] {
            op.reset();
        }
    }

    /// When the first claim since the last reset started.
    pub fn first_claim(&self) -> Option<Instant> {
        match self.first_claim.load(Ordering::Relaxed) {
            0 => None,
            n => Some(self.base + Duration::from_nanos(n - 1)),
        }
    }
}

/// Wraps a driver and records [`Timings`]: an [`Observed`] driver whose
/// hooks are the timings.
#[derive(Debug)]
pub struct TimingDriver;

impl TimingDriver {
    /// Wraps `inner`; returns the wrapper and a handle on its timings.
    pub fn wrap(inner: Arc<dyn Driver>) -> (Arc<dyn Driver>, Arc<Timings>) {
        let timings = Arc::new(Timings::new());
        (Arc::new(Observed::new(inner, timings.clone())), timings)
    }
}

#[async_trait]
impl Hooks for Timings {
    async fn before(&self, op: Op) {
        if op == Op::Claim {
            let since = u64::try_from(Instant::now().duration_since(self.base).as_nanos())
                .unwrap_or(u64::MAX - 1);
            // Only the first claim since the reset sets it.
            let _ = self.first_claim.compare_exchange(
                0,
                since + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    fn after(&self, op: Op, items: usize, took: Duration) {
        let stats = match op {
            Op::Enqueue => &self.enqueue,
            Op::Claim => {
                if items > 0 {
                    self.claim_hits.record(items, took);
                }
                &self.claim
            }
            Op::Complete => &self.complete,
            Op::NextDue => &self.next_due,
            Op::Admin => &self.stats,
            _ => return,
        };
        stats.record(items, took);
    }
}
