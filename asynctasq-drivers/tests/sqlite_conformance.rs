//! The driver conformance suite on the SQLite driver.
//!
//! Every case gets a fresh database file. (One file shared by all cases is
//! not enough isolation despite the unique queue names: `rescue_expired` is
//! not per queue, so one case's rescuer can take the expired job another
//! case is about to rescue and count.)

#![cfg(feature = "sqlite")]

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime};

use asynctasq_core::Driver;
use asynctasq_drivers::SqliteDriver;

/// Where the cases' databases go: under cargo's temp dir for tests. Files
/// that earlier runs left there an hour ago or more are removed.
static DIR: LazyLock<PathBuf> = LazyLock::new(|| {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sqlite-conformance");
    std::fs::create_dir_all(&dir).expect("create the test database directory");
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age > Duration::from_secs(3600));
            if stale {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    dir
});

async fn driver() -> Arc<dyn Driver> {
    let path = DIR.join(format!("{}.db", uuid::Uuid::now_v7().simple()));
    let url = format!("sqlite://{}", path.display());
    let driver = SqliteDriver::connect(&url).await.expect("connect");
    driver.migrate().await.expect("migrate");
    Arc::new(driver)
}

asynctasq_core::conformance_tests!(driver);
