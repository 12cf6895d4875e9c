//! The driver conformance suite on the SQLite driver.
//!
//! Each case gets its own database file, as each case of the Postgres suite
//! gets its own schema: the rescuer moves time forward, so cases sharing a
//! table would rescue each other's running jobs. The files live under
//! cargo's temp dir for tests, in a directory emptied when the binary starts.

#![cfg(feature = "sqlite")]

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use asynctasq_core::Driver;
use asynctasq_drivers::SqliteDriver;

/// The directory of this run's databases; a previous run's is removed first.
static DIR: LazyLock<PathBuf> = LazyLock::new(|| {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sqlite-conformance");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the test database directory");
    dir
});

async fn driver() -> Arc<dyn Driver> {
    let file = DIR.join(format!("{}.db", uuid::Uuid::now_v7().simple()));
    let url = format!("sqlite://{}", file.display());
    let driver = SqliteDriver::connect(&url).await.expect("connect");
    driver.migrate().await.expect("migrate");
    Arc::new(driver)
}

asynctasq_core::conformance_tests!(driver);
