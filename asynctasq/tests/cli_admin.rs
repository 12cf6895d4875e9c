//! The admin commands, black-box: the real `asynctasq` binary against a
//! SQLite file that the test fills through the client and driver APIs.

mod cli_support;

use std::path::PathBuf;
use std::time::Duration;

use asynctasq::{Client, JobId};
use cli_support::{Output, binary, cell, stats_table};

/// A temporary SQLite database and a client on it.
struct Db {
    _dir: tempfile::TempDir,
    url: String,
    client: Client,
}

impl Db {
    async fn new() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let url = url_in(&dir);
        let client = asynctasq::connect(&url).await.expect("connect to sqlite");
        Db {
            _dir: dir,
            url,
            client,
        }
    }

    /// Runs `asynctasq --url <this db> <args>`.
    async fn cli(&self, args: &[&str]) -> Output {
        let mut all = vec!["--url", self.url.as_str()];
        all.extend_from_slice(args);
        binary(&all, &[]).await
    }

    async fn enqueue(&self, task: &str, queue: &str, delay: Duration) -> JobId {
        cli_support::enqueue(&self.client, task, queue, delay).await
    }

    async fn bury(&self, queue: &str, n: usize) -> Vec<JobId> {
        cli_support::bury(&self.client, queue, n).await
    }
}

fn url_in(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("q.db").display())
}

#[tokio::test]
async fn stats_on_an_empty_database() {
    let db = Db::new().await;
    let out = db.cli(&["stats"]).await.ok();
    assert_eq!(
        out,
        "no queues yet: a queue appears when a job is dispatched to it\n"
    );
}

#[tokio::test]
async fn stats_show_enqueued_jobs() {
    let db = Db::new().await;
    for _ in 0..3 {
        db.enqueue("app::send_email", "emails", Duration::ZERO)
            .await;
    }
    db.enqueue("app::send_email", "emails", Duration::from_secs(3600))
        .await;
    db.enqueue("app::report", "default", Duration::ZERO).await;

    let out = db.cli(&["stats"]).await.ok();
    let stats = stats_table(&out);
    assert_eq!(stats.len(), 2, "{out}");
    assert_eq!(cell(&stats, "emails", "READY"), "3");
    assert_eq!(cell(&stats, "emails", "SCHEDULED"), "1");
    assert_eq!(cell(&stats, "emails", "RUNNING"), "0");
    assert_eq!(cell(&stats, "emails", "DEAD"), "0");
    assert_eq!(cell(&stats, "emails", "PAUSED"), "no");
    assert_eq!(cell(&stats, "default", "READY"), "1");

    // Columns line up: every line puts READY's last digit in the same place.
    let end = out.lines().next().unwrap().find("READY").unwrap() + "READY".len();
    for line in out.lines() {
        assert!(
            line[..end].ends_with(|c: char| c.is_ascii_alphanumeric()),
            "{out}"
        );
    }

    let out = db.cli(&["stats", "--queue", "default"]).await.ok();
    let stats = stats_table(&out);
    assert_eq!(stats.len(), 1, "{out}");
    assert!(stats.contains_key("default"));
}

#[tokio::test]
async fn the_url_can_come_from_the_environment() {
    let db = Db::new().await;
    db.enqueue("app::report", "from-env", Duration::ZERO).await;
    let out = binary(&["stats"], &[("ASYNCTASQ_URL", &db.url)]).await.ok();
    assert!(out.contains("from-env"), "{out}");
}

#[tokio::test]
async fn job_shows_one_job() {
    let db = Db::new().await;
    let id = db.enqueue("app::report", "default", Duration::ZERO).await;
    let out = db.cli(&["job", &id.to_string()]).await.ok();
    assert!(out.contains(&format!("id:        {id}\n")), "{out}");
    assert!(out.contains("task:      app::report\n"), "{out}");
    assert!(out.contains("queue:     default\n"), "{out}");
    assert!(out.contains("state:     ready\n"), "{out}");
    assert!(out.contains("attempts:  0 of 3\n"), "{out}");
    assert!(out.contains("errors:    none\n"), "{out}");

    let dead = db.bury("emails", 1).await;
    let out = db.cli(&["job", &dead[0].to_string()]).await.ok();
    assert!(out.contains("state:     dead\n"), "{out}");
    assert!(out.contains("attempts:  1 of 3\n"), "{out}");
    assert!(
        out.contains(&format!("    smtp refused {}\n", dead[0])),
        "{out}"
    );
}

#[tokio::test]
async fn bad_and_unknown_job_ids_are_explained() {
    let db = Db::new().await;
    let out = db.cli(&["job", "xyz"]).await;
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(
        out.stderr
            .contains("`xyz` is not a job id (expected a UUID like 0190f3a2-"),
        "{out:#?}"
    );

    let unknown = JobId::new().to_string();
    let out = db.cli(&["job", &unknown]).await;
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(
        out.stderr.contains(&format!("no job with id {unknown}")),
        "{out:#?}"
    );
}

