//! The worker runtime over the driver: the whole path a job takes, with
//! hand-registered handlers (no macro), so each driver is exercised end to end.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;

use tokio::sync::mpsc;

use super::stalled::StalledExtend;
use super::{stats_of, unique_queue};
use crate::dispatch::Client;
use crate::driver::Driver;
use crate::envelope::Envelope;
use crate::job::{JobId, JobState, NewJob};
use crate::retry::RetryPolicy;
use crate::task::{HandlerFuture, JobContext, Registry, TaskFailure, TaskRegistration};
use crate::worker::{Signal, Worker, WorkerReport};

static OK: TaskRegistration = TaskRegistration {
    name: "ct.ok",
    location: concat!(file!(), ":", line!()),
    handler: ok,
    model_arguments: Vec::new,
};
static FLAKY: TaskRegistration = TaskRegistration {
    name: "ct.flaky",
    location: concat!(file!(), ":", line!()),
    handler: flaky,
    model_arguments: Vec::new,
};
static BROKEN: TaskRegistration = TaskRegistration {
    name: "ct.broken",
    location: concat!(file!(), ":", line!()),
    handler: broken,
    model_arguments: Vec::new,
};
static PANICS: TaskRegistration = TaskRegistration {
    name: "ct.panics",
    location: concat!(file!(), ":", line!()),
    handler: panics,
    model_arguments: Vec::new,
};
static SLOW: TaskRegistration = TaskRegistration {
    name: "ct.slow",
    location: concat!(file!(), ":", line!()),
    handler: slow,
    model_arguments: Vec::new,
};
static DECLINED: TaskRegistration = TaskRegistration {
    name: "ct.declined",
    location: concat!(file!(), ":", line!()),
    handler: declined,
    model_arguments: Vec::new,
};

static LOSES_LEASE: TaskRegistration = TaskRegistration {
    name: "ct.loses_lease",
    location: concat!(file!(), ":", line!()),
    handler: loses_lease,
    model_arguments: Vec::new,
};

/// A task whose `user` argument is a sea-orm model (as `#[task]` registers it).
static TAKES_MODEL: TaskRegistration = TaskRegistration {
    name: "ct.takes_model",
    location: concat!(file!(), ":", line!()),
    handler: ok,
    model_arguments: user_argument,
};

fn user_argument() -> Vec<&'static str> {
    vec!["user"]
}

fn ok(_: JobContext) -> HandlerFuture {
    Box::pin(async { Ok(()) })
}
fn flaky(ctx: JobContext) -> HandlerFuture {
    Box::pin(async move {
        if ctx.attempt < 3 {
            Err(TaskFailure::retryable(format!(
                "flaky attempt {}",
                ctx.attempt
            )))
        } else {
            Ok(())
        }
    })
}
fn broken(_: JobContext) -> HandlerFuture {
    Box::pin(async { Err(TaskFailure::retryable("smtp server said 554")) })
}
fn panics(_: JobContext) -> HandlerFuture {
    Box::pin(async { panic!("index out of bounds in handler") })
}
fn slow(_: JobContext) -> HandlerFuture {
    Box::pin(async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(())
    })
}
/// What each attempt of a `ct.loses_lease` job did, by job.
static LEASE_RUNS: Mutex<Vec<(JobId, u32, String)>> = Mutex::new(Vec::new());

/// The first attempt hangs until told to stop, then reports success (which
/// must not be written); later attempts complete.
fn loses_lease(ctx: JobContext) -> HandlerFuture {
    Box::pin(async move {
        let what = if ctx.attempt == 1 {
            format!("stopped: {}", ctx.cancelled().await)
        } else {
            format!("completed (cancelled: {})", ctx.is_cancelled())
        };
        LEASE_RUNS
            .lock()
            .expect("runs poisoned")
            .push((ctx.id, ctx.attempt, what));
        Ok(())
    })
}
fn declined(_: JobContext) -> HandlerFuture {
    Box::pin(async { Err(TaskFailure::permanent("card declined")) })
}

fn registry() -> Registry {
    Registry::from_registrations([
        &OK,
        &FLAKY,
        &BROKEN,
        &PANICS,
        &SLOW,
        &DECLINED,
        &LOSES_LEASE,
    ])
    .expect("registry")
}

fn envelope(task: &str, queue: &str, max_attempts: u32) -> Envelope {
    Envelope {
        max_attempts,
        retry: RetryPolicy::fixed(Duration::from_millis(50)).without_jitter(),
        ..Envelope::new(task, queue)
    }
}

