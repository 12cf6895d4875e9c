//! A worker whose tasks take sea-orm models refuses to start without a
//! models database: otherwise one bad deploy would retry and dead-letter
//! every such job. `--without-database` starts it anyway.

use std::process::{Command, Output};

fn models_worker(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_models-worker"))
        .args(["--url", url, "worker", "--queues", "models", "--burst"])
        .args(args)
        .env_remove("ASYNCTASQ_DATABASE_URL")
        .env("RUST_LOG", "warn")
        .output()
        .expect("spawn models-worker")
}

#[test]
fn a_worker_with_model_tasks_needs_a_models_database() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs.db");
    let url = format!("sqlite://{}", jobs.display());

    let out = models_worker(&url, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr,
        "error: cannot start the worker: invalid configuration: task `models.welcome` \
         (argument `user`) takes sea-orm models, which the worker fetches from its models \
         database, but it has none: pass --database-url or set ASYNCTASQ_DATABASE_URL \
         (command line), or call Worker::database(db) (code). To start without it anyway \
         (those jobs then fail, retry and go dead), pass --without-database (command line) \
         or set WorkerConfig::without_database (code)\n"
    );
    assert!(
        !jobs.exists(),
        "the worker touched the jobs database before refusing"
    );

    let out = models_worker(&url, &["--without-database"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("tasks: models.welcome"), "{stdout}");
    assert!(stdout.contains("worker stopped: claimed 0"), "{stdout}");

    let models = format!("sqlite://{}?mode=rwc", dir.path().join("app.db").display());
    let out = Command::new(env!("CARGO_BIN_EXE_models-worker"))
        .args(["--url", &url, "worker", "--queues", "models", "--burst"])
        .env("ASYNCTASQ_DATABASE_URL", &models)
        .env("RUST_LOG", "warn")
        .output()
        .expect("spawn models-worker");
    assert!(
        out.status.success(),
        "ASYNCTASQ_DATABASE_URL did not count as a models database: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
