//! The driver contract: what a storage backend must do, and nothing more.
//!
//! A driver is a thin adapter over a database. It knows jobs as rows with a
//! few indexed columns and an opaque payload; it knows nothing of tasks,
//! arguments or sea-orm models. Every operation that a worker runs on many
//! jobs at once takes a batch, so one round trip serves many jobs. Acks take
//! a [`Receipt`]; a driver applies an ack only while the job is still running
//! under that receipt's token (fencing), and reports how many it applied.
//!
//! Every driver passes the same conformance suite
//! (`asynctasq_core::conformance`, feature `conformance`).

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sea_orm::DatabaseTransaction;

use crate::error::{Error, Result};
use crate::job::{
    Burial, Capabilities, ClaimParams, ClaimedJob, Completion, DeadListParams, DeadSelector,
    ExpiredLease, ExpiredParams, JobId, JobInfo, NewJob, PruneParams, QueueStats, Receipt, Retry,
};
use crate::wake::Wakeups;

/// A storage backend for jobs.
#[async_trait]
pub trait Driver: fmt::Debug + Send + Sync + 'static {
    /// A short name for logs and errors (`"sqlite"`, `"postgres"`, ...).
    fn name(&self) -> &'static str;

    /// What this driver can do beyond the contract every driver meets.
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }

    /// Creates or upgrades the driver's schema. Idempotent.
    async fn migrate(&self) -> Result<()>;

    /// Inserts jobs, atomically as one batch where the backend allows.
    /// Jobs whose `run_at` is in the future are scheduled, the rest ready.
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<()>;

    /// Inserts jobs inside the caller's sea-orm transaction, so that they
    /// exist if and only if it commits. The transaction must be on the
    /// database that holds the jobs. Drivers that are not SQL databases
    /// return [`Error::Unsupported`].
    async fn enqueue_in(&self, txn: &DatabaseTransaction, jobs: &[NewJob]) -> Result<()> {
        let _ = (txn, jobs);
        Err(Error::Unsupported {
            driver: self.name(),
            operation: "enqueueing inside a caller's transaction (dispatch_in)",
        })
    }

    /// Leases up to `params.max` ready jobs from the given, unpaused queues,
    /// highest priority first, then earliest `run_at`, then oldest id.
    /// Each claim counts one attempt. Returns them in that order.
    async fn claim(&self, params: ClaimParams<'_>) -> Result<Vec<ClaimedJob>>;

    /// Finishes jobs that succeeded: deletes them, or with
    /// [`Completion::Keep`] keeps them as completed (drivers with
    /// [`Capabilities::retention`]; the others may treat it as `Delete`).
    /// Returns how many receipts were still valid.
    async fn complete(&self, receipts: &[Receipt], completion: Completion) -> Result<u64>;

    /// Schedules another attempt of each job at its `run_at`, recording its
    /// error. Returns how many receipts were still valid.
    async fn retry(&self, retries: &[Retry]) -> Result<u64>;

    /// Moves jobs to dead-letter, recording their errors. Returns how many
    /// receipts were still valid.
    async fn bury(&self, burials: &[Burial]) -> Result<u64>;

    /// Returns running jobs to ready without counting the attempt (graceful
    /// shutdown). Returns how many receipts were still valid.
    async fn release(&self, receipts: &[Receipt]) -> Result<u64>;

    /// Deletes up to `params.limit` kept completed jobs that completed
    /// before `params.before`, oldest first, and returns how many. Only
    /// drivers with [`Capabilities::retention`] keep any; the default
    /// deletes nothing. The core [`Pruner`](crate::worker::Pruner) decides
    /// when and how much.
    async fn prune_completed(&self, params: PruneParams) -> Result<u64> {
        let _ = params;
        Ok(0)
    }

    /// Extends the leases of running jobs to `now + lease`, in one round
    /// trip per batch where the backend allows; the receipts name distinct
    /// jobs (one lease per job and worker). Returns the receipts whose
    /// lease was **not** extended, in the order given: their lease is lost
    /// (the job finished, or its lease expired and it was rescued, and it
    /// may be running under another receipt). Empty when every lease was
    /// extended. Drivers whose backend reports the rows it extended can
    /// build the answer with [`not_extended`].
    async fn extend(&self, receipts: &[Receipt], lease: Duration) -> Result<Vec<Receipt>>;

    /// Reports up to `params.limit` running jobs whose lease expired before
    /// `params.now` (the backend's clock when `None`), earliest expiry first.
    /// Only reads: the core [`Rescuer`](crate::worker::Rescuer) decides what
    /// happens to them and applies it through [`retry`](Driver::retry) and
    /// [`bury`](Driver::bury).
    async fn leases_expired(&self, params: ExpiredParams) -> Result<Vec<ExpiredLease>>;

    /// How long until the earliest ready or scheduled job of the unpaused
    /// `queues` is due, by the backend's clock: [`Duration::ZERO`] when one
    /// is due now, `None` when they hold none. The core waiter clamps its
    /// sleep to it.
    async fn next_due(&self, queues: &[String]) -> Result<Option<Duration>>;

    /// Where waiting workers hear of new work: this process's hub, the
    /// backend's notifier if it has one, and how often to poll otherwise.
    fn wakeups(&self) -> Wakeups<'_>;

    /// Waits until one of `queues` may have claimable work (a dispatch, a
    /// scheduled job coming due, a release), or `timeout` passes. May return
    /// early; never busy-loops. Drivers do not implement it: the core
    /// [`Waiter`](crate::worker::Waiter) does, from
    /// [`next_due`](Driver::next_due) and [`wakeups`](Driver::wakeups).
    async fn wait(&self, queues: &[String], timeout: Duration) -> Result<()> {
        crate::worker::Waiter::new()
            .wait(self, queues, timeout)
            .await
    }

    /// Counts jobs by state, for the given queues or for every known queue.
    async fn stats(&self, queues: Option<&[String]>) -> Result<Vec<QueueStats>>;

    /// Looks a job up by the id `dispatch()` returned. Completed jobs are gone.
    async fn job(&self, id: JobId) -> Result<Option<JobInfo>>;

    /// Lists dead jobs, newest failure first.
    async fn dead_list(&self, params: DeadListParams<'_>) -> Result<Vec<JobInfo>>;

    /// Moves dead jobs back to ready with a fresh attempt count. Returns how many.
    async fn dead_requeue(&self, selector: DeadSelector<'_>) -> Result<u64>;

    /// Deletes dead jobs. Returns how many.
    async fn dead_purge(&self, selector: DeadSelector<'_>) -> Result<u64>;

    /// Deletes a queue's ready and scheduled jobs (running ones finish). Returns how many.
    async fn queue_purge(&self, queue: &str) -> Result<u64>;

    /// Stops claims from a queue until [`queue_resume`](Driver::queue_resume).
    async fn queue_pause(&self, queue: &str) -> Result<()>;

    /// Lets claims from a paused queue continue.
    async fn queue_resume(&self, queue: &str) -> Result<()>;
}

/// The receipts of `asked` whose job is not among `extended`, in the order
/// given: what [`Driver::extend`] returns, for a backend that reports the
/// jobs it extended (`RETURNING id`).
pub fn not_extended(asked: &[Receipt], extended: &[JobId]) -> Vec<Receipt> {
    if extended.len() >= asked.len() {
        // Every receipt was extended (ids are unique within a batch).
        return Vec::new();
    }
    let extended: HashSet<JobId> = extended.iter().copied().collect();
    asked
        .iter()
        .filter(|r| !extended.contains(&r.id))
        .copied()
        .collect()
}

/// A future returned by a [`DriverFactory`].
pub type ConnectFuture = Pin<Box<dyn Future<Output = Result<Arc<dyn Driver>>> + Send>>;

/// Registers a driver for URL schemes, so that [`connect`] can build it.
///
/// Driver crates submit one per driver with `inventory::submit!`; the
/// built-in drivers take their schemes from [`crate::url::BUILTIN`].
#[derive(Debug)]
pub struct DriverFactory {
    /// URL schemes handled, lowercase, e.g. `&["sqlite"]`.
    pub schemes: &'static [&'static str],
    /// Builds the driver from a URL (its scheme already in lowercase).
    pub connect: fn(&str) -> ConnectFuture,
}

inventory::collect!(DriverFactory);

/// Builds the driver for `url`, chosen by its scheme (`sqlite://jobs.db`,
/// `memory://`, `postgres://…`), which is read case-insensitively: the
/// driver receives `url` with its scheme in lowercase.
///
/// Fails with [`Error::MissingScheme`] when `url` has no scheme,
/// [`Error::DriverNotCompiled`] when it names a built-in driver whose cargo
/// feature is off, and [`Error::UnknownScheme`] otherwise.
pub async fn connect(url: &str) -> Result<Arc<dyn Driver>> {
    let factory = factory_for(url, inventory::iter::<DriverFactory>.into_iter())?;
    (factory.connect)(&crate::url::normalize_scheme(url)).await
}

/// The factory among `registered` that handles `url`'s scheme, or the
/// error that explains why there is none.
fn factory_for<'a>(
    url: &str,
    registered: impl Iterator<Item = &'a DriverFactory> + Clone,
) -> Result<&'a DriverFactory> {
    let Some(scheme) = crate::url::scheme(url) else {
        return Err(Error::MissingScheme {
            url: crate::url::redact(url),
            suggestion: crate::url::suggest(url).map(|s| crate::url::redact(&s)),
        });
    };
    let scheme = scheme.to_ascii_lowercase();
    if let Some(f) = registered
        .clone()
        .find(|f| f.schemes.contains(&scheme.as_str()))
    {
        return Ok(f);
    }
    let mut compiled: Vec<&str> = registered.flat_map(|f| f.schemes.iter().copied()).collect();
    compiled.sort_unstable();
    compiled.dedup();
    if let Some(builtin) = crate::url::builtin(&scheme) {
        return Err(Error::DriverNotCompiled {
            scheme,
            feature: builtin.feature,
            compiled: if compiled.is_empty() {
                "none".into()
            } else {
                compiled.join(", ")
            },
        });
    }
    let mut known = compiled;
    known.extend(
        crate::url::BUILTIN
            .iter()
            .flat_map(|d| d.schemes.iter().copied()),
    );
    known.sort_unstable();
    known.dedup();
    Err(Error::UnknownScheme {
        scheme,
        known: known.join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never(_: &str) -> ConnectFuture {
        Box::pin(async { unreachable!("not connected in these tests") })
    }

    const SQLITE_ONLY: &[DriverFactory] = &[DriverFactory {
        schemes: crate::url::SQLITE.schemes,
        connect: never,
    }];

    fn error(url: &str) -> String {
        factory_for(url, SQLITE_ONLY.iter())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn not_extended_keeps_the_missing_receipts_in_order() {
        let receipts: Vec<Receipt> = (0..4)
            .map(|token| Receipt {
                id: JobId::new(),
                token,
            })
            .collect();
        let ids: Vec<JobId> = receipts.iter().map(|r| r.id).collect();
        assert!(not_extended(&receipts, &ids).is_empty());
        assert_eq!(
            not_extended(&receipts, &[ids[2], ids[0]]),
            vec![receipts[1], receipts[3]]
        );
        assert_eq!(not_extended(&receipts, &[]), receipts);
    }

    #[test]
    fn schemes_are_case_insensitive() {
        for url in ["sqlite://shop.db", "Sqlite://shop.db", "SQLITE::memory:"] {
            assert!(factory_for(url, SQLITE_ONLY.iter()).is_ok(), "{url}");
        }
    }

    #[test]
    fn a_string_without_a_scheme_says_so() {
        assert_eq!(
            error("shop.db"),
            "`shop.db` is not a backend url: it has no scheme (did you mean `sqlite://shop.db`?); \
             backend urls look like sqlite://jobs.db, postgres://user:password@localhost/app or redis://127.0.0.1:6379"
        );
        let typo = error("redis//127.0.0.1:6379");
        assert!(
            typo.starts_with(
                "`redis//127.0.0.1:6379` is not a backend url: it has no scheme (did you mean `redis://127.0.0.1:6379`?)"
            ),
            "{typo}"
        );
        assert!(!typo.contains("cargo feature"), "{typo}");
        let secret = error("user:hunter2@db/app");
        assert!(!secret.contains("hunter2"), "{secret}");
    }

    #[test]
    fn a_known_driver_that_is_not_compiled_in_names_its_feature() {
        assert_eq!(
            error("mysql://root@127.0.0.1/test"),
            "no driver for url scheme `mysql` in this build (compiled in: sqlite); \
             enable the `mysql` cargo feature of `asynctasq`"
        );
        assert!(error("MariaDB://h/x").contains("enable the `mysql` cargo feature"));
        assert!(error("rediss+cluster://a:1,b:2").contains("enable the `redis` cargo feature"));
        assert!(error("postgresql://h/x").contains("enable the `postgres` cargo feature"));
        assert!(
            factory_for("memory://", std::iter::empty())
                .unwrap_err()
                .to_string()
                .contains("(compiled in: none)")
        );
    }

    #[test]
    fn an_unknown_scheme_lists_the_known_ones() {
        let err = error("mongodb://u:pw@h/db");
        assert_eq!(
            err,
            "unknown url scheme `mongodb` (known: mariadb, memory, mysql, postgres, postgresql, \
             redis, redis+cluster, rediss, rediss+cluster, sqlite)"
        );
        assert!(!err.contains("cargo feature"));
    }
}