async fn drain(driver: &Arc<dyn Driver>, queue: &str) -> WorkerReport {
    let worker = Worker::new(Client::new(driver.clone()))
        .registry(registry())
        .queues([queue])
        .concurrency(8)
        .lease(Duration::from_secs(10))
        .burst(true);
    tokio::time::timeout(
        Duration::from_secs(30),
        worker.run_until(std::future::pending()),
    )
    .await
    .expect("the worker did not drain the queue within 30 s")
    .expect("worker")
}

async fn dead_reason(driver: &Arc<dyn Driver>, id: JobId) -> String {
    let info = driver.job(id).await.unwrap().expect("job still stored");
    assert_eq!(info.state, JobState::Dead, "job {id} is not dead");
    info.last_error()
        .expect("an error is recorded")
        .message
        .clone()
}

/// Jobs run once each and are deleted when they complete.
pub async fn runs_jobs_and_deletes_them(driver: &Arc<dyn Driver>) {
    let q = unique_queue("w-ok");
    let envelopes: Vec<_> = (0..50).map(|_| envelope("ct.ok", &q, 3)).collect();
    Client::new(driver.clone())
        .enqueue(&envelopes)
        .await
        .unwrap();
    let report = drain(driver, &q).await;
    assert_eq!((report.claimed, report.completed), (50, 50), "{report:?}");
    assert_eq!(stats_of(driver, &q).await.outstanding(), 0);
    assert!(driver.job(envelopes[0].id).await.unwrap().is_none());
}

/// A job that fails twice is retried with backoff and completes on attempt 3.
pub async fn retries_with_backoff_then_succeeds(driver: &Arc<dyn Driver>) {
    let q = unique_queue("w-flaky");
    let e = envelope("ct.flaky", &q, 5);
    Client::new(driver.clone())
        .enqueue(std::slice::from_ref(&e))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let report = drain(driver, &q).await;
    assert_eq!(
        (report.retried, report.completed, report.dead),
        (2, 1, 0),
        "{report:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "backoff was not applied"
    );
    assert!(driver.job(e.id).await.unwrap().is_none());
}

/// A job that always fails ends in dead-letter after `max_attempts`, with
/// every attempt's error recorded.
pub async fn dead_letters_after_max_attempts_with_error_text(driver: &Arc<dyn Driver>) {
    let q = unique_queue("w-broken");
    let e = envelope("ct.broken", &q, 3);
    Client::new(driver.clone())
        .enqueue(std::slice::from_ref(&e))
        .await
        .unwrap();
    let report = drain(driver, &q).await;
    assert_eq!((report.retried, report.dead), (2, 1), "{report:?}");
    let info = driver.job(e.id).await.unwrap().expect("job");
    assert_eq!(info.state, JobState::Dead);
    assert_eq!(info.attempt, 3);
    let messages: Vec<_> = info
        .errors
        .iter()
        .map(|e| (e.attempt, e.message.as_str()))
        .collect();
    assert_eq!(
        messages,
        vec![
            (1, "smtp server said 554"),
            (2, "smtp server said 554"),
            (3, "smtp server said 554")
        ]
    );
}

/// Garbage bytes and unknown task names go to dead-letter with a reason; the
/// worker keeps running and completes the good job next to them.
pub async fn bad_input_goes_to_dead_letter(driver: &Arc<dyn Driver>) {
    let q = unique_queue("w-bad");
    let garbage = NewJob {
        id: JobId::new(),
        task: "ct.ok".into(),
        queue: q.clone(),
        priority: 1,
        run_at: Utc::now(),
        max_attempts: 3,
        payload: b"\xc1\xff definitely not msgpack".to_vec(),
    };
    driver
        .enqueue(std::slice::from_ref(&garbage))
        .await
        .unwrap();
    let unknown = envelope("ct.no_such_task", &q, 3);
    let good = envelope("ct.ok", &q, 3);
    Client::new(driver.clone())
        .enqueue(&[unknown.clone(), good.clone()])
        .await
        .unwrap();
    let report = drain(driver, &q).await;
    assert_eq!((report.completed, report.dead), (1, 2), "{report:?}");
    let reason = dead_reason(driver, garbage.id).await;
    assert!(reason.contains("undecodable payload"), "{reason}");
    let reason = dead_reason(driver, unknown.id).await;
    assert!(
        reason.contains("unknown task `ct.no_such_task`"),
        "{reason}"
    );
    assert!(driver.job(good.id).await.unwrap().is_none());
}

