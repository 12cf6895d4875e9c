//! The driver conformance suite: one set of tests that every driver passes.
//!
//! A driver crate runs it with one line in a test file, given an async
//! factory that returns a migrated driver:
//!
//! ```text
//! // tests/my_driver_conformance.rs
//! async fn driver() -> std::sync::Arc<dyn asynctasq_core::Driver> { /* connect + migrate */ }
//! asynctasq_core::conformance_tests!(driver);
//! ```
//!
//! (`asynctasq-drivers/tests/*_conformance.rs` are complete examples.)
//!
//! Every case uses its own, randomly named queues and checks jobs rather
//! than global counts, so cases run in parallel against one shared database. Areas: [`claims`] (ordering, delays, batches,
//! pause/resume, concurrency), [`acks`] (complete, retry, bury, release,
//! fencing), [`errors`] (recorded attempt errors read back exactly), [`leases`] (extend,
//! expiry, the core rescuer over the driver's expired-lease report, with time moved forward
//! instead of slept), [`admin`] (stats, lookup,
//! dead-letter, purge), [`wakeups`] and [`worker`] (the full worker runtime
//! over the driver: retries, dead-letter, bad input, panics, timeouts, lost
//! leases).

pub mod acks;
pub mod admin;
pub mod claims;
pub mod errors;
pub mod leases;
mod stalled;
pub mod wakeups;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::driver::Driver;
use crate::envelope::{ENVELOPE_VERSION, Envelope};
use crate::job::{ClaimParams, ClaimedJob, JobId, NewJob, Timestamp, to_millis};
use crate::retry::RetryPolicy;
use crate::worker::{Rescuer, RescuerConfig};

/// A queue name unique to one test case.
pub fn unique_queue(label: &str) -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!("ct-{label}-{}", &id[20..])
}

/// A job for `queue` with an opaque payload, due now.
pub fn job(queue: &str) -> NewJob {
    NewJob {
        id: JobId::new(),
        task: "conformance".into(),
        queue: queue.into(),
        priority: 0,
        run_at: Utc::now(),
        max_attempts: 3,
        payload: b"payload".to_vec(),
    }
}

/// A job for `queue` whose payload is a real envelope with this retry
/// policy, due now: the rescuer backs it off with that policy.
pub fn job_with_retry(queue: &str, retry: RetryPolicy) -> NewJob {
    let now = Utc::now();
    Envelope {
        v: ENVELOPE_VERSION,
        id: JobId::new(),
        task: "conformance".into(),
        queue: queue.into(),
        args: rmpv::Value::Map(Vec::new()),
        max_attempts: 3,
        retry,
        timeout_ms: None,
        priority: 0,
        run_at: to_millis(now),
        created_at: to_millis(now),
        headers: Default::default(),
    }
    .to_new_job()
    .expect("a conformance envelope encodes")
}

/// The core rescuer over `driver`, with its default batches.
pub fn rescuer(driver: &Arc<dyn Driver>) -> Rescuer {
    Rescuer::new(driver.clone(), RescuerConfig::default()).expect("default rescuer config")
}

/// `t` plus `ms` milliseconds (negative for the past).
pub fn plus_ms(t: Timestamp, ms: i64) -> Timestamp {
    t + chrono::Duration::milliseconds(ms)
}

/// Claims up to `max` jobs from `queues` with a `lease`.
pub async fn claim(
    driver: &Arc<dyn Driver>,
    queues: &[String],
    max: usize,
    lease: Duration,
) -> Vec<ClaimedJob> {
    driver
        .claim(ClaimParams {
            worker: "conformance",
            queues,
            max,
            lease,
        })
        .await
        .expect("claim")
}

/// Claims from one queue with a 30 s lease.
pub async fn claim_one_queue(driver: &Arc<dyn Driver>, queue: &str, max: usize) -> Vec<ClaimedJob> {
    claim(driver, &[queue.to_string()], max, Duration::from_secs(30)).await
}

