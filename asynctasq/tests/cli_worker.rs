//! The `worker` command in a binary that has tasks, in-process through
//! `cli::run_from`, against the memory driver installed as the global client.
//! Its tasks are real `#[task]` functions.

mod cli_support;

use std::sync::{Arc, OnceLock};

use asynctasq::drivers::MemoryDriver;
use asynctasq::prelude::*;
use cli_support::{cell, in_process, stats_table};

#[task(name = "cli_test::succeeds")]
async fn succeeds() {}

#[task(name = "cli_test::fails")]
async fn fails(card: String) -> Result<(), Permanent> {
    Err(Permanent::new(format!("card {card} declined")))
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
    for _ in 0..2 {
        succeeds()
            .on_queue("w-burst")
            .dispatch_with(&c)
            .await
            .unwrap();
    }
    let failed = fails("4242".into())
        .on_queue("w-burst")
        .dispatch_with(&c)
        .await
        .unwrap();
    succeeds()
        .on_queue("w-elsewhere")
        .dispatch_with(&c)
        .await
        .unwrap();

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
    assert!(job.contains("    card 4242 declined\n"), "{job}");
    let stats = stats_table(&in_process(&["stats", "-q", "w-elsewhere"]).await.ok());
    assert_eq!(cell(&stats, "w-elsewhere", "READY"), "1");
}

#[tokio::test]
async fn max_jobs_stops_the_worker() {
    let c = client();
    for _ in 0..3 {
        succeeds()
            .on_queue("w-max")
            .dispatch_with(&c)
            .await
            .unwrap();
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

#[tokio::test]
async fn retain_completed_is_refused_by_a_driver_that_cannot_keep_jobs() {
    let c = client();
    succeeds()
        .on_queue("w-retain")
        .dispatch_with(&c)
        .await
        .unwrap();
    let out = in_process(&[
        "worker",
        "-q",
        "w-retain",
        "--burst",
        "--retain-completed",
        "1h",
    ])
    .await;
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(
        out.stderr
            .contains("the memory driver cannot keep completed jobs (retain_completed)"),
        "{out:#?}"
    );
    // Refused before claiming: the job is still waiting.
    let stats = stats_table(&in_process(&["stats", "-q", "w-retain"]).await.ok());
    assert_eq!(cell(&stats, "w-retain", "READY"), "1");
}