/// A panicking handler and a handler that exceeds its timeout fail their
/// attempts with a readable reason; the worker survives both.
pub async fn panics_and_timeouts_are_failed_attempts(driver: &Arc<dyn Driver>) {
    let q = unique_queue("w-panic");
    let panicking = envelope("ct.panics", &q, 2);
    let mut slow = envelope("ct.slow", &q, 1);
    slow.timeout_ms = Some(100);
    let good = envelope("ct.ok", &q, 1);
    Client::new(driver.clone())
        .enqueue(&[panicking.clone(), slow.clone(), good])
        .await
        .unwrap();
    let report = drain(driver, &q).await;
    assert_eq!(
        (report.completed, report.retried, report.dead),
        (1, 1, 2),
        "{report:?}"
    );
    let reason = dead_reason(driver, panicking.id).await;
    assert_eq!(reason, "panicked: index out of bounds in handler");
    let reason = dead_reason(driver, slow.id).await;
    assert_eq!(reason, "timed out after 100ms");
}

/// A permanent failure goes to dead-letter at once, whatever attempts remain.
pub async fn permanent_failure_skips_retries(driver: &Arc<dyn Driver>) {
    let q = unique_queue("w-permanent");
    let e = envelope("ct.declined", &q, 10);
    Client::new(driver.clone())
        .enqueue(std::slice::from_ref(&e))
        .await
        .unwrap();
    let report = drain(driver, &q).await;
    assert_eq!((report.retried, report.dead), (0, 1), "{report:?}");
    let info = driver.job(e.id).await.unwrap().expect("job");
    assert_eq!((info.attempt, info.errors.len()), (1, 1));
    assert_eq!(info.errors[0].message, "card declined");
}

/// A worker whose tasks take sea-orm models refuses to start without a
/// models database (before claiming anything), unless told to.
pub async fn refuses_to_start_without_a_models_database(driver: &Arc<dyn Driver>) {
    let q = unique_queue("w-models");
    let e = envelope("ct.ok", &q, 1);
    Client::new(driver.clone())
        .enqueue(std::slice::from_ref(&e))
        .await
        .unwrap();
    let registry = || Registry::from_registrations([&OK, &TAKES_MODEL]).expect("registry");
    let worker = Worker::new(Client::new(driver.clone()))
        .registry(registry())
        .queues([q.as_str()])
        .burst(true);
    let error = worker
        .run_until(std::future::pending())
        .await
        .expect_err("the worker started without a models database")
        .to_string();
    assert!(
        error.contains("task `ct.takes_model` (argument `user`) takes sea-orm models"),
        "{error}"
    );
    assert!(error.contains("--without-database"), "{error}");
    assert_eq!(
        stats_of(driver, &q).await.ready,
        1,
        "the worker claimed a job"
    );

    let report = Worker::new(Client::new(driver.clone()))
        .registry(registry())
        .queues([q.as_str()])
        .burst(true)
        .without_database(true)
        .run_until(std::future::pending())
        .await
        .expect("without_database(true) starts");
    assert_eq!(report.completed, 1, "{report:?}");
}

/// The first stop request lets running jobs go on (within the grace
/// period); a second one stops at once and releases them, their attempt
/// not counted.
pub async fn a_second_stop_releases_running_jobs_at_once(driver: &Arc<dyn Driver>) {
    let q = unique_queue("w-stop");
    let slow: Vec<_> = (0..2).map(|_| envelope("ct.slow", &q, 3)).collect();
    Client::new(driver.clone()).enqueue(&slow).await.unwrap();
    let (stop, requests) = futures::channel::mpsc::unbounded::<()>();
    let worker = Worker::new(Client::new(driver.clone()))
        .registry(registry())
        .queues([q.as_str()])
        .concurrency(2)
        .lease(Duration::from_secs(60))
        .grace(Duration::from_secs(60));
    let run = tokio::spawn(worker.run_until_signals(requests));
    let started = tokio::time::Instant::now();
    while stats_of(driver, &q).await.running < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the slow jobs did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.unbounded_send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !run.is_finished(),
        "the first stop did not wait for running jobs"
    );
    assert_eq!(stats_of(driver, &q).await.running, 2);

    stop.unbounded_send(()).unwrap();
    let second = tokio::time::Instant::now();
    let report = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("the worker did not stop after the second request")
        .unwrap()
        .expect("worker");
    assert!(
        second.elapsed() < Duration::from_secs(2),
        "{:?}",
        second.elapsed()
    );
    assert_eq!((report.released, report.completed), (2, 0), "{report:?}");
    for e in &slow {
        let info = driver.job(e.id).await.unwrap().expect("job kept");
        assert_eq!(
            (info.state, info.attempt),
            (JobState::Ready, 0),
            "a released job is ready, its attempt not counted"
        );
    }
}

/// Returns expired leases to their queues: the one place this module
/// rescues, so the call is switched in one place.
async fn rescue(driver: &Arc<dyn Driver>) {
    super::rescuer(driver).run_once(None).await.expect("rescue");
}

