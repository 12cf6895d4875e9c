//! The `worker` command in a binary that has tasks: run in-process through
//! `cli::run_from` against a SQLite file.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use asynctasq::__private::{HandlerFuture, JobContext, TaskFailure, TaskRegistration, inventory};
use asynctasq::core::envelope::ENVELOPE_VERSION;
use asynctasq::{Client, Envelope, JobId, RetryPolicy};

// Registered by hand, as `#[task]` would, so this test binary has tasks.
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

async fn enqueue(client: &Client, task: &str, queue: &str) -> JobId {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let envelope = Envelope {
        v: ENVELOPE_VERSION,
        id: JobId::new(),
        task: task.into(),
        queue: queue.into(),
        args: rmpv::Value::Map(vec![]),
        max_attempts: 3,
        retry: RetryPolicy::default(),
        timeout_ms: None,
        priority: 0,
        run_at: now,
        created_at: now,
        headers: BTreeMap::new(),
    };
    client
        .enqueue(std::slice::from_ref(&envelope))
        .await
        .unwrap();
    envelope.id
}

async fn run(args: &[&str]) -> String {
    let mut out = Vec::new();
    asynctasq::cli::run_from(args.iter().copied(), &mut out)
        .await
        .unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn a_burst_worker_runs_the_queue_dry_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("q.db").display());
    let client = asynctasq::connect(&url).await.unwrap();
    enqueue(&client, "cli_test::succeeds", "work").await;
    enqueue(&client, "cli_test::succeeds", "work").await;
    let failed = enqueue(&client, "cli_test::fails", "work").await;
    enqueue(&client, "cli_test::succeeds", "elsewhere").await;

    let out = run(&[
        "my-worker",
        "--url",
        &url,
        "worker",
        "--queues",
        "work",
        "--concurrency",
        "4",
        "--burst",
    ])
    .await;
    assert!(
        out.contains(&format!("connected to {url} (sqlite driver)")),
        "{out}"
    );
    assert!(out.contains("  queues: work\n"), "{out}");
    assert!(out.contains("  concurrency: 4\n"), "{out}");
    assert!(
        out.contains("  tasks: cli_test::fails, cli_test::succeeds\n"),
        "{out}"
    );
    assert!(!out.contains("Ctrl-C"), "{out}");
    assert!(
        out.ends_with("worker stopped: claimed 3, completed 2, retried 0, dead 1\n"),
        "{out}"
    );

    let job = run(&["my-worker", "--url", &url, "job", &failed.to_string()]).await;
    assert!(job.contains("state:     dead\n"), "{job}");
    assert!(job.contains("    card declined\n"), "{job}");
    let stats = run(&["my-worker", "--url", &url, "stats"]).await;
    assert!(
        stats
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["elsewhere", "1", "0", "0", "0", "no"]),
        "{stats}"
    );
}

#[tokio::test]
async fn max_jobs_stops_the_worker() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("q.db").display());
    let client = asynctasq::connect(&url).await.unwrap();
    for _ in 0..3 {
        enqueue(&client, "cli_test::succeeds", "default").await;
    }
    let out = run(&[
        "my-worker",
        "--url",
        &url,
        "worker",
        "--concurrency",
        "1",
        "--max-jobs",
        "2",
    ])
    .await;
    assert!(
        out.ends_with("worker stopped: claimed 2, completed 2, retried 0, dead 0\n"),
        "{out}"
    );
}