/// A page of `queue`'s dead jobs, newest failure first.
pub async fn dead_page(
    driver: &Arc<dyn Driver>,
    queue: &str,
    limit: usize,
    offset: usize,
) -> Vec<crate::job::JobInfo> {
    driver
        .dead_list(crate::job::DeadListParams {
            queue: Some(queue),
            limit,
            offset,
        })
        .await
        .expect("dead_list")
}

/// The stats row of `queue` (zeros if the driver reports none).
pub async fn stats_of(driver: &Arc<dyn Driver>, queue: &str) -> crate::job::QueueStats {
    driver
        .stats(Some(&[queue.to_string()]))
        .await
        .expect("stats")
        .into_iter()
        .find(|s| s.queue == queue)
        .unwrap_or_else(|| crate::job::QueueStats {
            queue: queue.to_string(),
            ..Default::default()
        })
}

/// Generates one `#[tokio::test]` per conformance case for a driver factory.
///
/// `$factory` is a path to an `async fn() -> Arc<dyn Driver>` returning a
/// migrated driver. The calling crate needs `tokio` with the `macros` and
/// `rt-multi-thread` features.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:path) => {
        $crate::conformance_tests!(@cases $factory;
            claims::orders_by_priority_then_run_at,
            claims::skips_scheduled_until_due,
            claims::claims_in_batches_up_to_max,
            claims::claims_only_requested_queues,
            claims::pause_and_resume,
            claims::concurrent_claims_never_share_a_job,
            claims::payload_bytes_are_preserved,
            acks::complete_deletes_and_fences,
            acks::retry_reschedules_with_error,
            acks::bury_moves_to_dead_with_error,
            acks::release_returns_without_counting,
            acks::stale_ack_after_rescue_is_rejected,
            errors::retry_and_bury_errors_read_back_exactly,
            leases::extend_keeps_a_job_from_rescue,
            leases::extend_reports_the_lost_receipts,
            leases::expired_lease_is_rescued,
            leases::rescue_records_one_error_text_and_time,
            leases::rescued_retry_backs_off_with_the_jobs_policy,
            leases::expired_read_is_bounded_oldest_first_and_moves_nothing,
            leases::racing_rescuers_apply_each_job_once,
            admin::stats_count_every_state,
            admin::job_lookup_by_id,
            admin::dead_list_requeue_and_purge,
            admin::queue_purge_keeps_running_jobs,
            wakeups::wait_wakes_on_enqueue,
            wakeups::wait_wakes_when_a_scheduled_job_is_due,
            wakeups::wait_times_out_when_idle,
            worker::runs_jobs_and_deletes_them,
            worker::retries_with_backoff_then_succeeds,
            worker::dead_letters_after_max_attempts_with_error_text,
            worker::bad_input_goes_to_dead_letter,
            worker::panics_and_timeouts_are_failed_attempts,
            worker::permanent_failure_skips_retries,
            worker::refuses_to_start_without_a_models_database,
            worker::a_second_stop_releases_running_jobs_at_once,
            worker::a_lost_lease_stops_the_job_and_its_result_is_discarded,
            wakeups::capabilities_match_the_wakeups,
        );
        $crate::conformance_tests!(@needs $factory;
            retention => acks::retained_completed_jobs_are_kept_then_pruned,
            retention => acks::prune_is_bounded,
        );
    };
    (@needs $factory:path; $($capability:ident => $area:ident :: $case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let driver: ::std::sync::Arc<dyn $crate::Driver> = $factory().await;
                if !driver.capabilities().$capability {
                    eprintln!(
                        "skipped: the {} driver does not declare `{}` (Driver::capabilities)",
                        driver.name(),
                        stringify!($capability)
                    );
                    return;
                }
                $crate::conformance::$area::$case(&driver).await;
            }
        )+
    };
    (@cases $factory:path; $($area:ident :: $case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let driver: ::std::sync::Arc<dyn $crate::Driver> = $factory().await;
                $crate::conformance::$area::$case(&driver).await;
            }
        )+
    };
}
