//! Backend URLs and `ASYNCTASQ_*` variables as a user meets them: the real
//! `asynctasq` binary, run in an empty directory, given URLs without a
//! scheme, with a typo, in upper case, naming no file, and booleans and
//! numbers it must read one way or refuse.

mod cli_support;

use std::path::Path;

use std::sync::Arc;

use asynctasq::drivers::MemoryDriver;
use asynctasq::prelude::*;
use cli_support::{Output, binary_in, in_process};

#[task(name = "cli_urls::noop")]
async fn noop() {}

/// Runs `asynctasq --url <url> stats` in `dir` with `env`.
async fn stats(dir: &Path, url: &str, env: &[(&str, &str)]) -> Output {
    binary_in(dir, &["--url", url, "stats"], env).await
}

/// The files in `dir`.
fn files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test]
async fn sqlite_without_a_file_is_refused_with_the_accepted_forms() {
    let dir = tempfile::tempdir().unwrap();
    for url in [
        "sqlite://",
        "sqlite:",
        "sqlite://?mode=rwc",
        "SQLITE://?mode=memory",
    ] {
        let out = stats(dir.path(), url, &[]).await;
        assert_ne!(out.code, 0, "{url}: {out:#?}");
        assert!(
            out.stderr.contains(
                "names no database file, so every pooled connection would open its own temporary database; \
                 name a file, as in `sqlite://jobs.db`"
            ),
            "{url}: {out:#?}"
        );
        assert!(out.stderr.contains("`sqlite::memory:`"), "{url}: {out:#?}");
    }
    assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
}

#[tokio::test]
async fn schemes_are_case_insensitive() {
    let dir = tempfile::tempdir().unwrap();
    let out = stats(dir.path(), "Sqlite://shop.db", &[]).await.ok();
    assert!(out.starts_with("no queues yet"), "{out}");
    assert_eq!(
        files(dir.path()).iter().filter(|f| *f == "shop.db").count(),
        1,
        "{:?}",
        files(dir.path())
    );
    let out = stats(dir.path(), "MEMORY://", &[]).await.ok();
    assert!(out.starts_with("no queues yet"), "{out}");
}

#[tokio::test]
async fn a_url_without_a_scheme_says_so_and_shows_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = stats(dir.path(), "shop.db", &[]).await;
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(
        out.stderr.contains(
            "`shop.db` is not a backend url: it has no scheme (did you mean `sqlite://shop.db`?); \
             backend urls look like sqlite://jobs.db, postgres://user:password@localhost/app or redis://127.0.0.1:6379"
        ),
        "{out:#?}"
    );
    assert!(!out.stderr.contains("cargo feature"), "{out:#?}");

    let out = stats(dir.path(), "redis//127.0.0.1:6379", &[]).await;
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(
        out.stderr
            .contains("it has no scheme (did you mean `redis://127.0.0.1:6379`?)"),
        "{out:#?}"
    );
    assert!(!out.stderr.contains("cargo feature"), "{out:#?}");

    let out = stats(dir.path(), "app:hunter2@db.internal/jobs", &[]).await;
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(!out.stderr.contains("hunter2"), "{out:#?}");
    assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
}

#[tokio::test]
async fn an_unknown_scheme_lists_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = stats(dir.path(), "mongodb://app:hunter2@db/jobs", &[]).await;
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(
        out.stderr.contains(
            "unknown url scheme `mongodb` (known: mariadb, memory, mysql, postgres, postgresql, \
             redis, redis+cluster, rediss, rediss+cluster, sqlite)"
        ),
        "{out:#?}"
    );
    assert!(out.stderr.contains("mongodb://app:***@db/jobs"), "{out:#?}");
    assert!(!out.stderr.contains("hunter2"), "{out:#?}");
    assert!(!out.stderr.contains("cargo feature"), "{out:#?}");
}

/// Whether `dir/q.db` holds the asynctasq schema, as `stats` reports it
/// when auto-migration is off: asked with `ASYNCTASQ_AUTO_MIGRATE=0`, so
/// this look does not create it.
async fn has_schema(dir: &Path) -> bool {
    let out = stats(dir, "sqlite://q.db", &[("ASYNCTASQ_AUTO_MIGRATE", "0")]).await;
    out.code == 0
}

#[tokio::test]
async fn auto_migrate_reads_booleans_one_way() {
    for off in ["off", "FALSE", "0", "no", " Off "] {
        let dir = tempfile::tempdir().unwrap();
        let out = stats(
            dir.path(),
            "sqlite://q.db",
            &[("ASYNCTASQ_AUTO_MIGRATE", off)],
        )
        .await;
        assert_ne!(out.code, 0, "{off:?} migrated: {out:#?}");
        assert!(!has_schema(dir.path()).await, "{off:?} migrated");
    }
    for on in ["on", "TRUE", "1", "yes", ""] {
        let dir = tempfile::tempdir().unwrap();
        let out = stats(
            dir.path(),
            "sqlite://q.db",
            &[("ASYNCTASQ_AUTO_MIGRATE", on)],
        )
        .await;
        assert!(out.ok().starts_with("no queues yet"), "{on:?}");
        assert!(has_schema(dir.path()).await, "{on:?} did not migrate");
    }
}

#[tokio::test]
async fn unreadable_variables_are_errors_that_name_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = stats(
        dir.path(),
        "sqlite://q.db",
        &[("ASYNCTASQ_AUTO_MIGRATE", "maybe")],
    )
    .await;
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(
        out.stderr.contains(
            "invalid configuration: ASYNCTASQ_AUTO_MIGRATE=`maybe` is not accepted: \
             expected a boolean (true/false, 1/0, yes/no or on/off, in any case)"
        ),
        "{out:#?}"
    );
    let out = stats(
        dir.path(),
        "sqlite://q.db",
        &[("ASYNCTASQ_MAX_PAYLOAD_BYTES", "abc")],
    )
    .await;
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(
        out.stderr.contains(
            "invalid configuration: ASYNCTASQ_MAX_PAYLOAD_BYTES=`abc` is not accepted: \
             expected a whole number of bytes, such as 1048576"
        ),
        "{out:#?}"
    );
    assert!(
        files(dir.path()).is_empty(),
        "nothing was opened: {:?}",
        files(dir.path())
    );
    // The same variables without --url (the URL from the environment).
    let out = binary_in(
        dir.path(),
        &["stats"],
        &[
            ("ASYNCTASQ_URL", "memory://"),
            ("ASYNCTASQ_AUTO_MIGRATE", "nein"),
        ],
    )
    .await;
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(
        out.stderr
            .contains("ASYNCTASQ_AUTO_MIGRATE=`nein` is not accepted"),
        "{out:#?}"
    );
}

#[tokio::test]
async fn a_models_database_url_that_sea_orm_quotes_is_redacted() {
    asynctasq::set_global(Client::new(Arc::new(MemoryDriver::new()))).unwrap();
    for url in [
        "postgres://app:hunter2@db.internal:notaport/app",
        "nosuch://app:hunter2@db.internal/app",
    ] {
        let out = in_process(&[
            "worker",
            "--burst",
            "--queues",
            "urls",
            "--database-url",
            url,
        ])
        .await;
        assert_ne!(out.code, 0, "{out:#?}");
        assert!(
            out.stderr.contains("cannot connect to the models database"),
            "{out:#?}"
        );
        assert!(out.stderr.contains("app:***@db.internal"), "{out:#?}");
        assert!(
            !out.stderr.contains("hunter2") && !out.stdout.contains("hunter2"),
            "{out:#?}"
        );
    }
}