#[tokio::test]
async fn dead_letter_list_retry_and_purge() {
    let db = Db::new().await;
    let ids = db.bury("emails", 5).await;
    let other = db.bury("reports", 1).await;

    // list: every dead job with its last error, newest failure first.
    let out = db.cli(&["dead", "list"]).await.ok();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ID "), "{out}");
    for col in ["TASK", "QUEUE", "ATTEMPTS", "FAILED", "LAST ERROR"] {
        assert!(lines[0].contains(col), "{out}");
    }
    assert_eq!(lines.len(), 7, "{out}");
    for id in ids.iter().chain(&other) {
        let line = lines
            .iter()
            .find(|l| l.starts_with(&id.to_string()))
            .unwrap_or_else(|| panic!("{id} missing from\n{out}"));
        assert!(line.contains("app::send_email"), "{line}");
        assert!(line.contains("1/3"), "{line}");
        assert!(line.contains("smtp refused"), "{line}");
    }

    let out = db.cli(&["dead", "list", "--queue", "reports"]).await.ok();
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.contains(&other[0].to_string()), "{out}");

    let out = db.cli(&["dead", "list", "--limit", "2"]).await.ok();
    assert_eq!(out.lines().count(), 4, "{out}");
    assert!(out.contains("pass --limit to see more"), "{out}");

    // retry one id: back to ready.
    let out = db.cli(&["dead", "retry", &ids[0].to_string()]).await.ok();
    assert_eq!(out, "requeued 1 job\n");
    let out = db.cli(&["job", &ids[0].to_string()]).await.ok();
    assert!(out.contains("state:     ready\n"), "{out}");

    // an id that is not dead is named, the command fails.
    let out = db.cli(&["dead", "retry", &ids[0].to_string()]).await;
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(
        out.stdout
            .contains(&format!("skipped {}: it is ready, not dead", ids[0])),
        "{out:#?}"
    );
    assert!(out.stdout.contains("requeued 0 jobs"), "{out:#?}");
    assert!(out.stderr.contains("`dead list`"), "{out:#?}");

    // purge one id: gone.
    let out = db.cli(&["dead", "purge", &ids[1].to_string()]).await.ok();
    assert_eq!(out, "purged 1 job\n");
    assert_eq!(db.cli(&["job", &ids[1].to_string()]).await.code, 2);

    // retry --all of one queue.
    let out = db
        .cli(&["dead", "retry", "--all", "--queue", "emails"])
        .await
        .ok();
    assert_eq!(out, "requeued 3 jobs from queue `emails`\n");
    let stats = stats_table(&db.cli(&["stats"]).await.ok());
    assert_eq!(cell(&stats, "emails", "READY"), "4");
    assert_eq!(cell(&stats, "emails", "DEAD"), "0");
    assert_eq!(cell(&stats, "reports", "DEAD"), "1");

    // purge --all.
    let out = db.cli(&["dead", "purge", "--all"]).await.ok();
    assert_eq!(out, "purged 1 job\n");
    let out = db.cli(&["dead", "list"]).await.ok();
    assert_eq!(out, "no dead jobs\n");

    // neither ids nor --all: a usage error.
    assert_eq!(db.cli(&["dead", "retry"]).await.code, 2);
    assert_eq!(db.cli(&["dead", "purge"]).await.code, 2);
}

#[tokio::test]
async fn dead_retry_all_requeues_everything() {
    let db = Db::new().await;
    db.bury("a", 2).await;
    db.bury("b", 1).await;
    let out = db.cli(&["dead", "retry", "--all"]).await.ok();
    assert_eq!(out, "requeued 3 jobs\n");
    assert_eq!(db.cli(&["dead", "list"]).await.ok(), "no dead jobs\n");
}

#[tokio::test]
async fn queue_pause_resume_and_purge() {
    let db = Db::new().await;
    db.enqueue("app::send_email", "emails", Duration::ZERO)
        .await;
    db.enqueue("app::send_email", "emails", Duration::from_secs(600))
        .await;

    let out = db.cli(&["queue", "pause", "emails"]).await.ok();
    assert!(out.starts_with("paused queue `emails`"), "{out}");
    let stats = stats_table(&db.cli(&["stats"]).await.ok());
    assert_eq!(cell(&stats, "emails", "PAUSED"), "yes");

    let out = db.cli(&["queue", "resume", "emails"]).await.ok();
    assert!(out.starts_with("resumed queue `emails`"), "{out}");
    let stats = stats_table(&db.cli(&["stats"]).await.ok());
    assert_eq!(cell(&stats, "emails", "PAUSED"), "no");

    let out = db.cli(&["queue", "purge", "emails"]).await.ok();
    assert!(
        out.starts_with("purged 2 jobs (ready and scheduled) from queue `emails`"),
        "{out}"
    );
    let out = db.cli(&["stats", "--queue", "emails"]).await.ok();
    assert!(
        out == "no jobs in queue `emails`\n" || stats_table(&out)["emails"]["READY"] == "0",
        "{out}"
    );
}

