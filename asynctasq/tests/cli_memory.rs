//! The admin commands in-process, through `cli::run_from`, against the
//! memory driver installed as the global client (as `asynctasq::init` would).
//!
//! Every test of this file shares that one store, so each uses queues of
//! its own and filters by queue.

mod cli_support;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use asynctasq::Client;
use asynctasq::drivers::MemoryDriver;
use cli_support::{Output, bury, cell, enqueue, in_process, stats_table};

/// The global client, installed once for the whole test binary.
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

async fn cli(args: &[&str]) -> Output {
    client();
    in_process(args).await
}

#[tokio::test]
async fn a_fresh_backend_has_no_queues() {
    // `--url memory://` outranks the global client and opens an empty store.
    let out = cli(&["--url", "memory://", "stats"]).await.ok();
    assert_eq!(
        out,
        "no queues yet: a queue appears when a job is dispatched to it\n"
    );
}

#[tokio::test]
async fn stats_count_jobs_by_state_and_show_pauses() {
    let c = client();
    for _ in 0..3 {
        enqueue(&c, "app::send_email", "m-stats-a", Duration::ZERO).await;
    }
    enqueue(
        &c,
        "app::send_email",
        "m-stats-a",
        Duration::from_secs(3600),
    )
    .await;
    enqueue(&c, "app::report", "m-stats-b", Duration::ZERO).await;
    bury(&c, "m-stats-b", 2).await;

    let out = cli(&["stats", "-q", "m-stats-a", "--queue", "m-stats-b"])
        .await
        .ok();
    let stats = stats_table(&out);
    assert_eq!(stats.len(), 2, "{out}");
    assert_eq!(cell(&stats, "m-stats-a", "READY"), "3");
    assert_eq!(cell(&stats, "m-stats-a", "SCHEDULED"), "1");
    assert_eq!(cell(&stats, "m-stats-b", "READY"), "1");
    assert_eq!(cell(&stats, "m-stats-b", "DEAD"), "2");
    assert_eq!(cell(&stats, "m-stats-b", "PAUSED"), "no");

    let out = cli(&["queue", "pause", "m-stats-b"]).await.ok();
    assert_eq!(
        out,
        "paused queue `m-stats-b`: workers claim none of its jobs until \
         `queue resume m-stats-b` (running jobs finish)\n"
    );
    let stats = stats_table(&cli(&["stats", "-q", "m-stats-b"]).await.ok());
    assert_eq!(cell(&stats, "m-stats-b", "PAUSED"), "yes");
    cli(&["queue", "resume", "m-stats-b"]).await.ok();
    let stats = stats_table(&cli(&["stats", "-q", "m-stats-b"]).await.ok());
    assert_eq!(cell(&stats, "m-stats-b", "PAUSED"), "no");

    let out = cli(&["queue", "purge", "m-stats-a"]).await.ok();
    assert_eq!(
        out,
        "purged 4 jobs (ready and scheduled) from queue `m-stats-a`; running and dead jobs stay\n"
    );
}

#[tokio::test]
async fn job_shows_state_attempts_and_errors() {
    let c = client();
    let ready = enqueue(&c, "app::report", "m-job", Duration::ZERO).await;
    let out = cli(&["job", &ready.to_string()]).await.ok();
    assert!(out.starts_with(&format!("id:        {ready}\n")), "{out}");
    assert!(out.contains("task:      app::report\n"), "{out}");
    assert!(out.contains("state:     ready\n"), "{out}");
    assert!(out.contains("attempts:  0 of 3\n"), "{out}");
    assert!(out.contains("errors:    none\n"), "{out}");

    let dead = bury(&c, "m-job-dead", 1).await[0];
    let out = cli(&["job", &dead.to_string()]).await.ok();
    assert!(out.contains("state:     dead\n"), "{out}");
    assert!(out.contains("attempts:  1 of 3\n"), "{out}");
    assert!(out.contains("  attempt 1, "), "{out}");
    assert!(out.contains(&format!("    smtp refused {dead}\n")), "{out}");

    let unknown = asynctasq::JobId::new();
    let out = cli(&["job", &unknown.to_string()]).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.starts_with(&format!("no job with id {unknown}")),
        "{out:#?}"
    );
    let out = cli(&["job", "xyz"]).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("`xyz` is not a job id"), "{out:#?}");
}

#[tokio::test]
async fn dead_letter_round_trip() {
    let c = client();
    let q = "m-dead";
    let ids = bury(&c, q, 5).await;

    let out = cli(&["dead", "list", "--queue", q]).await.ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 6, "{out}");
    assert!(lines[0].starts_with("ID  "), "{out}");
    for id in &ids {
        let line = lines
            .iter()
            .find(|l| l.starts_with(&id.to_string()))
            .unwrap_or_else(|| panic!("{id} missing from\n{out}"));
        assert!(line.contains("  app::send_email  m-dead  "), "{line}");
        assert!(line.contains("1/3"), "{line}");
        assert!(line.ends_with(&format!("smtp refused {id}")), "{line}");
    }
    let out = cli(&["dead", "list", "--queue", q, "-n", "2"]).await.ok();
    assert_eq!(out.lines().count(), 4, "{out}");
    assert!(out.ends_with("pass --limit to see more\n"), "{out}");

    let out = cli(&["dead", "retry", &ids[0].to_string()]).await.ok();
    assert_eq!(out, "requeued 1 job\n");
    let out = cli(&["dead", "retry", &ids[0].to_string(), &ids[2].to_string()]).await;
    assert_eq!(out.code, 2, "{out:#?}");
    assert_eq!(
        out.stdout,
        format!(
            "skipped {}: it is ready, not dead\nrequeued 1 job\n",
            ids[0]
        )
    );
    assert_eq!(
        out.stderr,
        "1 of the given ids is not a dead job; `dead list` shows the dead ones"
    );

    let out = cli(&["dead", "purge", &ids[1].to_string()]).await.ok();
    assert_eq!(out, "purged 1 job\n");
    assert_eq!(cli(&["job", &ids[1].to_string()]).await.code, 2);

    let out = cli(&["dead", "retry", "--all", "--queue", q]).await.ok();
    assert_eq!(out, "requeued 2 jobs from queue `m-dead`\n");
    let stats = stats_table(&cli(&["stats", "-q", q]).await.ok());
    assert_eq!(cell(&stats, q, "READY"), "4");
    assert_eq!(cell(&stats, q, "DEAD"), "0");

    bury(&c, "m-dead-2", 2).await;
    let out = cli(&["dead", "purge", "--all", "--queue", "m-dead-2"])
        .await
        .ok();
    assert_eq!(out, "purged 2 jobs from queue `m-dead-2`\n");
    let out = cli(&["dead", "list", "--queue", "m-dead-2"]).await.ok();
    assert_eq!(out, "no dead jobs in queue `m-dead-2`\n");
}

#[tokio::test]
async fn migrate_names_the_backend_from_the_code() {
    let out = cli(&["migrate"]).await.ok();
    assert_eq!(
        out,
        "migrated the memory backend configured in code (asynctasq::init): \
         the memory schema is up to date\n"
    );
}