/// The next signal `wanted` accepts, skipping others; fails after 20 s.
async fn next_signal(
    signals: &mut mpsc::UnboundedReceiver<Signal>,
    what: &str,
    wanted: impl Fn(&Signal) -> bool,
) -> Signal {
    let found = async {
        while let Some(signal) = signals.recv().await {
            if wanted(&signal) {
                return signal;
            }
        }
        panic!("the worker stopped before signalling {what}");
    };
    tokio::time::timeout(Duration::from_secs(20), found)
        .await
        .unwrap_or_else(|_| panic!("no {what} signal within 20 s"))
}

/// Worker A's lease extension stalls (a pause longer than its lease): the
/// lease runs out and the job is rescued; worker B claims it and completes
/// it. When A's extension goes through, A finds the lease lost, its
/// handler is told to stop (and returns success), and A writes nothing:
/// B's run is the only one that completes the job.
pub async fn a_lost_lease_stops_the_job_and_its_result_is_discarded(driver: &Arc<dyn Driver>) {
    let q = unique_queue("w-lost");
    let e = envelope("ct.loses_lease", &q, 3);
    Client::new(driver.clone())
        .enqueue(std::slice::from_ref(&e))
        .await
        .unwrap();

    let (stalled_driver, stalled) = StalledExtend::wrap(driver.clone());
    let (signal_a, mut signals_a) = mpsc::unbounded_channel();
    let (stop_a, stopped_a) = tokio::sync::oneshot::channel::<()>();
    let lease = Duration::from_millis(300);
    // One job at a time: A cannot claim the rescued job itself.
    let worker_a = Worker::new(Client::new(stalled_driver))
        .registry(registry())
        .queues([q.as_str()])
        .concurrency(1)
        .lease(lease)
        .test_signals(signal_a);
    let run_a = tokio::spawn(worker_a.run_until(async {
        let _ = stopped_a.await;
    }));
    next_signal(&mut signals_a, "A claimed the job", |s| {
        *s == Signal::Claimed { jobs: vec![e.id] }
    })
    .await;

    let started = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(lease / 2).await;
        rescue(driver).await;
        let info = driver.job(e.id).await.unwrap().expect("job");
        // Rescued: ready, or scheduled for the job's short backoff.
        if matches!(info.state, JobState::Ready | JobState::Scheduled) {
            assert_eq!(info.attempt, 1, "A's attempt counts");
            break;
        }
        assert_eq!(info.state, JobState::Running);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "A's lease was not rescued within 10 s"
        );
    }

    let (signal_b, mut signals_b) = mpsc::unbounded_channel();
    let worker_b = Worker::new(Client::new(driver.clone()))
        .registry(registry())
        .queues([q.as_str()])
        .burst(true)
        .test_signals(signal_b);
    let report_b = tokio::time::timeout(
        Duration::from_secs(30),
        worker_b.run_until(std::future::pending()),
    )
    .await
    .expect("worker B did not drain the queue within 30 s")
    .expect("worker B");
    assert_eq!(
        (report_b.claimed, report_b.completed),
        (1, 1),
        "{report_b:?}"
    );
    next_signal(&mut signals_b, "B claimed", |s| {
        *s == Signal::Claimed { jobs: vec![e.id] }
    })
    .await;
    next_signal(&mut signals_b, "B flushed", |s| {
        *s == Signal::Flushed { jobs: vec![e.id] }
    })
    .await;

    stalled.resume();
    next_signal(&mut signals_a, "A lost the lease", |s| {
        *s == Signal::LeaseLost {
            job: e.id,
            task: "ct.loses_lease".into(),
        }
    })
    .await;
    next_signal(&mut signals_a, "A discarded the result", |s| {
        *s == Signal::Discarded { job: e.id }
    })
    .await;
    stop_a.send(()).unwrap();
    let report_a = tokio::time::timeout(Duration::from_secs(10), run_a)
        .await
        .expect("worker A did not stop")
        .unwrap()
        .expect("worker A");
    assert_eq!(
        report_a,
        WorkerReport {
            claimed: 1,
            leases_lost: 1,
            ..WorkerReport::default()
        },
        "A wrote a result"
    );

    let runs: Vec<(u32, String)> = LEASE_RUNS
        .lock()
        .expect("runs poisoned")
        .iter()
        .filter(|(id, _, _)| *id == e.id)
        .map(|(_, attempt, what)| (*attempt, what.clone()))
        .collect();
    // B ran to completion first; only then was A told.
    assert_eq!(
        runs,
        vec![
            (2, "completed (cancelled: false)".to_string()),
            (
                1,
                "stopped: the job's lease was lost (it was rescued)".to_string()
            ),
        ]
    );
    let state = driver.job(e.id).await.unwrap().map(|info| info.state);
    assert!(
        matches!(state, None | Some(JobState::Completed)),
        "B's completion was undone: {state:?}"
    );
}
