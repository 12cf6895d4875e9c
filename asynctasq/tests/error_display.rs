//! Errors carry their cause once: `{}` alone shows it, and anyhow's `{:#}`
//! and `{:?}` (which walk the source chain) do not repeat it.

use anyhow::Context as _;

/// Checks that `needle` appears exactly once in `{}`, `{:#}` and `{:?}`
/// of `err` wrapped in an anyhow context, and once in `{}` of `err` itself.
fn assert_cause_once(err: asynctasq::Error, needle: &str) {
    let plain = err.to_string();
    assert_eq!(plain.matches(needle).count(), 1, "{{}}: {plain}");
    let any = Err::<(), _>(err).context("cannot connect").unwrap_err();
    for text in [format!("{any:#}"), format!("{any:?}")] {
        assert_eq!(text.matches(needle).count(), 1, "{text}");
    }
}

#[tokio::test]
async fn a_sqlite_driver_error_shows_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/missing-dir/q.db", dir.path().display());
    let err = asynctasq::connect(&url).await.unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("sqlite driver error: "), "{text}");
    assert_cause_once(err, "unable to open database file");
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn a_redis_driver_error_shows_its_cause_once() {
    // Nothing listens on port 1.
    let err = asynctasq::connect("redis://:hunter2@127.0.0.1:1/0")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("redis driver error: cannot connect to redis://:***@127.0.0.1:1/0: "),
        "{text}"
    );
    assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
    assert_cause_once(err, "refused");
}
