//! The command line's arguments and help, without a backend.

use std::process::Command as Process;

use asynctasq::cli::{Cli, Command, DeadCommand, QueueCommand};
use clap::Parser;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("asynctasq").chain(args.iter().copied()))
}

fn error(args: &[&str]) -> String {
    parse(args).unwrap_err().render().to_string()
}

const ID: &str = "0190f3a2-7c1e-7b3a-9f4e-2d5c8b1a6e07";

#[test]
fn worker_defaults_match_the_core_defaults() {
    let Command::Worker(w) = parse(&["worker"]).unwrap().command else {
        panic!("not the worker command")
    };
    let core = asynctasq::WorkerConfig::default();
    assert_eq!(w.queues, core.queues);
    assert_eq!(w.concurrency, core.concurrency);
    assert_eq!(w.lease, core.lease);
    assert_eq!(w.grace, core.grace);
    assert_eq!(w.max_jobs, None);
    assert!(!w.burst);
    assert_eq!(w.database_pool, asynctasq::drivers::MODELS_POOL);
    assert_eq!(w.fetch_ahead, core.fetch_ahead);
}

#[test]
fn worker_flags() {
    let cli = parse(&[
        "worker",
        "--queues",
        "emails,default",
        "-q",
        "reports",
        "--concurrency",
        "50",
        "--lease",
        "2m",
        "--grace",
        "45",
        "--max-jobs",
        "1000",
        "--burst",
        "--database-pool",
        "3",
        "--fetch-ahead",
        "0",
        "--url",
        "memory://",
    ])
    .unwrap();
    assert_eq!(cli.url.as_deref(), Some("memory://"));
    let Command::Worker(w) = cli.command else {
        panic!("not the worker command")
    };
    assert_eq!(w.queues, ["emails", "default", "reports"]);
    assert_eq!(w.concurrency, 50);
    assert_eq!(w.lease.as_secs(), 120);
    assert_eq!(w.grace.as_secs(), 45);
    assert_eq!(w.max_jobs, Some(1000));
    assert!(w.burst);
    assert_eq!(w.database_pool, 3);
    assert_eq!(w.fetch_ahead, Some(0));
}

#[test]
fn worker_flags_are_checked() {
    assert!(error(&["worker", "--concurrency", "0"]).contains("must be at least 1"));
    assert!(error(&["worker", "--lease", "soon"]).contains("invalid duration `soon`"));
    assert!(error(&["worker", "--queues", "a,,b"]).contains("--queues"));
    assert!(error(&["worker", "--max-jobs", "0"]).contains("--max-jobs"));
    assert!(error(&["worker", "--database-pool", "0"]).contains("must be at least 1"));
}

#[test]
fn dead_retry_takes_ids_or_all() {
    let cli = parse(&["dead", "retry", ID, ID]).unwrap();
    let Command::Dead(DeadCommand::Retry(t)) = cli.command else {
        panic!("not dead retry")
    };
    assert_eq!(t.ids.len(), 2);
    assert_eq!(t.ids[0].to_string(), ID);
    assert!(!t.all);

    let cli = parse(&["dead", "retry", "--all", "--queue", "emails"]).unwrap();
    let Command::Dead(DeadCommand::Retry(t)) = cli.command else {
        panic!("not dead retry")
    };
    assert!(t.all && t.ids.is_empty());
    assert_eq!(t.queue.as_deref(), Some("emails"));

    let e = error(&["dead", "retry"]);
    assert!(e.contains("<ID|--all>"), "{e}");
    let e = error(&["dead", "purge", ID, "--all"]);
    assert!(e.contains("cannot be used with"), "{e}");
    let e = error(&["dead", "purge", "--queue", "emails", ID]);
    assert!(e.contains("cannot be used with"), "{e}");
    let e = error(&["dead", "purge", "--queue", "emails"]);
    assert!(e.contains("<ID|--all>"), "{e}");
}

#[test]
fn dead_list_defaults() {
    let Command::Dead(DeadCommand::List(l)) = parse(&["dead", "list"]).unwrap().command else {
        panic!("not dead list")
    };
    assert_eq!(l.limit, 50);
    assert_eq!(l.queue, None);
}

#[test]
fn stats_and_queue_commands() {
    let Command::Stats(s) = parse(&["stats", "-q", "a", "--queue", "b"])
        .unwrap()
        .command
    else {
        panic!("not stats")
    };
    assert_eq!(s.queue, ["a", "b"]);
    for (sub, check) in [
        (
            "pause",
            (|c| matches!(c, QueueCommand::Pause(q) if q.name == "emails"))
                as fn(&QueueCommand) -> bool,
        ),
        (
            "resume",
            |c| matches!(c, QueueCommand::Resume(q) if q.name == "emails"),
        ),
        (
            "purge",
            |c| matches!(c, QueueCommand::Purge(q) if q.name == "emails"),
        ),
    ] {
        let Command::Queue(q) = parse(&["queue", sub, "emails"]).unwrap().command else {
            panic!("not queue")
        };
        assert!(check(&q), "queue {sub}");
    }
    assert!(error(&["queue", "pause"]).contains("<QUEUE>"));
}

