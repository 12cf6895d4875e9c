//! SIGTERM: the worker stops claiming, lets running jobs finish within the
//! grace period, releases what does not finish, and loses nothing; a second
//! signal stops it at once.

mod support;

use std::time::Duration;

use asynctasq::JobState;
use asynctasq_examples::chaos::record;
use support::{Scratch, sigint, sigterm, stats, wait_exit, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_jobs_finish() {
    let scratch = Scratch::new();
    let client = scratch.client().await;
    let queue = "term-finish";
    let jobs = (0..6).map(|n| record(n, scratch.log.clone(), 1500).on_queue(queue));
    client.dispatch_many(jobs).await.expect("dispatch");

    let mut worker = scratch.worker(&["--queues", queue, "--concurrency", "3", "--grace", "10s"]);
    wait_for(Duration::from_secs(30), "3 started jobs", || {
        scratch.started().len() == 3
    });
    sigterm(&worker);
    let status = wait_exit(&mut worker, Duration::from_secs(15));
    assert!(
        status.success(),
        "worker exited with {status}: {}",
        support::stderr_of(&mut worker)
    );

    assert_eq!(
        scratch.started().len(),
        3,
        "a job was claimed after SIGTERM"
    );
    assert_eq!(scratch.done().len(), 3, "in-flight jobs did not finish");
    let s = stats(&client, queue).await;
    assert_eq!((s.ready, s.running, s.dead), (3, 0, 0), "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_releases_jobs_that_outlive_the_grace_period() {
    let scratch = Scratch::new();
    let client = scratch.client().await;
    let queue = "term-release";
    let jobs = (0..4).map(|n| record(n, scratch.log.clone(), 60_000).on_queue(queue));
    let ids = client.dispatch_many(jobs).await.expect("dispatch");

    let mut worker = scratch.worker(&["--queues", queue, "--concurrency", "2", "--grace", "300ms"]);
    wait_for(Duration::from_secs(30), "2 started jobs", || {
        scratch.started().len() == 2
    });
    sigterm(&worker);
    let status = wait_exit(&mut worker, Duration::from_secs(10));
    assert!(status.success(), "worker exited with {status}");

    assert!(scratch.done().is_empty());
    let s = stats(&client, queue).await;
    assert_eq!((s.ready, s.running, s.dead), (4, 0, 0), "{s:?}");
    for id in ids {
        let job = client.driver().job(id).await.unwrap().expect("job kept");
        assert_eq!(job.state, JobState::Ready);
        assert_eq!(job.attempt, 0, "a released attempt must not count");
    }
}

/// Ctrl-C once: the worker says what still runs and how long it waits.
/// Ctrl-C again: it stops at once and hands the jobs back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigint_stops_at_once_and_releases_the_jobs() {
    let scratch = Scratch::new();
    let client = scratch.client().await;
    let queue = "int-twice";
    let jobs = (0..2).map(|n| record(n, scratch.log.clone(), 60_000).on_queue(queue));
    let ids = client.dispatch_many(jobs).await.expect("dispatch");

    let (mut worker, log) =
        scratch.worker_logging(&["--queues", queue, "--concurrency", "2", "--grace", "30s"]);
    wait_for(Duration::from_secs(30), "2 started jobs", || {
        scratch.started().len() == 2
    });
    sigint(&worker);
    let line = log.wait_for_line("shutting down", Duration::from_secs(10));
    assert!(
        line.contains("waiting up to 30s for 2 running job(s)")
            && line.contains("press Ctrl-C again"),
        "{line}"
    );
    assert!(line.contains("running=2"), "{line}");
    for id in &ids {
        assert!(
            line.contains(&format!("record {id}")),
            "{id} not named: {line}"
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        worker.try_wait().unwrap().is_none(),
        "the worker did not wait for its running jobs after the first SIGINT"
    );

    sigint(&worker);
    let second = std::time::Instant::now();
    let status = wait_exit(&mut worker, Duration::from_secs(5));
    let elapsed = second.elapsed();
    eprintln!("first SIGINT logged: {line}\nexited {elapsed:?} after the second SIGINT");
    assert!(
        status.success(),
        "worker exited with {status}: {}",
        log.text()
    );
    assert!(
        elapsed < Duration::from_secs(1),
        "the worker took {elapsed:?} to stop after the second SIGINT"
    );
    assert!(scratch.done().is_empty());
    for id in ids {
        let job = client.driver().job(id).await.unwrap().expect("job kept");
        assert_eq!(
            (job.state, job.attempt),
            (JobState::Ready, 0),
            "a released job is ready, its attempt not counted"
        );
    }
}
