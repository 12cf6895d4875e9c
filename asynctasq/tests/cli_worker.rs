//! The `worker` command in a binary that has tasks, in-process through
//! `cli::run_from`, against the memory driver installed as the global client.

mod cli_support;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use asynctasq::__private::{HandlerFuture, JobContext, TaskFailure, TaskRegistration, inventory};
use asynctasq::Client;
use asynctasq::drivers::MemoryDriver;
use cli_support::{cell, enqueue, in_process, stats_table};

// Registered by hand, as `#[task]` does, so that this test binary has tasks.
fn succeeds(_: JobContext) -> HandlerFuture {
    Box::pin(async { Ok(()) })
}

fn fails(_: JobContext) -> HandlerFuture {
    Box::pin(async { Err(TaskFailure::permanent("card declined")) })
}

inventory::submit! {
    TaskRegistration { name: "cli_test::succeeds", location: file!(), handler: succeeds }
}
inventory::submit! {
    TaskRegistration { name: "cli_test::fails", location: file!(), handler: fails }
}

fn client() -> Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let client = Client::new(Arc::new(MemoryDriver::new()));
            asynctasq::set_global(client.clone()).unwrap();
            client
        })
        .clone()
}

#[tokio::test]
async fn a_burst_worker_runs_its_queues_dry_and_reports() {
    let c = client();
    enqueue(&c, "cli_test::succeeds", "w-burst", Duration::ZERO).await;
    enqueue(&c, "cli_test::succeeds", "w-burst", Duration::ZERO).await;
    let failed = enqueue(&c, "cli_test::fails", "w-burst", Duration::ZERO).await;
    enqueue(&c, "cli_test::succeeds", "w-elsewhere", Duration::ZERO).await;

    let out = in_process(&[
        "worker",
        "--queues",
        "w-burst",
        "--concurrency",
        "4",
        "--burst",
    ])
    .await
    .ok();
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("worker ")
            && lines[0]
                .ends_with(" connected to the memory backend configured in code (asynctasq::init)"),
        "{out}"
    );
    assert_eq!(
        &lines[1..],
        [
            "  queues: w-burst",
            "  concurrency: 4",
            "  tasks: cli_test::fails, cli_test::succeeds",
            "worker stopped: claimed 3, completed 2, retried 0, dead 1",
        ],
        "{out}"
    );

    let job = in_process(&["job", &failed.to_string()]).await.ok();
    assert!(job.contains("state:     dead\n"), "{job}");
    assert!(job.contains("    card declined\n"), "{job}");
    let stats = stats_table(&in_process(&["stats", "-q", "w-elsewhere"]).await.ok());
    assert_eq!(cell(&stats, "w-elsewhere", "READY"), "1");
}

#[tokio::test]
async fn max_jobs_stops_the_worker() {
    let c = client();
    for _ in 0..3 {
        enqueue(&c, "cli_test::succeeds", "w-max", Duration::ZERO).await;
    }
    let out = in_process(&[
        "worker",
        "-q",
        "w-max",
        "--concurrency",
        "1",
        "--max-jobs",
        "2",
    ])
    .await
    .ok();
    assert!(
        out.ends_with("worker stopped: claimed 2, completed 2, retried 0, dead 0\n"),
        "{out}"
    );
    let stats = stats_table(&in_process(&["stats", "-q", "w-max"]).await.ok());
    assert_eq!(cell(&stats, "w-max", "READY"), "1");
}