#[test]
fn a_bad_job_id_is_explained() {
    let e = error(&["job", "xyz"]);
    assert!(
        e.contains("`xyz` is not a job id (expected a UUID like 0190f3a2-"),
        "{e}"
    );
    let e = error(&["dead", "retry", ID, "nope"]);
    assert!(e.contains("`nope` is not a job id"), "{e}");
}

fn binary(args: &[&str]) -> (i32, String, String) {
    let out = Process::new(env!("CARGO_BIN_EXE_asynctasq"))
        .args(args)
        .env_remove("ASYNCTASQ_URL")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("the asynctasq binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn top_level_help_reads_well() {
    let (code, help, _) = binary(&["--help"]);
    assert_eq!(code, 0);
    for expected in [
        "Run asynctasq workers and manage their queues.",
        "Usage: asynctasq [OPTIONS] <COMMAND>",
        "worker   Run a worker",
        "stats    Show job counts per queue",
        "dead     List, requeue or delete dead jobs",
        "--url <URL>",
        "[env: ASYNCTASQ_URL]",
        "1. this flag;",
        "asynctasq::init()",
        "sqlite://asynctasq.db",
        "Examples:\n  asynctasq worker --queues emails,default --concurrency 50",
    ] {
        assert!(help.contains(expected), "missing {expected:?} in\n{help}");
    }
    assert!(help.lines().all(|l| l.len() <= 100), "{help}");
}

#[test]
fn every_command_has_help() {
    for args in [
        &["worker", "--help"][..],
        &["migrate", "--help"],
        &["stats", "--help"],
        &["job", "--help"],
        &["dead", "--help"],
        &["dead", "list", "--help"],
        &["dead", "retry", "--help"],
        &["dead", "purge", "--help"],
        &["queue", "--help"],
        &["queue", "pause", "--help"],
        &["queue", "resume", "--help"],
        &["queue", "purge", "--help"],
    ] {
        let (code, help, _) = binary(args);
        assert_eq!(code, 0, "{args:?}");
        assert!(help.contains("Usage: asynctasq"), "{args:?}:\n{help}");
        assert!(help.lines().all(|l| l.len() <= 100), "{args:?}:\n{help}");
    }
    let (_, help, _) = binary(&["dead", "--help"]);
    for expected in [
        "list   List dead jobs, newest failure first",
        "retry  Move dead jobs back to ready",
        "purge  Delete dead jobs for good",
    ] {
        assert!(help.contains(expected), "missing {expected:?} in\n{help}");
    }
}

#[test]
fn usage_errors_exit_with_2() {
    let (code, _, err) = binary(&["job", "xyz"]);
    assert_eq!(code, 2);
    assert!(err.contains("`xyz` is not a job id"), "{err}");
    let (code, _, _) = binary(&["dead", "retry"]);
    assert_eq!(code, 2);
}

#[test]
fn connection_errors_say_what_to_do_and_hide_passwords() {
    let (code, _, err) = binary(&["--url", "nosuch://admin:hunter2@db.internal/jobs", "stats"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot connect to nosuch://admin:***@db.internal/jobs"),
        "{err}"
    );
    assert!(err.contains("--url"), "{err}");
    assert!(
        err.contains("unknown url scheme `nosuch` (known: "),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");

    let out = Process::new(env!("CARGO_BIN_EXE_asynctasq"))
        .args(["stats"])
        .env("ASYNCTASQ_URL", "nosuch://x")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ASYNCTASQ_URL"), "{err}");
}

#[tokio::test]
async fn run_from_writes_help_to_the_given_output() {
    let mut out = Vec::new();
    asynctasq::cli::run_from(["my-worker", "--help"], &mut out)
        .await
        .unwrap();
    let help = String::from_utf8(out).unwrap();
    assert!(help.contains("Usage: my-worker"), "{help}");
    assert!(help.contains("my-worker dead retry --all"), "{help}");

    let err = asynctasq::cli::run_from(["my-worker", "job", "xyz"], &mut Vec::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is not a job id"), "{err}");
}

#[test]
fn an_empty_url_flag_is_refused_and_an_empty_variable_ignored() {
    let (code, _, err) = binary(&["--url", "", "stats"]);
    assert_eq!(code, 2);
    assert!(err.contains("--url is empty"), "{err}");

    let out = Process::new(env!("CARGO_BIN_EXE_asynctasq"))
        .args(["--help"])
        .env("ASYNCTASQ_URL", "")
        .output()
        .unwrap();
    assert!(out.status.success());
}