#[tokio::test]
async fn pausing_an_unknown_queue_needs_create() {
    let db = Db::new().await;
    db.enqueue("app::send_email", "emails", Duration::ZERO)
        .await;
    db.enqueue("app::report", "default", Duration::ZERO).await;

    let out = db.cli(&["queue", "pause", "emials"]).await;
    assert_eq!(out.code, 2, "{out:#?}");
    assert_eq!(
        out.stderr,
        "error: no queue named `emials`: it holds no jobs and was never paused \
         (known queues: `default`, `emails`). To pause it before its first job, \
         pass --create: `queue pause --create emials`\n",
        "{out:#?}"
    );
    let out = db.cli(&["stats"]).await.ok();
    assert!(!out.contains("emials"), "the typo created a queue:\n{out}");

    // A queue before its first job: with --create.
    let out = db
        .cli(&["queue", "pause", "--create", "reports"])
        .await
        .ok();
    assert!(out.starts_with("paused queue `reports`"), "{out}");
    let stats = stats_table(&db.cli(&["stats"]).await.ok());
    assert_eq!(cell(&stats, "reports", "PAUSED"), "yes");
    // Once paused, it is known: pausing it again needs no flag.
    db.cli(&["queue", "resume", "reports"]).await.ok();
    db.cli(&["queue", "pause", "reports"]).await.ok();

    let empty = Db::new().await;
    let out = empty.cli(&["queue", "pause", "emails"]).await;
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stderr.contains("(there are no queues yet)"), "{out:#?}");
}

#[tokio::test]
async fn dead_retry_says_what_is_known_of_a_missing_id() {
    let db = Db::new().await;
    let dead = db.bury("emails", 1).await[0];
    db.cli(&["dead", "purge", &dead.to_string()]).await.ok();
    let out = db.cli(&["dead", "retry", &dead.to_string()]).await;
    assert_eq!(out.code, 2, "{out:#?}");
    assert_eq!(
        out.stdout,
        format!(
            "skipped {dead}: it is not in this backend's database: it completed and was \
             deleted (or pruned after its retention), it was purged, or it is a job of \
             another backend\nrequeued 0 jobs\n"
        ),
        "{out:#?}"
    );
    let ready = db.enqueue("app::report", "emails", Duration::ZERO).await;
    let out = db.cli(&["dead", "retry", &ready.to_string()]).await;
    assert!(
        out.stdout
            .starts_with(&format!("skipped {ready}: it is ready, not dead\n")),
        "{out:#?}"
    );
}

/// `RUST_BACKTRACE=1` is common in development: a user error still prints
/// one message and exits with 2, without a backtrace.
#[tokio::test]
async fn user_errors_print_no_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    let url = url_in(&dir);
    let unknown = JobId::new();
    let env = [("RUST_BACKTRACE", "1"), ("RUST_LIB_BACKTRACE", "1")];
    let out = binary(&["--url", &url, "job", &unknown.to_string()], &env).await;
    assert_eq!(out.code, 2, "{out:#?}");
    assert_eq!(
        out.stderr,
        format!(
            "error: no job with id {unknown}: it is not in this backend's database: it \
             completed and was deleted (or pruned after its retention), it was purged, or \
             it is a job of another backend\n"
        ),
        "{out:#?}"
    );
    // An error with a cause: the chain, once, on one line.
    let out = binary(&["--url", "nosuch://x", "stats"], &env).await;
    assert_eq!(out.code, 2, "{out:#?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:#?}");
    assert!(
        out.stderr
            .starts_with("error: cannot connect to nosuch://x"),
        "{out:#?}"
    );
    assert!(!out.stderr.contains("backtrace"), "{out:#?}");
}

#[tokio::test]
async fn migrate_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let url = url_in(&dir);
    for _ in 0..2 {
        let out = binary(&["--url", &url, "migrate"], &[]).await.ok();
        assert_eq!(
            out,
            format!("migrated {url}: the sqlite schema is up to date\n")
        );
    }
    let out = binary(&["--url", &url, "stats"], &[]).await.ok();
    assert!(out.starts_with("no queues yet"), "{out}");
}

#[tokio::test]
async fn the_admin_binary_refuses_to_run_a_worker() {
    let dir = tempfile::tempdir().unwrap();
    let url = url_in(&dir);
    let out = binary(&["--url", &url, "worker", "--burst"], &[]).await;
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(out.stderr.contains("cannot start the worker"), "{out:#?}");
    assert!(out.stderr.contains("no tasks are registered"), "{out:#?}");
    let db: PathBuf = dir.path().join("q.db");
    assert!(
        !db.exists(),
        "the worker touched the database before failing"
    );
}

#[tokio::test]
async fn run_from_writes_to_the_given_output() {
    let db = Db::new().await;
    db.enqueue("app::report", "in-process", Duration::ZERO)
        .await;
    let mut out = Vec::new();
    asynctasq::cli::run_from(["my-worker", "--url", &db.url, "stats"], &mut out)
        .await
        .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("in-process"), "{out}");
}
